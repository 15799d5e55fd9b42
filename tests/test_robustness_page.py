"""The Robustness page through AppTest: it measures a real model once, then shows it at once."""

import json

import pytest
from apptest_text import open_page, page_text, texts
from test_text import ISSUE_LABEL, PLOTLY_TEMPLATE_FIELD, plotly_shows, plotly_tags

from mnist_app.drawing.predict import default_model_path, model_card
from mnist_app.engine.config import RunConfig
from mnist_app.engine.records import Outcome
from mnist_app.engine.status import RunStatus
from mnist_app.engine.training import train
from mnist_app.i18n import LANGUAGES, missing_placeholder, translate
from mnist_app.inspect.robustness import FAMILIES, measure_file
from mnist_app.runs.managers import shared_manager

PAGE = "pages/robustness.py"
SMALL = 200  # images per changed point for the shipped CNN: the page's own 2,000 take ~10 s
TINY_MLP = RunConfig(limit=2000, epochs=1, batch_size=32, validation_size=0, scaling="centered")
pytestmark = pytest.mark.usefixtures("prepared_server")


@pytest.fixture
def shipped_measured(lab_home):
    """The shipped model measured into the process's run store on a small sample (the page
    shows a stored measure whatever its sample, and says which): the first test measures it,
    the others find it stored."""
    path = default_model_path()
    scaling = model_card(path)["config"]["scaling"]
    return measure_file(shared_manager().store.directory, path, scaling, sample=SMALL)


def chart(at) -> dict:
    [figure] = at.get("plotly_chart")
    return json.loads(figure.proto.spec)


@pytest.mark.parametrize("lang", list(LANGUAGES))
def test_the_page_shows_the_shipped_models_measure_in_both_languages(lang, shipped_measured):
    at = open_page(PAGE, lang)
    text = page_text(at)
    assert missing_placeholder("")[:1] not in text, text  # every key has a text
    assert at.title[0].value == translate("nav.robustness", lang)
    spec = chart(at)
    lines = [trace for trace in spec["data"] if trace["type"] == "scatter"]
    assert len(lines) == len(FAMILIES)  # one model: one line per family
    noise = lines[0]
    assert noise["y"][0] == pytest.approx(model_card(default_model_path())["test_accuracy"])
    assert noise["error_y"]["array"][1] > 0  # the margin of error, as bars
    title = spec["layout"]["title"]["text"]
    assert title.startswith(f"{SMALL} ") and ("10.000" if lang == "es" else "10,000") in title
    for family in FAMILIES:
        assert translate(f"robustness.family.{family.name}", lang) in text
    assert not at.button  # nothing left to measure


def test_a_finished_run_is_measured_on_a_click_and_drawn_beside_the_shipped_model(
    tmp_path, shipped_measured
):
    store = shared_manager().store
    path = tmp_path / "tiny.keras"
    result = train(TINY_MLP, model_path=path)
    run_id = store.create(TINY_MLP, preset="mlp-64-64")
    store.record_outcome(
        run_id,
        Outcome(RunStatus.FINISHED, model_path=str(path), test_accuracy=result.test_accuracy),
    )
    at = open_page(PAGE, "es", session={"robustness_models": ["default", run_id]})
    assert len(chart(at)["data"]) == len(FAMILIES)  # the shipped model's, measured before
    assert run_id[:6] in texts(at.caption)  # waiting to be measured
    at.button(key="robustness_measure").click().run()
    assert not at.exception and not at.error
    lines = [trace for trace in chart(at)["data"] if trace["type"] == "scatter"]
    assert len(lines) == 2 * len(FAMILIES)
    assert {line["name"] for line in lines} == {"Modelo incluido", f"mlp-64-64 · {run_id[:6]}"}
    shift = [family.name for family in FAMILIES].index("shift")
    mlp_shift = lines[len(FAMILIES) + shift]
    assert [point[0] for point in mlp_shift["customdata"]] == ["0", "1", "2", "4", "6", "8"]
    assert mlp_shift["y"][0] == pytest.approx(result.test_accuracy, abs=1e-6)
    assert mlp_shift["y"][-1] < 0.3  # an MLP loses the digits moved 8 pixels
    assert not open_page(PAGE, "en", session={"robustness_models": [run_id]}).button  # kept


def test_a_damaged_model_file_is_reported_not_raised(tmp_path, lab_home):
    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"random bytes, not a model")
    store = shared_manager().store
    run_id = store.create(TINY_MLP, preset="broken")
    store.record_outcome(run_id, Outcome(RunStatus.FINISHED, model_path=str(broken)))
    at = open_page(PAGE, "en", session={"robustness_models": [run_id]})
    at.button(key="robustness_measure").click().run()
    assert not at.exception
    assert "cannot be used: its file is missing or damaged" in texts(at.error)
    assert not at.get("plotly_chart")


def test_a_label_of_html_is_text_in_the_legend_and_the_hover(shipped_measured):
    """A run's label goes into the chart's names and hovers: plotly.js must show it as text
    (tests/test_text.py's reading of its rules), not as a link, bold or 90-px text."""
    store = shared_manager().store
    path = default_model_path()  # measured already: the page draws it at once
    config = RunConfig(scaling=model_card(path)["config"]["scaling"])
    run_id = store.create(config)
    store.record_outcome(run_id, Outcome(RunStatus.FINISHED, model_path=str(path)))
    store.set_label(run_id, ISSUE_LABEL, "")
    at = open_page(PAGE, "en", session={"robustness_models": [run_id]})
    lines = [trace for trace in chart(at)["data"] if trace["type"] == "scatter"]
    assert len(lines) == len(FAMILIES)
    for line in lines:
        assert plotly_shows(line["name"]) == f"{ISSUE_LABEL} · {run_id[:6]}"
        template = line["hovertemplate"]
        assert set(plotly_tags(template)) == {"<br>", "<extra>", "</extra>"}
        fields = {match.group(1) for match in PLOTLY_TEMPLATE_FIELD.finditer(template)}
        assert fields == {"customdata[0]", "customdata[1]", "customdata[2]", "y"}
        assert plotly_shows(template.split("<br>")[0]) == plotly_shows(line["name"])
