"""The coach reads curves: synthetic histories for each diagnosis, then real tiny runs."""

import dataclasses
import math

import pytest

from mnist_app.engine.config import RunConfig
from mnist_app.engine.progress import Progress
from mnist_app.engine.records import EpochRecord, history_from_json
from mnist_app.engine.status import RunStatus
from mnist_app.engine.training import train
from mnist_app.experiments import coach
from mnist_app.experiments.coach import read_curves
from mnist_app.experiments.sweeps import Sweep
from mnist_app.i18n import translate

BASE = RunConfig(limit=600, validation_size=200, batch_size=32, epochs=5, seed=1)


def _history(losses, accuracies=None, val_losses=None, val_accuracies=None):
    """Epoch records as training.BatchMetrics writes them."""
    n = len(losses)
    accuracies = accuracies or [0.5 + 0.4 * i / max(n - 1, 1) for i in range(n)]
    val_losses = val_losses or [None] * n
    val_accuracies = val_accuracies or [None] * n
    return [
        EpochRecord(i + 1, loss=losses[i], accuracy=accuracies[i], val_loss=val_losses[i],
                    val_accuracy=val_accuracies[i], seconds=1.0, learning_rate=1e-3)
        for i in range(n)
    ]  # fmt: skip


HEALTHY = _history([1.0, 0.5, 0.4, 0.38, 0.37], val_losses=[0.9, 0.5, 0.42, 0.40, 0.39],
                   val_accuracies=[0.8, 0.86, 0.88, 0.89, 0.9])  # fmt: skip
NOISY_BATCHES = [0.05, 1.2, 0.1, 2.0, 0.02, 0.9] * 20  # spread far above its mean


def _assert_valid(config, suggestion):
    """The suggestion fills a valid config, and its sweep (if any) expands into valid runs."""
    changed = config.replace(**suggestion.changes)
    if suggestion.vary is not None:
        assert Sweep(changed, (suggestion.vary,)).configs()
    return changed


def test_healthy_curves_read_as_healthy_with_their_numbers():
    advice = read_curves(BASE, HEALTHY, [0.4, 0.38, 0.41], RunStatus.FINISHED, "en")
    assert advice.kind == "healthy" and advice.suggestion is None
    assert advice.headline.startswith("Looks healthy")
    assert "Training loss fell from 1.00 to 0.37." in advice.evidence
    assert "Validation accuracy 90.0%." in advice.evidence


def test_a_nan_loss_reads_as_diverging_and_suggests_a_tenth_of_the_rate():
    history = _history([2.0, None])
    advice = read_curves(BASE.replace(learning_rate=0.5), history, language="en")
    assert advice.kind == "diverging"
    assert advice.suggestion.changes == {"learning_rate": 0.05}
    assert advice.suggestion.label == "Try learning rate 0.05"
    assert "not a number (NaN) at epoch 2" in advice.evidence[0]


def test_a_loss_three_times_its_lowest_reads_as_diverging_with_the_evidence():
    history = _history([1.0, 0.4, 1.5])
    advice = read_curves(BASE, history, language="en")
    assert advice.kind == "diverging"
    assert advice.evidence[0] == (
        "Training loss 1.50 at epoch 3, 3.8 times its lowest so far (0.40 at epoch 2)."
    )
    assert advice.suggestion.changes == {"learning_rate": 0.0001}


def test_diverging_comes_before_noisy_and_stuck():
    history = _history([2.3, None], accuracies=[0.1, 0.1])
    config = BASE.replace(batch_size=4)
    advice = read_curves(config, history, NOISY_BATCHES, RunStatus.DIVERGED)
    assert advice.kind == "diverging"


def test_a_run_stopped_as_diverged_before_any_epoch_still_reads_as_diverging():
    assert read_curves(BASE, [], [0.5, math.nan], RunStatus.DIVERGED).kind == "diverging"
    assert read_curves(BASE, [], [], RunStatus.DIVERGED).kind == "diverging"
    saturated = _history([6.0, 5.0], accuracies=[0.1, 0.1])  # stopped above twice guessing
    assert read_curves(BASE, saturated, status=RunStatus.DIVERGED).kind == "diverging"
    assert read_curves(BASE, saturated).kind == "stuck"  # live, not yet called diverged


