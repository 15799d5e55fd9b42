"""What the browser tests share: waiting for a page's script to finish, and pressing a run's
control buttons on a live page."""

from __future__ import annotations

from playwright.sync_api import expect

ENABLED_TIMEOUT = 90_000  # ms: a loaded machine may take long to connect a reloaded page
SETTLE_TIMEOUT = 60_000  # ms
OWNER_KNOWN = '[data-owner-known="true"]'  # the student-id component, once the app knows the id


def settled(page) -> None:
    """The page drawn, the app told the browser's student id, and its script done (no 'running'
    sign): a click before then can land in a rerun (the one the student-id component asks for
    on mount) that draws the page again and drops it. The component marks its element once
    the page it was drawn on knew the id (owner_id.js)."""
    expect(page.locator("h1").first).to_be_visible(timeout=SETTLE_TIMEOUT)
    expect(page.locator(OWNER_KNOWN)).to_have_count(1, timeout=SETTLE_TIMEOUT)
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=SETTLE_TIMEOUT)


def press(page, name: str) -> None:
    """Click the button named `name` (Pause, Continue, Stop) by sending the click to the button
    itself, once it is enabled (Streamlit disables widgets until the page's session is up, and
    a disabled button ignores a click). While a run trains the page reruns, and a click aimed at
    a point on the screen can land on whatever moved there between Playwright's stillness check
    and the click."""
    button = page.get_by_role("button", name=name)
    expect(button).to_be_enabled(timeout=ENABLED_TIMEOUT)
    button.dispatch_event("click")
