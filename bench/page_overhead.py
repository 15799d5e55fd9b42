"""How much an open Train page slows training: the same run alone vs watched live in Chromium.

Run: python bench/page_overhead.py [--epochs 2]
Prints both training times (from the run store) and the slowdown; the floor is 5%.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CHROMIUM = "/usr/bin/chromium"
PRESET = "chollet-512"
FLOOR = 0.05


def engine_alone(epochs: int, home: str) -> float:
    """Train through the CLI in its own process; its train_seconds."""
    out = subprocess.run(
        [sys.executable, "-m", "mnist_app", "train", "--preset", PRESET,
         "--epochs", str(epochs), "--json"],
        cwd=ROOT, env=dict(os.environ, MNIST_LAB_HOME=home), capture_output=True, text=True,
        check=True,
    )  # fmt: skip
    return float(json.loads(out.stdout.strip().splitlines()[-1])["seconds"])


def watched_live(epochs: int, home: str) -> float:
    """Start the same run from the Train page in headless Chromium and watch it to the end."""
    from playwright.sync_api import expect, sync_playwright

    from mnist_app.store import RunStore

    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true"],
        cwd=ROOT, env=dict(os.environ, MNIST_LAB_HOME=home),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
            )
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{url}/?lang=en")
            expect(page.get_by_role("heading", name="MNIST Lab")).to_be_visible(timeout=60_000)
            page.goto(f"{url}/train?lang=en")
            page.locator(".st-key-train_preset").get_by_role("combobox").click()
            page.get_by_role("option", name=PRESET).click()
            expect(page.locator(".st-key-train_width")).to_contain_text("512", timeout=60_000)
            slider = page.locator(".st-key-train_epochs").get_by_role("slider")
            slider.focus()
            page.keyboard.press("Home")
            for _ in range(epochs - 1):
                page.keyboard.press("ArrowRight")
            expect(page.locator(".st-key-train_epochs")).to_contain_text(str(epochs))
            page.get_by_role("button", name="Start training").click()
            expect(page.locator(".st-key-train_live")).to_be_visible(timeout=60_000)
            finished = page.get_by_text("Training finished")
            expect(finished).to_be_visible(timeout=30 * 60_000)
            run_id = page.url.split("run=")[1].split("&")[0]
            browser.close()
        return float(RunStore(home).get(run_id)["train_seconds"])
    finally:
        server.terminate()
        server.wait(timeout=30)


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as alone_home, tempfile.TemporaryDirectory() as page_home:
        alone = engine_alone(args.epochs, alone_home)
        watched = watched_live(args.epochs, page_home)
    slowdown = watched / alone - 1
    print(f"{PRESET}, {args.epochs} epochs, all 60,000 images")
    print(f"engine alone (CLI):          {alone:7.2f} s")
    print(f"Train page open in Chromium: {watched:7.2f} s")
    verdict = "OK" if slowdown <= FLOOR else "OVER the floor"
    print(f"slowdown: {slowdown:+.1%} (floor {FLOOR:.0%}: {verdict})")


if __name__ == "__main__":
    main()
