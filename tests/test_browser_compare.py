"""The Runs page in Chromium: tick two rows of the table, follow Compare, read the legend."""

import re

import pytest
from playwright.sync_api import expect

from mnist_app.engine.config import RunConfig
from mnist_app.engine.status import RunStatus
from mnist_app.runs.jobs import TrainingManager
from mnist_app.runs.store import RunStore

pytestmark = pytest.mark.browser

TIMEOUT = 60_000  # ms; the machine is shared, so be patient but never sleep blindly
TINY = RunConfig(limit=300, epochs=2, validation_size=100, batch_size=64, width=32)
# Streamlit's grid draws on a canvas: the header row, then one row every 35 px; the row's
# selection checkbox sits in the first 30 px (as Streamlit's own e2e tests click it).
ROW_HEIGHT, CHECKBOX_X = 35, 15


def tick_row(table, row: int) -> None:
    """Click the selection checkbox of a row of the table (1 is the first under the header)."""
    table.click(position={"x": CHECKBOX_X, "y": row * ROW_HEIGHT + ROW_HEIGHT / 2})


def test_two_runs_ticked_in_the_table_are_compared_by_what_differs(start_app, page):
    with start_app() as (url, home):
        manager = TrainingManager(RunStore(home))  # two real runs, differing in learning rate
        for rate in (0.001, 0.02):
            run_id = manager.submit(TINY.replace(learning_rate=rate))
            assert manager.wait(run_id, timeout=120).status is RunStatus.FINISHED
        page.goto(f"{url}/?lang=en")  # the home page first, so the router is in place
        expect(page.get_by_role("heading", name="MNIST Lab")).to_be_visible(timeout=TIMEOUT)
        page.goto(f"{url}/runs?lang=en")
        table = page.get_by_test_id("stDataFrame")
        expect(table.locator("canvas").first).to_be_visible(timeout=TIMEOUT)
        expect(page.get_by_text("Showing 2 of 2 runs.")).to_be_visible(timeout=TIMEOUT)

        tick_row(table, 1)
        expect(page.get_by_role("button", name="Save label and note")).to_be_visible(
            timeout=TIMEOUT
        )  # one run ticked: its actions
        tick_row(table, 2)
        compare = page.get_by_role("link", name="Compare 2 runs")
        expect(compare).to_be_visible(timeout=TIMEOUT)
        compare.click()

        expect(page).to_have_url(re.compile(r"/compare\?.*runs=\w{12}(%2C|,)\w{12}"))
        legend = page.locator(".legendtext")
        expect(legend.filter(has_text="lr = 0.02").first).to_be_visible(timeout=TIMEOUT)
        expect(legend.filter(has_text="lr = 0.001").first).to_be_visible(timeout=TIMEOUT)
        expect(legend.filter(has_text="optimizer")).to_have_count(0)  # only what differs
        expect(page.get_by_text("They differ in: Learning rate.")).to_be_visible()
