"""The coach on the Train page: a finished run's reading, and its next experiment one click away."""

from __future__ import annotations

import pytest
from apptest_text import open_page, texts

from mnist_app.engine.config import RunConfig
from mnist_app.engine.status import RunStatus
from mnist_app.runs.managers import shared_manager

pytestmark = pytest.mark.usefixtures("prepared_server")
OVERFITTING = RunConfig(limit=300, validation_size=300, width=512, batch_size=32, epochs=12, seed=1)
STILL_LEARNING = RunConfig(limit=600, validation_size=200, batch_size=32, epochs=2, seed=1)


def finished(config: RunConfig) -> str:
    manager = shared_manager()
    run_id = manager.submit(config)
    assert manager.wait(run_id, timeout=300).status == RunStatus.FINISHED
    return run_id


def test_an_overfitting_run_gets_its_reading_and_the_dropout_sweep_opens_ready():
    at = open_page("pages/train.py", run=finished(OVERFITTING))
    panel = texts(at.markdown)
    assert "Validation loss lowest at epoch" in panel
    at.button(key="train_coach_apply").click().run()
    assert at.session_state["sweep_field"] == "dropout"  # the Sweeps page's form, filled in
    assert at.session_state["sweep_values_dropout"] == ["0", "0.2", "0.5"]
    assert at.session_state["train_settings"]["width"] == 512  # the sweep's base: this run
    assert "handoff_sweep_request" not in at.session_state  # taken by the Sweeps page
    assert not at.exception


def test_a_run_still_learning_gets_more_epochs_in_the_sliders():
    at = open_page("pages/train.py", lang="es", run=finished(STILL_LEARNING))
    button = at.button(key="train_coach_apply")
    button.click().run()
    assert at.slider(key="train_epochs").value == 4  # twice as many, ready to Start
    assert at.select_slider(key="train_limit").value == 600  # the rest of the run as it was
