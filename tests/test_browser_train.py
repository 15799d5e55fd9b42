"""The Train page in headless Chromium: a live run whose progress and curves move, then Stop."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

LIVE_TIMEOUT = 90_000  # ms; the machine is shared, so be patient but never sleep blindly


LOSS_POINTS = """() => {
    const plot = document.querySelector('.js-plotly-plot');  // the loss chart comes first
    const trace = plot && plot._fullData && plot._fullData[0];  // x decoded from base64
    return trace && trace.x ? trace.x.length : 0;
}"""


def test_live_run_updates_and_stops(page, app_url):
    page.goto(f"{app_url}/?lang=en")  # the home page first, so the router is in place
    expect(page.get_by_role("heading", name="MNIST Lab")).to_be_visible(timeout=LIVE_TIMEOUT)
    page.goto(f"{app_url}/train?lang=en")
    start = page.get_by_role("button", name="Start training")
    expect(start).to_be_enabled(timeout=LIVE_TIMEOUT)
    # A small MLP on 5,000 images, with so many epochs that only Stop can end it.
    page.locator(".st-key-train_limit").get_by_role("slider").focus()
    for _ in range(4):
        page.keyboard.press("ArrowLeft")  # whole set → 50,000 → 20,000 → 10,000 → 5,000
    expect(page.locator(".st-key-train_limit")).to_contain_text("5,000")
    page.locator(".st-key-train_epochs").get_by_role("slider").focus()
    page.keyboard.press("End")
    expect(page.locator(".st-key-train_epochs")).to_contain_text("100")
    start.click()

    progress = page.locator(".st-key-train_live [data-testid=stProgress]")
    expect(progress).to_contain_text(re.compile(r"batch [1-9]\d*/"), timeout=LIVE_TIMEOUT)
    expect(page).to_have_url(re.compile(r"[?&]run=\w+"))
    seen = [progress.inner_text()]
    for _ in range(2):  # the panel refreshes on its own: the text moves on twice
        expect(progress).not_to_have_text(seen[-1], timeout=LIVE_TIMEOUT)
        seen.append(progress.inner_text())
    first_points = page.evaluate(LOSS_POINTS)
    page.wait_for_function(
        f"() => ({LOSS_POINTS})() > {first_points}", timeout=LIVE_TIMEOUT
    )  # the per-batch curve grows too

    page.get_by_role("button", name="Stop").click()
    expect(page.get_by_text("Training stopped")).to_be_visible(timeout=LIVE_TIMEOUT)
    expect(page.get_by_text("Test accuracy")).to_be_visible(timeout=LIVE_TIMEOUT)
    expect(progress).to_have_count(0)
