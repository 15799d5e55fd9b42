"""The Sweeps page driven through AppTest: lessons, the form, a finished sweep, a bad link."""

import re

import pytest
from apptest_text import open_page, page_text
from streamlit.testing.v1 import AppTest

from mnist_app.engine.config import RunConfig
from mnist_app.experiments.lessons import LESSON_LIST
from mnist_app.experiments.sweeps import Sweep, estimate_sweep_seconds, make_vary, start_sweep
from mnist_app.i18n import catalogue
from mnist_app.runs.managers import shared_manager

TINY = RunConfig(limit=300, epochs=1, validation_size=100, batch_size=64, width=32)


pytestmark = pytest.mark.usefixtures("prepared_server")


def open_sweeps_page(lang: str = "en", settings: dict | None = None, **query: str) -> AppTest:
    """The Sweeps page; `settings` are what the Train page leaves in the session."""
    session = {"train_settings": settings} if settings is not None else None
    return open_page("pages/sweeps.py", lang, session, **query)


def stop_sweep(sweep_id: str) -> None:
    manager = shared_manager()
    for run in manager.store.sweep_runs(sweep_id):
        manager.stop(run.id)
        manager.wait(run.id, timeout=120)


@pytest.mark.parametrize("lang", ["es", "en"])
def test_every_lesson_is_listed_with_its_question_and_how_long_it_takes(lang):
    at = open_sweeps_page(lang)
    text = page_text(at)
    assert "⟦" not in text, re.findall(r"⟦[^⟧]*⟧", text)
    captions = [c.value for c in at.caption]
    for lesson in LESSON_LIST:
        assert catalogue(lang)[f"lesson.{lesson.slug}.question"] in text
        assert at.button(key=f"lesson_{lesson.slug}").label == catalogue(lang)["sweep.lesson.start"]
    about = [c for c in captions if "≈" in c and ("(notebook" in c or "(cuaderno" in c)]
    assert len(about) == len(LESSON_LIST)
    minutes = round(estimate_sweep_seconds(LESSON_LIST[0].sweep()) / 60)
    assert any(f"≈ {minutes} min" in c for c in about)
    shortened = [c for c in captions if "20.000" in c or "20,000" in c]
    assert shortened and (
        "instead of 60,000" in shortened[0] or "en lugar de 60.000" in shortened[0]
    )


def test_a_finished_sweep_shows_its_result_and_links_to_every_run():
    manager = shared_manager()
    sweep = Sweep(TINY, (make_vary("learning_rate", [0.001, 0.01, 0.1]),))
    sweep_id = start_sweep(manager, sweep)
    runs = manager.store.sweep_runs(sweep_id)
    for run in runs:
        manager.wait(run.id, timeout=180)
    at = open_sweeps_page("en", sweep=sweep_id)
    assert at.query_params["sweep"] == sweep_id  # a reload comes back to it
    assert at.header[0].value == "Learning rate: 0.001, 0.01, 0.1"
    assert at.success[0].value.startswith("Best here: Learning rate ")
    charts = at.get("plotly_chart")
    assert len(charts) == 2  # accuracy and training time against the value
    assert "sweep_stop_all" not in [b.key for b in at.button]  # nothing left to stop
    text = page_text(at)
    for run in manager.store.sweep_runs(sweep_id):
        assert run.id in text  # each run's link carries its id
    assert "Learning rate 0.1" in text and "Every run" in text


def test_an_unknown_sweep_in_the_url_is_explained_and_the_lessons_stay():
    at = open_sweeps_page("es", sweep="<b>nope</b>")
    assert (
        at.error[0].value.startswith("Aquí no hay ningún barrido '") and "nope" in at.error[0].value
    )
    assert at.button(key=f"lesson_{LESSON_LIST[0].slug}")  # nothing else is lost
    assert (
        open_sweeps_page("en", sweep="0123456789ab")
        .error[0]
        .value.startswith("There is no sweep '0123456789ab' here")
    )


def test_the_form_names_the_setting_a_bad_value_or_too_many_runs_come_from():
    before = len(shared_manager().store.sweeps())
    at = open_sweeps_page("en", settings=TINY.to_dict(), new="1")
    values = at.multiselect(key="sweep_values_learning_rate")
    assert values.value == ["0.0001", "0.001", "0.01"]
    assert at.info[0].value.startswith("3 runs, ≈ ")
    values.set_value(["0.001", "fast"]).run()
    assert at.error[0].value == ("This sweep cannot start — Learning rate: 'fast' is not a number.")
    assert at.button(key="sweep_start").disabled
    values.set_value(["0.001", "0.01"]).run()
    at.selectbox(key="sweep_field2").set_value("width").run()
    at.multiselect(key="sweep_values2_width").set_value([str(w) for w in range(1, 14)]).run()
    assert "26 runs is too many" in at.error[0].value
    assert at.button(key="sweep_start").disabled
    # The cap counts runs, repeats included: 4 × 2 values are 8 runs, with 4 repeats 32.
    at.multiselect(key="sweep_values2_width").set_value(["8", "16", "32", "64"]).run()
    assert at.info[0].value.startswith("8 runs, ≈ ")
    at.slider(key="sweep_repeats").set_value(3).run()
    assert at.info[0].value.startswith("24 runs, ≈ ") and not at.button(key="sweep_start").disabled
    at.slider(key="sweep_repeats").set_value(4).run()
    assert "32 runs is too many: a sweep trains at most 24 runs, repeats included" in (
        at.error[0].value
    )
    assert at.button(key="sweep_start").disabled
    assert len(shared_manager().store.sweeps()) == before  # nothing started


def test_start_queues_the_sweep_and_follows_it_in_the_url():
    at = open_sweeps_page("es", settings=TINY.to_dict() | {"epochs": 50}, new="1")
    assert at.info[0].value.startswith("3 entrenamientos, ≈ ")
    at.button(key="sweep_start").click().run()
    sweep_id = at.query_params["sweep"]
    try:
        runs = shared_manager().store.sweep_runs(sweep_id)
        assert [r.config.learning_rate for r in runs] == [0.0001, 0.001, 0.01]
        assert {r.config.epochs for r in runs} == {50}  # the Train page's settings are the base
        assert at.button(key="sweep_stop_all").label == "Detener todo"
        assert len(at.get("bidi_component")) == 1  # the live view of the whole sweep
    finally:
        stop_sweep(sweep_id)


def open_train_page(**query: str) -> AppTest:
    return open_page("pages/train.py", **query)


def test_the_train_page_links_to_a_sweep_and_continues_a_finished_run():
    manager = shared_manager()
    run_id = manager.submit(TINY)
    manager.wait(run_id, timeout=120)
    at = open_train_page(run=run_id)
    (link,) = [e for e in at.get("page_link") if "Sweep" in e.proto.label]
    assert link.proto.page.endswith("sweeps") and "new=1" in link.proto.query_string
    assert at.number_input(key="train_continue_epochs").value == 5
    at.number_input(key="train_continue_epochs").set_value(2).run()
    at.button(key="train_continue_button").click().run()
    new_id = at.query_params["run"]
    assert new_id != run_id and at.session_state["train_run"] == new_id
    manager.wait(new_id, timeout=120)
    at.run()  # as the live view asks when the run ends
    continued = manager.store.get(new_id)
    assert continued.parent == run_id and len(continued.history) == 3  # 1 + 2 more epochs
    more = at.number_input(key="train_continue_epochs")
    assert (more.min, more.max) == (1, 197)  # a run has at most 200 epochs
