"""How much an open Train page slows training: the same run alone vs watched live in Chromium.

Run: python bench/page_overhead.py [--epochs 5] [--rounds 9] [--watch 15]
(--rounds 0: only the live view's CPU probe)

1. Each round trains the same preset three ways, in a rotating order so that drift on the
   machine hits all alike, and prints each one's training time (from the run store):
   - CLI: `python -m mnist_app train` in its own process, no server;
   - server: started from the Train page, which is then closed (the browser shows a blank
     page), so the run trains inside the Streamlit process with no one watching;
   - page: started from the Train page and watched live in Chromium to the end.
   Then the medians and minima of each and the slowdowns: page vs CLI (floor 5%, judged on
   the median of each round's page run against the same round's CLI run), server vs CLI (what
   training inside the server costs: its threads, the start-of-run reruns) and page vs server
   (what the open page costs: the browser, its live requests). This VM's timings wander by
   ±15-30% from run to run, so read the medians of many rounds, not one round.
2. Watches one long run for --watch seconds once it is under way and prints the CPU the browser
   took per second, and how long the server takes to answer the live view's request (what each
   watching tab asks for twice a second).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from served import CHROMIUM, CHROMIUM_ARGS  # noqa: E402  (bench/, the script's own folder)

PRESET = "chollet-512"
FLOOR = 0.05


def cli_seconds(epochs: int, home: str) -> float:
    """Train through the CLI in its own process; its training seconds."""
    out = subprocess.run(
        [sys.executable, "-m", "mnist_app", "train", "--preset", PRESET,
         "--epochs", str(epochs), "--json"],
        cwd=ROOT, env=dict(os.environ, MNIST_LAB_HOME=home), capture_output=True, text=True,
        check=True,
    )  # fmt: skip
    return float(json.loads(out.stdout.strip().splitlines()[-1])["seconds"])


def start_from_page(page, url: str, epochs: int) -> None:
    """Open the Train page on a share link to the preset with `epochs` epochs (as a teacher's
    link sets it up) and press Start. Typed into the slider with the keyboard, a key now and then
    went missing on a busy machine, and a run of 2 epochs was timed as one of 5."""
    from playwright.sync_api import expect

    page.goto(f"{url}/train?lang=en&preset={PRESET}&epochs={epochs}")
    expect(page.locator(".st-key-train_width")).to_contain_text("512", timeout=60_000)
    slider = page.locator(".st-key-train_epochs").get_by_role("slider")
    expect(slider).to_have_attribute("aria-valuetext", str(epochs))
    page.get_by_role("button", name="Start training").click()
    expect(page.locator(".st-key-train_live canvas").first).to_be_visible(timeout=60_000)


def trained_seconds(run, epochs: int) -> float:
    """A finished run's training seconds, once it is checked to have trained `epochs` epochs."""
    if len(run.history) != epochs:
        raise RuntimeError(f"run {run.id} trained {len(run.history)} epochs, not {epochs}")
    return float(run.train_seconds)


def page_seconds(page, url: str, epochs: int, home: str) -> float:
    """Start the run from the Train page and watch it live to the end; its training seconds."""
    from playwright.sync_api import expect

    start_from_page(page, url, epochs)
    expect(page.get_by_text("Training finished")).to_be_visible(timeout=30 * 60_000)
    from mnist_app.runs.store import RunStore

    run_id = page.url.split("run=")[1].split("&")[0]
    return trained_seconds(RunStore(home).get(run_id), epochs)


def served_seconds(page, url: str, epochs: int, home: str) -> float:
    """Start the run from the Train page, close the page, and wait for the run in the store."""
    from mnist_app.engine.status import RunStatus
    from mnist_app.runs.store import RunStore

    start_from_page(page, url, epochs)
    run_id = page.url.split("run=")[1].split("&")[0]
    page.goto("about:blank")
    store, deadline = RunStore(home), time.monotonic() + 30 * 60
    while (run := store.get(run_id)).status != RunStatus.FINISHED:
        if not run.status.active or time.monotonic() > deadline:
            raise RuntimeError(f"run {run_id} is {run.status}, not finished")
        time.sleep(0.25)
    return trained_seconds(run, epochs)  # the run as last read, finished


