"""The weights panel on the Runs page, driven through AppTest over a real trained run."""

import json

import pytest
from apptest_text import open_page, page_text
from streamlit.testing.v1 import AppTest

import mnist_app.runs.managers as managers
from mnist_app.engine.config import RunConfig
from mnist_app.engine.records import EpochRecord, Outcome
from mnist_app.engine.status import RunStatus
from mnist_app.runs.managers import shared_manager

TINY = RunConfig(limit=300, epochs=2, validation_size=100, batch_size=64, width=32)

pytestmark = pytest.mark.usefixtures("prepared_server")


@pytest.fixture
def manager(monkeypatch, lab_home):
    """The pages' own manager, over this test's MNIST_LAB_HOME."""
    monkeypatch.setattr(managers, "_shared", None)
    return shared_manager()


def ticked(at: AppTest, row: int = 0) -> AppTest:
    """Tick a row of the Runs table (what clicking its checkbox sends)."""
    at.session_state["runs_table"] = {"selection": {"rows": [row], "columns": [], "cells": []}}
    at.run()
    assert not at.exception, at.exception
    return at


def opened(at: AppTest, key: str) -> AppTest:
    """Open the weights expander `key` (what clicking it sends); it is built only while open."""
    at.session_state[f"{key}_open"] = True
    at.run()
    assert not at.exception, at.exception
    return at


def chart_titles(at: AppTest) -> list[str]:
    return [
        json.loads(chart.proto.spec)["layout"]["title"]["text"] for chart in at.get("plotly_chart")
    ]


def test_a_ticked_run_shows_its_weights_and_the_slider_moves_through_the_epochs(manager):
    run_id = manager.submit(TINY)
    assert manager.wait(run_id, timeout=180).status is RunStatus.FINISHED
    at = ticked(open_page("pages/runs.py", "es"))
    assert "Pesos durante el entrenamiento" in page_text(at)
    assert not at.get("plotly_chart") and not at.select_slider  # closed: nothing built
    opened(at, f"runs_weights_{run_id}")
    slider = at.select_slider(key=f"runs_weights_{run_id}_epoch")
    assert slider.options == ["0 (al inicio)", "1", "2"] and slider.value == 2
    assert chart_titles(at)[0] == "Pesos de cada capa tras la época 2"
    slider.set_value(1).run()
    assert not at.exception
    assert chart_titles(at)[0] == "Pesos de cada capa tras la época 1"
    at.select_slider(key=f"runs_weights_{run_id}_epoch").set_value(0).run()
    titles = chart_titles(at)
    assert titles[0] == "Pesos de cada capa al inicio, antes de entrenar"
    assert titles[1].startswith("Norma del gradiente de cada capa")
    at = opened(open_page("pages/train.py", "en", run=run_id), "train_weights")  # there too
    assert at.select_slider(key="train_weights_epoch").value == 2
    assert "Each layer's weights after epoch 2" in chart_titles(at)


def test_a_run_from_before_the_recording_says_so(manager):
    store = manager.store
    run_id = store.create(TINY)
    store.record_outcome(run_id, Outcome(RunStatus.FINISHED, history=[EpochRecord(1)]))
    at = opened(ticked(open_page("pages/runs.py", "en")), f"runs_weights_{run_id}")
    assert any("Weights were not recorded for this run" in box.value for box in at.info)
    assert not at.get("plotly_chart") and not at.select_slider
