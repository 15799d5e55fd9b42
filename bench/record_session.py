"""Record a real Chromium session on the Draw page, for the students simulated at the wire.

Usage: python bench/record_session.py [--out bench/sessions/draw.json]

Serves the app as the browser benchmarks do, opens /draw?lang=en in headless Chromium and draws
ten digits with the mouse, stroke by stroke (bench/handwriting.py's pen-stroke forms: 0 to 9, a
4 and a 7 in two strokes), pausing between strokes as a person would and pressing "Reset canvas &
history" after each digit. Every BackMsg the browser sends on the websocket /_stcore/stream is
kept with its time, what it is (page load, the student-id component's report, stroke, reset) and,
for a stroke, the reading the page showed once its script run ended. Re-record when the Draw
page changes (bench/wire.py replays it; tests/test_wire_students.py checks the replay).
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import streamlit  # noqa: E402
from handwriting import TEMPLATES  # noqa: E402
from served import CANVAS, READING, chromium, draw_stroke, served_app  # noqa: E402
from streamlit.proto.BackMsg_pb2 import BackMsg  # noqa: E402
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg  # noqa: E402
from wire import OWNER_WIDGET, SESSION, frame_kind  # noqa: E402

FORMS = ["0", "1 plain", "2", "3", "4 closed", "5", "6", "7 crossed", "8", "9 straight tail"]
BETWEEN_STROKES = 0.6  # s, a person lifting the pen and putting it down again
BEFORE_RESET = 1.0  # s, looking at the reading


def inset(stroke: list) -> list[tuple[float, float]]:
    """A template's stroke in the middle 80% of the canvas, where a student draws."""
    return [(0.1 + 0.8 * x, 0.1 + 0.8 * y) for x, y in stroke]


class Wire:
    """The page's websocket, as Playwright sees it: BackMsgs sent, script runs ended."""

    def __init__(self) -> None:
        self.sent: list[tuple[float, bytes]] = []
        self.ended = 0
        self.start = time.monotonic()

    def watch(self, socket) -> None:
        if socket.url.endswith("/_stcore/stream"):
            socket.on("framesent", self._sent)
            socket.on("framereceived", self._received)

    def _sent(self, payload) -> None:
        self.sent.append((time.monotonic() - self.start, payload))

    def _received(self, payload) -> None:
        message = ForwardMsg()
        message.ParseFromString(payload)
        if message.WhichOneof("type") == "script_finished":
            self.ended += 1

    def mark(self) -> tuple[int, int]:
        return len(self.sent), self.ended

    def wait_run(self, page, mark: tuple[int, int]) -> None:
        """Until a BackMsg has gone since `mark` and the script run it started ended."""
        sent_before, ended = mark
        deadline = time.monotonic() + 60
        while len(self.sent) <= sent_before:
            page.wait_for_timeout(10)
            if time.monotonic() > deadline:
                raise RuntimeError("the stroke was never sent")
        while self.ended == ended:
            page.wait_for_timeout(10)
            if time.monotonic() > deadline:
                raise RuntimeError("the stroke's script run never ended")


def record(url: str, browser) -> dict:
    from playwright.sync_api import expect

    wire = Wire()
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.on("websocket", wire.watch)
    page.goto(f"{url}/draw?lang=en")
    expect(page.locator(CANVAS)).to_be_visible(timeout=60_000)
    page.wait_for_timeout(1500)  # the student-id component's report and its run
    notes: dict[int, dict] = {}  # what each sent frame was, by its index
    for form in FORMS:
        digit = form[0]
        for stroke in TEMPLATES[int(digit)][form]:
            mark = wire.mark()
            draw_stroke(page, inset(stroke))
            wire.wait_run(page, mark)
            shown = page.locator(READING)
            expect(shown).to_be_visible(timeout=30_000)  # the first one takes a while
            page.wait_for_timeout(300)  # the run's deltas painted
            reading = shown.inner_text()
            notes[len(wire.sent) - 1] = {"digit": digit, "reading": reading}
            print(f"{form:16s} stroke → reading {reading}", flush=True)
            page.wait_for_timeout(BETWEEN_STROKES * 1000)
        page.wait_for_timeout(BEFORE_RESET * 1000)
        mark = wire.mark()
        page.get_by_role("button", name="Reset canvas & history").click()
        expect(page.locator(READING)).to_have_count(0, timeout=30_000)
        wire.wait_run(page, mark)
        notes[len(wire.sent) - 1] = {"digit": digit}
    page.close()
    return session_data(url, wire.sent, notes)


def session_data(url: str, sent: list[tuple[float, bytes]], notes: dict[int, dict]) -> dict:
    frames, owner = [], None
    for i, (t, payload) in enumerate(sent):
        message = BackMsg()
        message.ParseFromString(payload)
        kind = frame_kind(message, owner is not None)
        if kind == "owner":
            widget = next(
                w for w in message.rerun_script.widget_states.widgets if w.id.endswith(OWNER_WIDGET)
            )
            owner = json.loads(widget.json_value)["owner"]
        frames.append({"t": round(t - sent[0][0], 3), "kind": kind, **notes.get(i, {}),
                       "frame": base64.b64encode(payload).decode()})  # fmt: skip
    return {
        "what": "BackMsgs sent by headless Chromium on the Draw page (bench/record_session.py)",
        "streamlit": streamlit.__version__,
        "origin": url,
        "owner": owner,
        "frames": frames,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=SESSION)
    args = parser.parse_args()
    with served_app() as url, chromium() as browser:
        data = record(url, browser)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    kinds = [f["kind"] for f in data["frames"]]
    counts = ", ".join(f"{kinds.count(k)} {k}" for k in dict.fromkeys(kinds))
    print(f"{len(kinds)} frames ({counts}) → {args.out}")


if __name__ == "__main__":
    main()
