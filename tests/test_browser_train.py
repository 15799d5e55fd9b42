"""The Train page in headless Chromium: live progress and curves that move, Stop, the queue."""

import re

import pytest
from browsing import press
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

LIVE_TIMEOUT = 90_000  # ms; the machine is shared, so be patient but never sleep blindly


def open_train_page(page, app_url):
    page.goto(f"{app_url}/?lang=en")  # the home page first, so the router is in place
    expect(page.get_by_role("heading", name="MNIST Lab")).to_be_visible(timeout=LIVE_TIMEOUT)
    page.goto(f"{app_url}/train?lang=en")
    expect(page.get_by_role("button", name="Start training")).to_be_enabled(timeout=LIVE_TIMEOUT)


def start_long_run(page):
    """A small MLP on the whole training set, 200 times over (10 million images): a run that
    only Stop ends, on any machine; the test holds it in known states with Pause."""
    page.locator(".st-key-train_epochs").get_by_role("slider").focus()
    page.keyboard.press("End")
    # The server has the 200 once it is in the address; the slider's own "200" end label is
    # there from the start, and a rerun still under way could put the slider back to 5.
    expect(page).to_have_url(re.compile(r"[?&]epochs=200(&|$)"), timeout=LIVE_TIMEOUT)
    # Every other setting is still its default (the URL names only changed ones): no slider
    # fell to its low end while the page loaded on a busy server (keys.keep).
    assert page.url.endswith("/train?lang=en&epochs=200"), page.url
    page.get_by_role("button", name="Start training").click()


def stop_if_still_running(*pages) -> None:
    """After a failed check, stop the test's run so it does not hold the server's only slot."""
    for tab in pages:
        stop = tab.get_by_role("button", name="Stop")
        if stop.count() and stop.is_enabled():
            press(tab, "Stop")


@pytest.fixture
def watched_page(page):
    """The browser tab, with whatever run it started stopped at the end, pass or fail."""
    yield page
    stop_if_still_running(page)


def test_live_run_updates_pauses_continues_and_stops(watched_page, app_url):
    page = watched_page
    open_train_page(page, app_url)
    start_long_run(page)
    live = page.locator(".st-key-train_live")
    status = live.locator(".status")  # inside the component's shadow root
    expect(status).to_contain_text(re.compile(r"^Epoch .* batch [1-9]\d*/"), timeout=LIVE_TIMEOUT)
    expect(page).to_have_url(re.compile(r"[?&]run=\w+"))
    seen = [status.inner_text()]
    for _ in range(2):  # the view refreshes on its own: the text moves on twice
        expect(status).not_to_have_text(seen[-1], timeout=LIVE_TIMEOUT)
        seen.append(status.inner_text())

    loss, accuracy = live.locator("canvas").all()
    expect(loss).to_have_attribute("aria-label", re.compile(r"^Loss .*batches, smoothed: \d"))
    expect(accuracy).to_have_attribute("aria-label", re.compile(r"^Accuracy "))
    # How far along the epochs axis it has drawn, and the picture, read together: the view may
    # redraw between two separate reads.
    reach, picture = loss.evaluate("canvas => [Number(canvas.dataset.reach), canvas.toDataURL()]")
    page.wait_for_function(
        "([canvas, reach]) => Number(canvas.dataset.reach) > reach",
        arg=[loss.element_handle(), reach],
        timeout=LIVE_TIMEOUT,
    )  # the curve grows ...
    assert loss.evaluate("canvas => canvas.toDataURL()") != picture  # ... and is redrawn
    expect(live.locator(".legend")).to_contain_text("validation, per epoch")

    press(page, "Pause")  # held after its current batch
    expect(status).to_contain_text(re.compile(r"^Paused at epoch \d+/200"), timeout=LIVE_TIMEOUT)
    expect(page.get_by_role("button", name="Continue")).to_be_visible(timeout=LIVE_TIMEOUT)
    bar = live.get_by_role("progressbar")
    assert 0 <= int(bar.get_attribute("aria-valuenow")) < 100
    held = status.inner_text()
    reach = float(loss.get_attribute("data-reach"))
    press(page, "Continue")
    expect(status).not_to_contain_text("Paused", timeout=LIVE_TIMEOUT)
    expect(status).not_to_have_text(held, timeout=LIVE_TIMEOUT)
    page.wait_for_function(
        "([canvas, reach]) => Number(canvas.dataset.reach) > reach",
        arg=[loss.element_handle(), reach],
        timeout=LIVE_TIMEOUT,
    )  # it went on from where it was

    press(page, "Pause")
    expect(status).to_contain_text("Paused at epoch", timeout=LIVE_TIMEOUT)
    press(page, "Stop")  # Stop works while paused
    expect(page.get_by_text("Training stopped")).to_be_visible(timeout=LIVE_TIMEOUT)
    expect(page.get_by_text("Test accuracy")).to_be_visible(timeout=LIVE_TIMEOUT)
    expect(live).to_have_count(0)


def test_two_tabs_each_follow_their_own_run_and_the_queue_moves_on(browser, app_url):
    first, second = (browser.new_context(viewport={"width": 1400, "height": 1000}) for _ in "12")
    try:
        tab_a, tab_b = first.new_page(), second.new_page()
        open_train_page(tab_a, app_url)
        start_long_run(tab_a)
        expect(tab_a.locator(".st-key-train_live .status")).to_contain_text(
            re.compile(r"batch [1-9]"), timeout=LIVE_TIMEOUT
        )
        # The page has rerun for the run's start (the live rate shows only then): Pause is not
        # clicked while that rerun is on its way.
        expect(tab_a.get_by_text("Learning rate (live)")).to_be_visible(timeout=LIVE_TIMEOUT)
        press(tab_a, "Pause")  # A holds the only training slot
        expect(tab_a.locator(".st-key-train_live .status")).to_contain_text(
            "Paused", timeout=LIVE_TIMEOUT
        )
        open_train_page(tab_b, app_url)
        start_long_run(tab_b)
        # The page says so twice: in a notice above the live view and in its status line.
        expect(tab_b.locator(".st-key-train_live .status")).to_contain_text(
            "place 1 in the queue", timeout=LIVE_TIMEOUT
        )
        expect(tab_b.get_by_test_id("stAlertContentInfo")).to_contain_text("place 1 in the queue")
        run_a, run_b = (re.search(r"run=(\w+)", tab.url).group(1) for tab in (tab_a, tab_b))
        assert run_a != run_b

        press(tab_a, "Stop")
        expect(tab_a.get_by_text("Training stopped")).to_be_visible(timeout=LIVE_TIMEOUT)
        # Tab B was waiting: its live view sees the run start and brings the page along by
        # itself, with no click: the queue message goes, the live learning rate appears.
        expect(tab_b.get_by_text("place 1 in the queue")).to_have_count(0, timeout=LIVE_TIMEOUT)
        expect(tab_b.get_by_text("Learning rate (live)")).to_be_visible(timeout=LIVE_TIMEOUT)
        expect(tab_b.locator(".st-key-train_live .status")).to_contain_text(
            re.compile(r"batch [1-9]"), timeout=LIVE_TIMEOUT
        )
        assert f"run={run_b}" in tab_b.url
        press(tab_b, "Stop")
        expect(tab_b.get_by_text("Training stopped")).to_be_visible(timeout=LIVE_TIMEOUT)
    finally:
        stop_if_still_running(*first.pages, *second.pages)
        first.close()
        second.close()
