"""A label of HTML on the Compare page in Chromium: Streamlit's own plotly.js shows it as text.

tests/test_bad_input.py checks the figure's JSON against plotly.js's rules; this checks what
the rules give in the real page: no link, no bold or 90-px text, the label's characters all
there, in the legend and in the hover.
"""

import pytest
from playwright.sync_api import expect
from test_text import ISSUE_LABEL

from mnist_app.engine.config import RunConfig
from mnist_app.engine.records import Outcome
from mnist_app.engine.status import RunStatus
from mnist_app.runs.jobs import TrainingManager
from mnist_app.runs.store import RunStore

pytestmark = pytest.mark.browser

TIMEOUT = 60_000  # ms; the machine is shared, so be patient but never sleep blindly
TINY = RunConfig(limit=300, epochs=2, validation_size=100, batch_size=64, width=32)


def test_a_label_of_html_shows_as_text_on_the_compare_charts(start_app, page):
    with start_app() as (url, home):
        store = RunStore(home)
        manager = TrainingManager(store)
        trained = manager.submit(TINY)
        assert manager.wait(trained, timeout=120).status is RunStatus.FINISHED
        store.set_label(trained, ISSUE_LABEL, "")
        other = store.create(RunConfig(), preset="chollet-512")  # a second run to compare with
        store.record_outcome(other, Outcome(RunStatus.FINISHED, test_accuracy=0.98))
        page.goto(f"{url}/?lang=en")  # the home page first, so the router is in place
        expect(page.get_by_role("heading", name="MNIST Lab")).to_be_visible(timeout=TIMEOUT)
        page.goto(f"{url}/compare?runs={trained},{other}&lang=en")

        legend = page.locator(".legendtext").filter(has_text="href")
        expect(legend).to_have_count(2, timeout=TIMEOUT)  # one per chart: loss, accuracy
        for entry in legend.all():
            expect(entry).to_have_text(ISSUE_LABEL)  # every character, as typed
            expect(entry.locator("tspan")).to_have_count(0)  # no bold, no 90-px span
        expect(page.locator(".js-plotly-plot svg a")).to_have_count(0)  # no link anywhere

        point = page.locator(".js-plotly-plot").first.locator(".scatterlayer .point").first
        box = point.bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        hover = page.locator(".hoverlayer .hovertext").first
        expect(hover).to_contain_text(f"{ISSUE_LABEL} · ", timeout=TIMEOUT)  # then the series
        expect(hover.locator("a")).to_have_count(0)
