"""A learning-rate sweep in headless Chromium: from the Train page's settings to three
overlaid live curves and a three-point result chart."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

TIMEOUT = 90_000  # ms; the machine is shared, so be patient but never sleep blindly
RATES = ("0.0001", "0.001", "0.01")


def set_slider(page, key: str, setting: str, *keys: str) -> None:
    """Move a settings slider with the keyboard, as a person would, and wait until the server
    has taken the value: the Train page keeps its settings in the address, so `setting`
    ("epochs=1") shows there. A slider moved while the page still reruns for the one before
    can be put back by that rerun, and a link followed before then carries the old value."""
    page.locator(f".st-key-{key}").get_by_role("slider").focus()
    for name in keys:
        page.keyboard.press(name)
    expect(page).to_have_url(re.compile(rf"[?&]{setting}(&|$)"), timeout=TIMEOUT)


def test_a_learning_rate_sweep_from_the_train_page(page, app_url):
    page.goto(f"{app_url}/?lang=en")  # the home page first, so the router is in place
    expect(page.get_by_role("heading", name="MNIST Lab")).to_be_visible(timeout=TIMEOUT)
    page.goto(f"{app_url}/train?lang=en")
    expect(page.get_by_role("button", name="Start training")).to_be_enabled(timeout=TIMEOUT)
    set_slider(
        page, "train_limit", "limit=500", "Home", "ArrowRight", "ArrowRight"
    )  # 100, 200, 500
    set_slider(page, "train_validation_size", "validation_size=0", "Home")  # none held out
    set_slider(page, "train_epochs", "epochs=1", "Home")  # one epoch
    page.get_by_role("link", name="Sweep…").click()

    expect(page.get_by_text("3 runs, ≈ ")).to_be_visible(timeout=TIMEOUT)
    values = page.locator(".st-key-sweep_values_learning_rate")
    for rate in RATES:  # learning rate is what a sweep varies first, a decade apart
        expect(values).to_contain_text(rate)
    page.get_by_role("button", name="Start sweep").click()
    expect(page).to_have_url(re.compile(r"[?&]sweep=[0-9a-f]{12}"), timeout=TIMEOUT)

    live = page.locator(".st-key-sweep_live")
    for rate in RATES:  # one colour per member, named by its value
        expect(live.locator(".legend")).to_contain_text(f"lr = {rate}", timeout=TIMEOUT)
    accuracy = live.locator("canvas").first
    drawn = r".*".join(rf"lr = {re.escape(rate)}: \d" for rate in RATES)
    expect(accuracy).to_have_attribute(
        "aria-label", re.compile(rf"^Accuracy .*{drawn}"), timeout=TIMEOUT
    )  # every member's curve drawn on the one chart
    expect(live.locator(".status")).to_have_text("Sweep finished: 3 runs.", timeout=TIMEOUT)

    chart = page.locator(".st-key-sweep_result .js-plotly-plot")
    expect(chart).to_be_visible(timeout=TIMEOUT)
    assert chart.evaluate("plot => plot.data[0].x.length") == 3
    assert chart.evaluate("plot => plot._fullLayout.xaxis.type") == "log"
    expect(page.get_by_role("link", name="run 1")).to_have_count(3)