def test_stuck_at_chance_suggests_scaling_then_the_learning_rate():
    history = _history([2.31, 2.30], accuracies=[0.1, 0.11])
    raw = read_curves(BASE.replace(scaling="none"), history, language="en")
    assert raw.kind == "stuck" and raw.suggestion.changes == {"scaling": "unit"}
    assert any("0 to 255" in line for line in raw.evidence)
    scaled = read_curves(BASE.replace(learning_rate=0.01), history)
    assert scaled.kind == "stuck" and scaled.suggestion.changes == {"learning_rate": 0.001}
    crawling = read_curves(BASE.replace(optimizer="sgd", learning_rate=1e-5), history)
    assert crawling.suggestion.changes == {"learning_rate": 0.0001}  # too slow to move: up


def test_overfitting_names_the_best_epoch_and_suggests_a_dropout_sweep():
    history = _history([1.0, 0.3, 0.12, 0.08, 0.05], val_losses=[0.5, 0.3, 0.21, 0.25, 0.29])
    advice = read_curves(BASE, history, language="en")
    assert advice.kind == "overfitting"
    assert advice.evidence[0] == (
        "Validation loss lowest at epoch 3 (0.21), 0.29 at epoch 5, while the training loss "
        "fell from 0.12 to 0.05."
    )
    suggestion = advice.suggestion
    assert suggestion.changes == {"dropout": 0.2}
    assert suggestion.vary.field == "dropout" and suggestion.vary.values == (0.0, 0.2, 0.5)
    _assert_valid(BASE, suggestion)
    # With dropout already high: augmentation, then the best epoch's count.
    assert read_curves(BASE.replace(dropout=0.5), history).suggestion.changes == {"augment": True}
    done = read_curves(BASE.replace(dropout=0.5, augment=True), history).suggestion
    assert done.changes == {"epochs": 3}


def test_still_learning_at_the_end_suggests_more_epochs_but_not_while_live():
    history = _history([1.0, 0.6, 0.4])
    ended = read_curves(BASE.replace(epochs=3), history, language="en")
    assert ended.kind == "still_learning" and ended.suggestion.changes == {"epochs": 6}
    assert "by 33.3% (0.60 → 0.40)" in ended.evidence[0]
    live = read_curves(BASE.replace(epochs=10), history, status=RunStatus.RUNNING)
    assert live.kind == "healthy"
    at_cap = read_curves(BASE.replace(epochs=3, optimizer="sgd", learning_rate=1e-4), history)
    assert at_cap.suggestion.changes == {"learning_rate": 0.001}  # a slow rate: raise it


def test_noisy_tiny_batches_suggest_a_bigger_batch():
    advice = read_curves(BASE.replace(batch_size=4), HEALTHY, NOISY_BATCHES, language="en")
    assert advice.kind == "noisy" and advice.suggestion.changes == {"batch_size": 32}
    assert advice.evidence[0].startswith("With batches of 4 images, the last 100 batch losses")
    calm = read_curves(BASE.replace(batch_size=64), HEALTHY, NOISY_BATCHES)
    assert calm.kind == "healthy"  # big batches are not blamed


def test_a_tiny_sgd_rate_with_the_loss_barely_moving_reads_as_too_slow():
    history = _history([2.2, 2.1, 2.05], accuracies=[0.3, 0.4, 0.45])
    config = BASE.replace(optimizer="sgd", learning_rate=1e-4, epochs=3)
    advice = read_curves(config, history, language="en")
    assert advice.kind == "slow" and advice.suggestion.changes == {"learning_rate": 0.001}
    assert "far below the usual 0.01 for sgd" in advice.evidence[1]


def test_the_threshold_table_decides(monkeypatch):
    history = _history([1.0, 0.6, 0.55])  # the last epoch cut the loss by 8%
    config = BASE.replace(epochs=3)
    assert read_curves(config, history).kind == "healthy"
    lower = dataclasses.replace(coach.THRESHOLDS, still_learning_drop=0.05)
    monkeypatch.setattr(coach, "THRESHOLDS", lower)
    assert read_curves(config, history).kind == "still_learning"
    stricter = dataclasses.replace(coach.THRESHOLDS, noisy_spread=10.0)
    assert read_curves(BASE.replace(batch_size=4), HEALTHY, NOISY_BATCHES,
                       thresholds=stricter).kind == "healthy"  # fmt: skip