def live_view_cost(page, url: str, seconds: float) -> dict:
    """A run under way, watched live: the browser's CPU per second, the live API's answer time."""
    start_from_page(page, url, 100)
    run_id = page.url.split("run=")[1].split("&")[0]
    time.sleep(3)  # past the page's own redraw after Start
    before = _cpu(chromium_pids())
    time.sleep(seconds)
    browser = (_cpu(chromium_pids()) - before) / seconds
    answers = []
    for _ in range(40):
        started = time.perf_counter()
        with urllib.request.urlopen(f"{url}/api/runs/{run_id}/live?lang=en") as reply:
            size = len(reply.read())
        answers.append(time.perf_counter() - started)
    return {"browser": browser, "answer": statistics.median(answers), "bytes": size}


def _cpu(pids: list[int]) -> float:
    """User + system CPU seconds used so far by these processes."""
    return sum(_stat_cpu(Path(f"/proc/{pid}/stat")) for pid in pids)


def _stat_cpu(stat: Path) -> float:
    try:
        fields = stat.read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def chromium_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if b"chromium" in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--watch", type=float, default=15.0, help="seconds of the CPU probe")
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="mnist-lab-bench-")
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true",
         "--server.fileWatcherType", "none"],
        cwd=ROOT, env=dict(os.environ, MNIST_LAB_HOME=home),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    arms = {"CLI": [], "server": [], "page": []}
    try:
        _wait_healthy(url)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page_seconds(page, url, 1, home)  # warm-up: imports, data, first-call tracing
            train = {
                "CLI": lambda: cli_seconds(args.epochs, home),
                "server": lambda: served_seconds(page, url, args.epochs, home),
                "page": lambda: page_seconds(page, url, args.epochs, home),
            }
            names = list(arms)
            for i in range(args.rounds):
                for name in names[i % 3 :] + names[: i % 3]:  # each arm first every third round
                    arms[name].append(train[name]())
                print(f"  round {i + 1}: " + "   ".join(
                    f"{name} {arms[name][-1]:6.2f} s" for name in names), flush=True)  # fmt: skip
            if args.rounds:
                report(arms, args)
            cost = live_view_cost(page, url, args.watch)  # the server is killed under it below
            browser.close()
    finally:
        server.kill()
        server.wait(timeout=30)
    print(
        f"live view of a run under way ({args.watch:.0f} s): browser {cost['browser']:.3f} core; "
        f"the live API answers in {cost['answer'] * 1000:.1f} ms (median of 40, "
        f"{cost['bytes'] / 1024:.0f} KB), asked twice a second per watching tab"
    )


def report(arms: dict[str, list[float]], args: argparse.Namespace) -> None:
    median = {name: statistics.median(times) for name, times in arms.items()}
    best = {name: min(times) for name, times in arms.items()}
    print(f"{PRESET}, {args.epochs} epochs on all 60,000 images, {args.rounds} rounds")
    print(f"engine alone (CLI):              median {median['CLI']:6.2f} s   "
          f"best {best['CLI']:6.2f} s")  # fmt: skip
    print(f"in the server, no page open:     median {median['server']:6.2f} s   "
          f"best {best['server']:6.2f} s")  # fmt: skip
    print(f"Train page open in Chromium:     median {median['page']:6.2f} s   "
          f"best {best['page']:6.2f} s")  # fmt: skip
    # Each round's page run against its own CLI run, then the median of those: the machine's
    # drift (here 30-50% within minutes) moves both runs of a round alike and cancels out.
    rounds = sorted(page / cli - 1 for page, cli in zip(arms["page"], arms["CLI"], strict=True))
    slowdown = statistics.median(rounds)
    verdict = "OK" if slowdown <= FLOOR else "OVER the floor"
    print(f"slowdown, page vs CLI: {slowdown:+.1%}, the median of the rounds' own (floor "
          f"{FLOOR:.0%}: {verdict}; they range {rounds[0]:+.1%} to {rounds[-1]:+.1%}); "
          f"{median['page'] / median['CLI'] - 1:+.1%} of the medians, best vs best "
          f"{best['page'] / best['CLI'] - 1:+.1%}")  # fmt: skip
    print(f"  training inside the server (server vs CLI): "
          f"{median['server'] / median['CLI'] - 1:+.1%}")  # fmt: skip
    print(f"  the open page (page vs server):             "
          f"{median['page'] / median['server'] - 1:+.1%}", flush=True)  # fmt: skip


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:
                if reply.read() == b"ok":
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("streamlit did not start")


if __name__ == "__main__":
    main()
