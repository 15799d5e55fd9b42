"""What the browser tests share: pressing a run's control buttons on a live page."""

from __future__ import annotations


def press(page, name: str) -> None:
    """Click the button named `name` (Pause, Continue, Stop) by sending the click to the button
    itself. While a run trains the page reruns and may move between Playwright's stillness
    check and a click aimed at a point on the screen: twice under load such a click landed on
    the live learning-rate slider and set the rate to its low end, 1e-6, instead."""
    page.get_by_role("button", name=name).dispatch_event("click")
