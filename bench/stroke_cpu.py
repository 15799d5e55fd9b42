"""The server's CPU for one Draw-page event (a stroke, or a canvas reset), with a real browser.

Usage: python bench/stroke_cpu.py [--digits 12] [--rounds 3]
Starts the app as the browser tests do, opens /draw in headless Chromium with the shipped model
and draws --digits digits stroke by stroke (1, 7, 4 in one stroke each, and a 7 as a 1 and its
bar), pressing the canvas's "Reset canvas & history" before each. Each digit is drawn a few
pixels away from every other (served.shifted), as no student sends the same drawing twice.
Every event is waited for until the server has finished the script run it asked for (the
`script_finished` messages on the page's websocket), and each digit's reading is checked. The
server's CPU time (user + system, its children included, from /proc/PID/stat) is read after the
page has loaded and read a first digit, around every event, and after the last one: the page
load is not counted. Prints, per round, ms of server CPU per event (and per stroke, per reset),
the bytes the browser sent and received per event and the server's resident memory; then the
medians over the rounds.
Target: <= 10 ms per event.

An idle server spends CPU too (uvicorn's main loop wakes ten times a second: 2-3 ms of CPU a
second here), and an event takes ~0.5 s of waiting: so each round also reads the server's idle
CPU for IDLE_SECONDS with the page open, and prints the events' CPU above that idle rate. The
idle rate is read to the nanosecond from each thread's /proc/PID/task/TID/schedstat (no script
runs then, so no thread ends in the window): /proc/PID/stat counts in 10 ms ticks, which over a
few seconds read 0 or 3.3 ms a second.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from served import (  # noqa: E402
    CANVAS,
    READING,
    STROKES,
    chromium,
    cpu_seconds,
    draw_stroke,
    resident_mb,
    served_app,
    shifted,
)

TARGET_MS = 10
IDLE_SECONDS = 3
RESET = "Reset canvas & history"
BAR = [(0.2, 0.16), (0.52, 0.15)]  # a bar on top turns a 1 into a 7
DIGITS = [(digit, [stroke]) for digit, stroke in STROKES.items()] + [("7", [STROKES["1"], BAR])]


def thread_cpu_ns(pid: int) -> dict[str, int]:
    """Each thread's CPU time so far in nanoseconds (/proc/PID/task/TID/schedstat's first
    field), by thread id."""
    spent = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            spent[task.name] = int((task / "schedstat").read_text().split()[0])
        except (OSError, IndexError, ValueError):  # the thread ended meanwhile
            continue
    return spent


class Wire:
    """The page's websocket traffic: bytes each way, rerun requests, finished script runs and
    whether a script is running (the server may fold a request into the run under way)."""

    def __init__(self, page):
        self.sent = self.received = self.reruns = self.finished = 0
        self.running = False
        page.on("websocket", lambda socket: self.watch(socket))

    def watch(self, socket) -> None:
        socket.on("framesent", self.on_sent)
        socket.on("framereceived", self.on_received)

    def on_sent(self, payload: str | bytes) -> None:
        from streamlit.proto.BackMsg_pb2 import BackMsg

        self.sent += len(payload)
        if isinstance(payload, bytes) and BackMsg.FromString(payload).HasField("rerun_script"):
            self.reruns += 1
            self.running = True

    def on_received(self, payload: str | bytes) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        self.received += len(payload)
        if not isinstance(payload, bytes):
            return
        message = ForwardMsg.FromString(payload)
        if message.HasField("script_finished"):
            self.finished += 1
        elif message.HasField("session_status_changed"):
            self.running = message.session_status_changed.script_is_running

    def settle(self, page, asked: int, finished: int) -> None:
        """Wait until the browser has asked for a rerun since `asked`, a run has finished since
        `finished`, no script is running, and nothing more was asked for 300 ms."""
        deadline = time.monotonic() + 30
        quiet_since, last = None, None
        while time.monotonic() < deadline:
            page.wait_for_timeout(20)
            done = self.reruns > asked and self.finished > finished and not self.running
            if not done or self.reruns != last or quiet_since is None:
                quiet_since, last = (time.monotonic() if done else None), self.reruns
            elif time.monotonic() - quiet_since >= 0.3:
                return
        raise TimeoutError(
            f"the server did not finish the event's script run ({self.reruns - asked} asked, "
            f"{self.finished - finished} finished, running: {self.running})"
        )


def draw_digit(page, wire: Wire, pid: int, digit: str, strokes: list) -> dict[str, list]:
    """Reset the canvas, draw `digit` stroke by stroke, check its reading; each event's server
    CPU seconds (to a clock tick), by kind."""
    from playwright.sync_api import expect

    spent = {"reset": [], "stroke": []}
    asked, finished, cpu = wire.reruns, wire.finished, cpu_seconds(pid)
    page.get_by_role("button", name=RESET).click()
    wire.settle(page, asked, finished)
    spent["reset"].append(cpu_seconds(pid) - cpu)
    expect(page.locator(READING)).to_have_count(0)
    for stroke in strokes:
        asked, finished, cpu = wire.reruns, wire.finished, cpu_seconds(pid)
        draw_stroke(page, stroke)
        wire.settle(page, asked, finished)
        spent["stroke"].append(cpu_seconds(pid) - cpu)
    expect(page.locator(READING)).to_have_text(digit)
    return spent


def one_round(browser, url: str, pid: int, digits: int, first: int = 0) -> dict:
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    wire = Wire(page)
    page.goto(f"{url}/draw?lang=en")
    expect(page.locator(CANVAS)).to_be_visible(timeout=60_000)
    draw_stroke(page, STROKES["1"])  # warm-up: the page's first reading, not counted
    expect(page.locator(READING)).to_have_text("1", timeout=30_000)
    page.wait_for_timeout(500)
    before, start = thread_cpu_ns(pid), time.monotonic()
    page.wait_for_timeout(1000 * IDLE_SECONDS)
    after = thread_cpu_ns(pid)
    spent_ns = sum(ns - before.get(tid, 0) for tid, ns in after.items())  # a new thread from 0
    idle = spent_ns / 1e9 / (time.monotonic() - start)  # CPU seconds a second
    cpu, sent, received, reruns = cpu_seconds(pid), wire.sent, wire.received, wire.reruns
    start = time.monotonic()
    kinds = {"reset": [], "stroke": []}
    for i in range(digits):
        digit, strokes = DIGITS[i % len(DIGITS)]
        strokes = shifted(strokes, first + i)  # no drawing sent twice (served.shifted)
        for kind, spent in draw_digit(page, wire, pid, digit, strokes).items():
            kinds[kind] += spent
    spent, wall = cpu_seconds(pid) - cpu, time.monotonic() - start
    events = sum(len(spent) for spent in kinds.values())
    result = {
        "events": events,
        "cpu_ms": 1000 * spent / events,
        "above_idle_ms": 1000 * (spent - idle * wall) / events,
        "idle_ms_per_s": 1000 * idle,
        "stroke_ms": 1000 * sum(kinds["stroke"]) / len(kinds["stroke"]),
        "reset_ms": 1000 * sum(kinds["reset"]) / len(kinds["reset"]),
        "sent_kb": (wire.sent - sent) / events / 1000,
        "received_kb": (wire.received - received) / events / 1000,
        "reruns": (wire.reruns - reruns) / events,
        "rss_mb": resident_mb(pid),
    }
    page.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--digits", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"load average: {os.getloadavg()[0]:.2f} (1 min), {os.cpu_count()} cores", flush=True)
    server, results = [], []
    with served_app(process=server) as url, chromium() as browser:
        pid = server[0].pid
        for i in range(args.rounds):
            results.append(one_round(browser, url, pid, args.digits, first=i * args.digits))
            r = results[-1]
            print(f"round {i + 1}: {r['cpu_ms']:5.1f} ms server CPU per event, "
                  f"{r['above_idle_ms']:.1f} ms above idle ({r['idle_ms_per_s']:.1f} ms a "
                  f"second) ({r['events']} events, {r['reruns']:.2f} reruns each; a stroke "
                  f"{r['stroke_ms']:.1f} ms, a reset {r['reset_ms']:.1f} ms), sent "
                  f"{r['sent_kb']:.1f} kB, received {r['received_kb']:.1f} kB per event, "
                  f"resident {r['rss_mb']:.0f} MB", flush=True)  # fmt: skip
    cpu = statistics.median(r["cpu_ms"] for r in results)
    above = statistics.median(r["above_idle_ms"] for r in results)
    stroke = statistics.median(r["stroke_ms"] for r in results)
    reset = statistics.median(r["reset_ms"] for r in results)
    sent = statistics.median(r["sent_kb"] for r in results)
    received = statistics.median(r["received_kb"] for r in results)
    print(f"median of {args.rounds} rounds: {cpu:.1f} ms server CPU per event (target "
          f"{TARGET_MS}: {'ok' if cpu <= TARGET_MS else 'MISSED'}; {above:.1f} ms above idle; "
          f"a stroke {stroke:.1f} ms, a reset {reset:.1f} ms), sent {sent:.1f} kB, received "
          f"{received:.1f} kB per event, resident {results[-1]['rss_mb']:.0f} MB")  # fmt: skip


if __name__ == "__main__":
    main()
