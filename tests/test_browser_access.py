"""Every page, in Spanish and in English, audited in Chromium by axe-core (tests/package.json
pins it): no critical or serious accessibility problem, and headings in order."""

from pathlib import Path

import pytest
from browsing import settled
from playwright.sync_api import expect
from test_browser_draw import DIGITS, READING, draw

from mnist_app.engine.config import RunConfig
from mnist_app.engine.status import RunStatus
from mnist_app.runs.challenges import new_challenge
from mnist_app.runs.jobs import TrainingManager
from mnist_app.runs.store import RunStore

pytestmark = pytest.mark.browser

AXE = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"
TIMEOUT = 60_000  # ms
TINY = RunConfig(limit=300, epochs=2, validation_size=100, batch_size=64, width=32)
FAILING = ("critical", "serious")  # axe's two worst impacts; heading order is checked too
AUDIT = """async () => {
    const result = await axe.run(document, {resultTypes: ["violations"]});
    return result.violations.map(v => ({
        rule: v.id, impact: v.impact, help: v.help,
        where: v.nodes.slice(0, 3).map(n => n.html.slice(0, 160)),
    }));
}"""


@pytest.fixture(scope="module")
def served(start_app):
    """The app with two real finished runs (two learning rates), so every page has something
    to show: results, models to read with and to compare, a challenge's board."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: npm ci --prefix tests")
    with start_app() as (url, home):
        manager = TrainingManager(RunStore(home))
        runs = [manager.submit(TINY.replace(learning_rate=rate)) for rate in (0.001, 0.02)]
        for run_id in runs:
            assert manager.wait(run_id, timeout=180).status is RunStatus.FINISHED
        # A challenge both runs entered (25,450 parameters each, within its limit): a board.
        challenge = manager.store.create_challenge(new_challenge("Reto", max_params=30_000))
        for run_id, name in zip(runs, ("Ana", "Bea"), strict=True):
            manager.store.enter_challenge(challenge, run_id, name)
        yield url, runs, challenge


def problems(page, where: str) -> list[str]:
    """What axe-core finds on the page that fails the audit, one line each."""
    page.add_script_tag(path=str(AXE))
    found = page.evaluate(AUDIT)
    return [
        f"{where}: {v['rule']} ({v['impact']}) {v['help']}: {v['where']}"
        for v in found
        if v["impact"] in FAILING or v["rule"] == "heading-order"
    ]


@pytest.mark.parametrize("lang", ["es", "en"])
def test_every_page_passes_an_accessibility_audit(served, page, lang):
    url, (first, second), challenge = served
    # Every page, Train in projector mode too, and Draw last (a stroke is drawn on it below).
    paths = ["", "data", "train", f"train?run={first}", "runs", f"compare?runs={first},{second}",
             "sweeps", "robustness", "classroom", f"challenge?challenge={challenge}",
             f"train?run={first}&present=1",
             f"draw?model={first}"]  # fmt: skip
    found = []
    for path in paths:
        page.goto(f"{url}/{path}{'&' if '?' in path else '?'}lang={lang}")
        settled(page)
        found += problems(page, f"/{path}")
    # The Draw page (the last one) once a digit is drawn: the reading and the 28×28 picture.
    canvas = page.locator("canvas.upper-canvas")
    expect(canvas).to_be_visible(timeout=TIMEOUT)
    draw(page, canvas, DIGITS["7"])
    expect(page.locator(READING)).to_have_count(1, timeout=TIMEOUT)
    settled(page)
    found += problems(page, "/draw, after a stroke")
    assert found == [], "\n".join(found)
