"""What the browser benchmarks share: the app served as tests/conftest.py serves it, headless
Chromium, and a digit drawn on the Draw page's canvas with the mouse."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
CANVAS = "canvas.upper-canvas"
READING = '.st-key-draw_reading [data-testid="stMetricValue"]'
# Single-stroke digits, every point in a 0..1 square (as tests/test_browser_draw.py draws them).
STROKES = {
    "1": [(0.52, 0.15), (0.5, 0.85)],
    "7": [(0.25, 0.2), (0.75, 0.2), (0.45, 0.85)],
    "4": [(0.6, 0.85), (0.6, 0.15), (0.2, 0.6), (0.8, 0.6)],
}


def shifted(strokes: list, n: int) -> list:
    """The strokes moved a few pixels, differently for each n below 65, and never by nothing
    (as a warm-up draws them). A person never draws the same digit twice to the pixel, and the
    server keeps its last few canvas values decoded (mnist_app.drawing.uploads): a bench that
    drew the same strokes again would time cache hits, not a student's strokes."""
    dx, dy = (n % 13 - 6) * 0.008, (n // 13 % 5 - 2) * 0.008 + 0.004
    return [[(x + dx, y + dy) for x, y in stroke] for stroke in strokes]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch_app(port: int, home: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """`streamlit run app.py` with the options of tests/conftest.py's serve_app; `env`, extra
    environment variables."""
    return subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true",
         "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=dict(os.environ, **(env or {}), MNIST_LAB_HOME=home),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def wait_healthy(url: str, server: subprocess.Popen, pause: float = 0.05) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and server.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:
                if reply.read() == b"ok":
                    return
        except OSError:
            time.sleep(pause)
    raise RuntimeError("streamlit did not start")


@contextlib.contextmanager
def served_app(
    env: dict[str, str] | None = None, process: list | None = None, home: str | None = None
):
    """The app on a free port with a fresh run store (or `home`'s); yields its URL. `process`,
    if given, receives the server's Popen (to read its memory)."""
    port = free_port()
    server = launch_app(port, home or tempfile.mkdtemp(prefix="mnist-lab-bench-"), env)
    if process is not None:
        process.append(server)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, server)
        yield url
    finally:
        stop(server)


def stop(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


@contextlib.contextmanager
def chromium():
    """Headless Chromium (Debian's), driven by Playwright; yields the browser."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def draw_stroke(page, stroke: list[tuple[float, float]]) -> None:
    """Press, move along the points and release the mouse over the canvas, as a person would."""
    box = page.locator(CANVAS).bounding_box()
    points = [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in stroke]
    page.mouse.move(*points[0])
    page.mouse.down()
    for point in points[1:]:
        page.mouse.move(*point, steps=6)
    page.mouse.up()


def cpu_seconds(pid: int) -> float:
    """A process's user + system CPU time so far, all its threads and its waited-for children
    included (a Streamlit server has none), from /proc/PID/stat."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()  # after "pid (name) ": state is field 3
    return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def resident_mb(pid: int) -> float:
    """A process's resident memory (VmRSS) in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")
