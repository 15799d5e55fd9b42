"""What the browser tests share: pressing a run's control buttons on a live page."""

from __future__ import annotations

from playwright.sync_api import expect

ENABLED_TIMEOUT = 90_000  # ms: a loaded machine may take long to connect a reloaded page


def press(page, name: str) -> None:
    """Click the button named `name` (Pause, Continue, Stop) by sending the click to the button
    itself, once it is enabled (Streamlit disables widgets until the page's session is up, and
    a disabled button ignores a click). While a run trains the page reruns and may move between
    Playwright's stillness check and a click aimed at a point on the screen: twice under load
    such a click landed on the live learning-rate slider and set the rate to its low end, 1e-6."""
    button = page.get_by_role("button", name=name)
    expect(button).to_be_enabled(timeout=ENABLED_TIMEOUT)
    button.dispatch_event("click")
