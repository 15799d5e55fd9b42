"""In the real browser: a digit drawn on the Draw page is added to the class set and counted."""

import pytest
from playwright.sync_api import expect
from test_browser_draw import DIGITS, READING, draw, open_canvas

from mnist_app.i18n import translate

pytestmark = pytest.mark.browser


def test_a_drawn_digit_joins_the_class_set(page, start_app):
    with start_app() as (url, _home):
        canvas = open_canvas(page, url)
        draw(page, canvas, DIGITS["7"])
        expect(page.locator(READING)).to_have_text("7", timeout=30_000)
        page.locator(".st-key-classset_digit").get_by_text("7", exact=True).click()
        page.locator(".st-key-classset_name input").fill("Lucía")
        page.locator(".st-key-classset_add button").click()
        done = translate("classroom.add.done", digit=7, total=1)
        expect(page.get_by_text(done)).to_be_visible(timeout=30_000)
        draw(page, canvas, [[(0.1, 0.9), (0.3, 0.9)]])  # the message is of the drawing added
        expect(page.get_by_text(done)).to_have_count(0, timeout=30_000)
        page.goto(f"{url}/classroom")
        expect(page.get_by_text(translate("classroom.counts.total", n=1))).to_be_visible(
            timeout=30_000
        )
        expect(page.get_by_text("n.º 1 · 7 · Lucía")).to_be_visible()
