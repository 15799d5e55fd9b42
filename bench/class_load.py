"""A class drawing at once: N students on one replica's Draw page while two runs train on it.

Usage: python bench/class_load.py [--students 10 20 30] [--digits 5]

Starts one replica (MNIST_LAB_MAX_TRAININGS=2) and, in headless Chromium, a teacher's two tabs
that start two long runs from the Train page; then, for each class size, that many students,
each in a browser context of their own (their own Streamlit session), all drawing single-stroke
digits with the mouse at the same time. Each student's page times every digit from the mouse
button's release to the reading painted (as bench/draw_latency.py does), after pressing "Reset
canvas & history". Prints per class size: stroke → reading p50/p95, errors (a digit that never
got its reading in 30 s, a page error), and the server's memory per session (its resident size
with the class connected, less before, over the students). Floor: 30 students p95 <= 500 ms
with 0 errors.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from draw_latency import ARM  # noqa: E402
from served import CANVAS, CHROMIUM, CHROMIUM_ARGS, READING, STROKES, served_app  # noqa: E402

P95_FLOOR = 500  # ms, 30 students
TIMEOUT = 30_000  # ms


def rss_mb(pid: int) -> float:
    """A process's resident memory, children included (Streamlit runs in one process)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def draw(page, stroke) -> None:
    box = await page.locator(CANVAS).bounding_box()
    points = [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in stroke]
    await page.mouse.move(*points[0])
    await page.mouse.down()
    for point in points[1:]:
        await page.mouse.move(*point, steps=6)
    await page.mouse.up()


async def start_long_run(browser, url: str):
    """A teacher's tab starting a 200-epoch run on the Train page (stopped at the end)."""
    from playwright.async_api import expect

    page = await browser.new_page(viewport={"width": 1400, "height": 1000})
    await page.goto(f"{url}/?lang=en")
    await page.get_by_role("heading", name="MNIST Lab").wait_for(timeout=90_000)
    await page.goto(f"{url}/train?lang=en")
    start = page.get_by_role("button", name="Start training")
    await start.wait_for(timeout=90_000)
    await page.locator(".st-key-train_epochs").get_by_role("slider").focus()
    await page.keyboard.press("End")
    await expect(page.locator(".st-key-train_epochs")).to_contain_text("200", timeout=30_000)
    await start.click()
    status = page.locator(".st-key-train_live .status")
    await expect(status).to_contain_text(re.compile(r"^Epoch "), timeout=90_000)
    return page


async def student(browser, url: str, digits: int, ready: asyncio.Barrier) -> tuple[list, int]:
    """One student: open the Draw page, wait for the class, then draw; (ms per digit, errors)."""
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(error))
    spent = []
    try:
        await page.goto(f"{url}/draw?lang=en", timeout=120_000)
        await page.locator(CANVAS).wait_for(timeout=120_000)
        await ready.wait()
        order = list(STROKES.values())
        for i in range(digits + 1):  # the first is a warm-up, not counted
            try:
                await page.get_by_role("button", name="Reset canvas & history").click()
                await page.locator(READING).wait_for(state="detached", timeout=TIMEOUT)
                await page.evaluate(ARM, READING)
                await draw(page, order[i % len(order)])
                await page.wait_for_function("window.__shown !== null", timeout=TIMEOUT,
                                             polling=50)  # fmt: skip
                if i:
                    spent.append(await page.evaluate("window.__shown - window.__up"))
            except Exception as error:  # a reading that never came: counted, the class goes on
                errors.append(error)
    finally:
        await context.close()
    return spent, len(errors)


async def main_async(students: list[int], digits: int) -> None:
    from playwright.async_api import async_playwright

    process: list = []
    with served_app(env={"MNIST_LAB_MAX_TRAININGS": "2"}, process=process) as url:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM,
                                                       args=CHROMIUM_ARGS)  # fmt: skip
            teachers = [await start_long_run(browser, url) for _ in range(2)]
            print(f"two runs training on the replica; {digits} digits per student", flush=True)
            for n in students:
                before = rss_mb(process[0].pid)
                ready = asyncio.Barrier(n + 1)
                tasks = [asyncio.create_task(student(browser, url, digits, ready))
                         for _ in range(n)]  # fmt: skip
                await ready.wait()
                during = rss_mb(process[0].pid)
                results = await asyncio.gather(*tasks)
                ms = np.array([m for spent, _ in results for m in spent])
                errors = sum(e for _, e in results)
                p50, p95 = np.percentile(ms, [50, 95]) if len(ms) else (float("nan"),) * 2
                print(f"{n:3d} students: stroke → reading p50 {p50:5.0f} ms  p95 {p95:5.0f} ms  "
                      f"({len(ms)} digits)  errors {errors}  server memory "
                      f"{(during - before) / n:.1f} MB per session ({during:.0f} MB in all)",
                      flush=True)  # fmt: skip
                if n == 30:
                    ok = p95 <= P95_FLOOR and errors == 0
                    print(f"floor (30 students p95 <= {P95_FLOOR} ms, 0 errors): "
                          f"{'ok' if ok else 'MISSED'}")  # fmt: skip
            for page in teachers:  # the runs end with the server anyway
                with contextlib.suppress(Exception):
                    await page.get_by_role("button", name="Stop").click(timeout=5_000)
            await browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, nargs="+", default=[10, 20, 30])
    parser.add_argument("--digits", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main_async(args.students, args.digits))


if __name__ == "__main__":
    main()