def test_numbers_and_texts_are_in_the_chosen_language():
    history = _history([1.0, 0.3, 0.12, 0.08, 0.05], val_losses=[0.5, 0.3, 0.21, 0.25, 0.29])
    advice = read_curves(BASE, history, language="es")
    assert advice.headline.startswith("Sobreajuste")
    assert "época 3 (0,21)" in advice.evidence[0]
    assert advice.suggestion.label == "Probar dropout 0,0, 0,2, 0,5"
    lower = read_curves(BASE.replace(learning_rate=0.5), _history([2.0, None]), language="es")
    assert lower.suggestion.label == "Probar tasa de aprendizaje 0,05"


@pytest.mark.parametrize(
    "history",
    [[], [EpochRecord(1)], _history([0.7]),
     history_from_json([{"epoch": 1, "loss": "x", "accuracy": None}, {"epoch": 2}]),
     [EpochRecord(1, loss=math.inf, val_loss=math.nan), EpochRecord(1, loss=-0.0)],
     _history([1.0, 0.5, 0.4], val_losses=[None, 0.5, None])],
)  # fmt: skip
def test_odd_histories_never_crash(history):
    for status in (None, RunStatus.RUNNING, RunStatus.FINISHED, RunStatus.DIVERGED):
        advice = read_curves(BASE, history, [], status)
        assert advice is None or advice.headline and "⟦" not in advice.headline
        assert advice is None or all("⟦" not in line for line in advice.evidence)


def test_nothing_to_read_before_the_first_epoch():
    assert read_curves(BASE, [], [0.9, 0.8], RunStatus.RUNNING) is None


# --- real runs on a few hundred MNIST images --------------------------------------------------
def _train_and_read(config):
    progress = Progress()
    result = train(config, progress)
    snap = progress.snapshot()
    return result, read_curves(config, result.history, snap.batch_loss, result.status, "en")


def test_a_real_diverging_run_reads_as_diverging():
    config = BASE.replace(optimizer="sgd", learning_rate=10.0, scaling="none", epochs=3)
    result, advice = _train_and_read(config)
    assert result.status == RunStatus.DIVERGED
    assert advice.kind == "diverging"
    assert advice.suggestion.changes == {"learning_rate": 1.0}
    _assert_valid(config, advice.suggestion)


def test_a_real_stuck_run_reads_as_stuck():
    config = BASE.replace(optimizer="sgd", learning_rate=1e-5, activation="sigmoid", epochs=4)
    result, advice = _train_and_read(config)
    assert result.reason == "stuck"  # training.DivergenceGuard stopped it after two epochs
    assert advice.kind == "stuck"
    assert advice.suggestion.changes == {"learning_rate": 1e-4}  # up: the rate is the problem
    _assert_valid(config, advice.suggestion)


def test_a_real_overfitting_run_reads_as_overfitting():
    config = BASE.replace(limit=300, validation_size=300, width=512, epochs=12)
    result, advice = _train_and_read(config)
    assert result.status == RunStatus.FINISHED
    assert advice.kind == "overfitting"
    assert "Validation loss lowest at epoch" in advice.evidence[0]
    assert advice.suggestion.vary.field == "dropout"
    _assert_valid(config, advice.suggestion)


# --- the panel ---------------------------------------------------------------------------------
def _panel_script():
    import streamlit as st

    from mnist_app import ui
    from mnist_app.engine.config import RunConfig
    from mnist_app.engine.records import EpochRecord
    from mnist_app.experiments.coach import read_curves

    def remember(suggestion):
        st.session_state["applied"] = suggestion.changes

    config = RunConfig(limit=600, validation_size=200, batch_size=32, epochs=5)
    history = [EpochRecord(1, loss=2.0, accuracy=0.5), EpochRecord(2, loss=None)]
    ui.coach_panel(read_curves(config.replace(learning_rate=0.5), history, language=ui.language()),
                   "coach", remember)  # fmt: skip


@pytest.mark.parametrize("lang", ["en", "es"])
def test_the_panel_shows_the_reading_and_its_button_applies_the_suggestion(lang):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_panel_script, default_timeout=30)
    at.session_state["lang"] = lang
    at.run()
    assert not at.exception, at.exception
    shown = " ".join(m.value for m in at.markdown)
    assert translate("coach.diverging", lang) in shown
    assert "NaN" in shown
    button = at.button(key="coach_apply")
    assert button.label == {"en": "Try learning rate 0.05",
                            "es": "Probar tasa de aprendizaje 0,05"}[lang]  # fmt: skip
    button.click().run()
    assert at.session_state["applied"] == {"learning_rate": 0.05}
