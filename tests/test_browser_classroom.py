"""In Chromium: a shared settings link, and projector mode read from the back of the room."""

import re
from pathlib import Path

import pytest
from browsing import settled
from playwright.sync_api import expect

from mnist_app.engine.config import RunConfig
from mnist_app.engine.status import RunStatus
from mnist_app.runs.jobs import TrainingManager
from mnist_app.runs.store import RunStore

pytestmark = pytest.mark.browser

TIMEOUT = 60_000  # ms; the machine is shared, so be patient but never sleep blindly
TINY = RunConfig(limit=300, epochs=2, validation_size=100, batch_size=64, width=32)
SMALLEST_FONT = 18  # px: what projector mode promises for every number and label


@pytest.fixture(scope="module")
def served(start_app):
    with start_app() as (url, home):
        yield url, TrainingManager(RunStore(home))


def font_sizes(page, selector: str) -> list[float]:
    return page.eval_on_selector_all(
        selector, "els => els.map(e => parseFloat(getComputedStyle(e).fontSize))"
    )


def test_a_shared_link_fills_the_settings_and_says_what_it_refused(served, page):
    url, _ = served
    page.goto(f"{url}/?lang=en")  # the home page first, so the router is in place
    expect(page.get_by_role("heading", name="MNIST Lab")).to_be_visible(timeout=TIMEOUT)
    page.goto(f"{url}/train?lang=en&preset=dnn-50-50&learning_rate=0.02&width=0")
    expect(page.get_by_text("The link's Width")).to_be_visible(timeout=TIMEOUT)
    page.get_by_role("button", name="Share these settings").click()
    link = page.get_by_test_id("stPopoverBody").get_by_test_id("stCode")  # not the code panel's
    expect(link).to_contain_text("preset=dnn-50-50", timeout=TIMEOUT)
    expect(link).to_contain_text("learning_rate=0.02")
    expect(link).not_to_contain_text("width")  # refused, so not passed on
    assert link.inner_text().startswith(f"{url}/train?")  # a whole link, ready to paste
    page.reload()  # the settings are in the address bar: a reload keeps them
    page.get_by_role("button", name="Share these settings").click()
    expect(link).to_contain_text("learning_rate=0.02", timeout=TIMEOUT)


def test_projector_mode_keeps_the_demo_settings_and_draws_everything_large(served, page, tmp_path):
    url, manager = served
    finished = manager.submit(TINY)
    assert manager.wait(finished, timeout=120).status is RunStatus.FINISHED
    page.goto(f"{url}/?lang=en")
    expect(page.get_by_role("heading", name="MNIST Lab")).to_be_visible(timeout=TIMEOUT)
    page.goto(f"{url}/train?lang=en&present=1&run={finished}")
    expect(page.locator(".xtick text").first).to_be_visible(timeout=TIMEOUT)
    expect(page.get_by_test_id("stSidebar")).to_be_hidden()
    # The settings a hyperparameter demo moves, beside the run; the others are not on screen.
    for name in ("Width (neurons per layer)", "Depth (hidden layers)", "Batch size",
                 "Learning rate", "Epochs"):  # fmt: skip
        expect(page.get_by_role("slider", name=name)).to_be_visible()
    expect(page.get_by_role("slider", name="Dropout")).to_have_count(0)
    ticks = font_sizes(page, ".xtick text, .ytick text")
    assert ticks and min(ticks) >= SMALLEST_FONT, ticks
    metrics = font_sizes(page, '[data-testid="stMetricValue"]')
    assert metrics and min(metrics) >= SMALLEST_FONT
    labels = font_sizes(page, '[data-testid="stWidgetLabel"] p')
    assert labels and min(labels) >= SMALLEST_FONT, labels

    # In front of the class: widen the network, Start, and the run trains with that width.
    page.locator(".st-key-train_width").get_by_role("slider").focus()
    page.keyboard.press("End")
    expect(page).to_have_url(re.compile(r"[?&]width=2048(&|$)"), timeout=TIMEOUT)
    page.get_by_role("button", name="Start training").click()
    expect(page).not_to_have_url(re.compile(f"run={finished}"), timeout=TIMEOUT)
    started = re.search(r"run=(\w+)", page.url).group(1)
    assert manager.store.get(started).config == TINY.replace(width=2048)
    expect(page.get_by_text("Test accuracy")).to_be_visible(timeout=TIMEOUT)  # it finished
    shot = Path(tmp_path) / "projector.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000  # a real picture of the page, kept for a look

    # From Home's first-class path to the data, still on the projector (a page switch drops
    # the address's query; the session keeps projector mode).
    page.goto(f"{url}/?lang=en&present=1")
    settled(page)  # a click during the page's own first reruns was dropped now and then
    page.get_by_role("link", name=re.compile("^1. Look at the data")).click()
    expect(page.get_by_role("heading", name="Data", exact=True)).to_be_visible(timeout=TIMEOUT)
    expect(page).to_have_url(re.compile(r"/data\?(.*&)?present=1(&|$)"), timeout=TIMEOUT)
    expect(page.get_by_role("button", name="Leave projector mode")).to_be_visible()
    expect(page.get_by_test_id("stSidebar")).to_be_hidden()

    held = manager.submit(TINY.replace(epochs=200), paused=True)  # live, in a known state
    try:
        page.goto(f"{url}/train?lang=en&present=1&run={held}")
        canvas = page.locator("canvas[role=img]").first
        expect(canvas).to_be_visible(timeout=TIMEOUT)
        assert canvas.evaluate("c => c.clientHeight") == 460  # the large charts, not 340
        page.get_by_role("button", name="Leave projector mode").click()
        expect(page.get_by_test_id("stSidebar")).to_be_visible(timeout=TIMEOUT)
        expect(canvas).to_have_js_property("clientHeight", 340, timeout=TIMEOUT)
    finally:
        manager.stop(held)
        manager.wait(held, timeout=120)
