"""Evaluation and chart helpers, checked against Keras' own numbers on a real small model."""

import json

import numpy as np
import pytest

from mnist_app.engine.config import RunConfig
from mnist_app.engine.data import load_mnist, scale_images
from mnist_app.engine.evaluation import (
    confusion_matrix,
    evaluate,
    most_confident_mistakes,
    per_class_accuracy,
    predict_classes,
)
from mnist_app.engine.progress import Snapshot
from mnist_app.engine.records import EpochRecord
from mnist_app.engine.status import RunStatus
from mnist_app.engine.training import train
from mnist_app.figures import charts


@pytest.fixture(scope="module")
def small_model():
    """A real MLP trained for one epoch on 300 MNIST images."""
    config = RunConfig(width=32, limit=300, validation_size=0, batch_size=32, epochs=1)
    result = train(config)
    return result.model, config, result


def test_confusion_matrix_counts_pairs():
    y_true = np.array([0, 0, 1, 2, 2, 2])
    y_pred = np.array([0, 1, 1, 2, 0, 2])
    confusion = confusion_matrix(y_true, y_pred)
    assert confusion.shape == (10, 10)
    assert confusion[0, 0] == 1 and confusion[0, 1] == 1 and confusion[2, 0] == 1
    assert confusion[2, 2] == 2 and confusion.sum() == len(y_true)
    np.testing.assert_allclose(per_class_accuracy(confusion)[:3], [0.5, 1.0, 2 / 3])
    assert np.isnan(per_class_accuracy(confusion)[3])  # no image of a 3


def test_evaluation_agrees_with_keras_evaluate(small_model):
    model, config, result = small_model
    _, _, x_test, y_test = load_mnist()
    evaluation = evaluate(model, config.scaling)
    assert evaluation.confusion.sum() == len(y_test) == 10_000
    np.testing.assert_array_equal(evaluation.confusion.sum(axis=1), np.bincount(y_test))
    # The oracle: Keras' own accuracy on the same test set, computed inside train().
    assert evaluation.accuracy == pytest.approx(result.test_accuracy, abs=1e-4)
    assert evaluation.accuracy > 0.3  # far better than chance after one real epoch
    correct_per_digit = [np.mean(evaluation.predicted[y_test == d] == d) for d in range(10)]
    np.testing.assert_allclose(evaluation.per_class_accuracy, correct_per_digit)


def test_mistakes_are_wrong_and_most_confident_first(small_model):
    model, config, _ = small_model
    _, _, x_test, y_test = load_mnist()
    probabilities = predict_classes(model, scale_images(x_test[:2000], config.scaling))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-4)
    mistakes = most_confident_mistakes(y_test[:2000], probabilities)
    predicted = probabilities.argmax(axis=1)
    assert len(mistakes) == np.sum(predicted != y_test[:2000])
    assert np.all(predicted[mistakes] != y_test[:2000][mistakes])
    confidence = probabilities[mistakes, predicted[mistakes]]
    assert np.all(np.diff(confidence) <= 0)


def test_ema_is_debiased_and_skips_gaps():
    np.testing.assert_allclose(charts.ema([2.0] * 50), 2.0)
    smoothed = charts.ema([0.0] * 10 + [1.0] * 200, alpha=0.1)
    assert smoothed[9] == 0.0 and 0.0 < smoothed[10] < smoothed[20] < smoothed[-1] <= 1.0
    assert np.isfinite(charts.ema([1.0, np.nan, 3.0])).all()


def test_downsample_keeps_ends_and_caps_points():
    assert list(charts.downsample(5, max_points=10)) == [0, 1, 2, 3, 4]
    keep = charts.downsample(100_000, max_points=400)
    assert len(keep) <= 400 and keep[0] == 0 and keep[-1] == 99_999
    assert np.all(np.diff(keep) > 0)


def test_curves_figure_draws_batches_and_epochs():
    snapshot = Snapshot(
        RunStatus.RUNNING,
        batch_loss=list(np.linspace(2.3, 0.3, 5000)),
        batches_per_epoch=1000,
        history=[EpochRecord(e, loss=1 / e, val_loss=1.2 / e) for e in range(1, 6)],
    )
    figure = charts.curves_figure(snapshot, "loss", "en")
    raw, smoothed, per_epoch, validation = figure.data
    assert len(raw.x) <= charts.MAX_POINTS and raw.x[-1] == pytest.approx(5.0)
    assert list(per_epoch.y) == [1 / e for e in range(1, 6)]
    assert validation.name == "validation, per epoch"
    assert charts.curves_figure(Snapshot(RunStatus.QUEUED), "accuracy", "es").data == ()


def test_curve_chart_is_the_data_the_figure_draws():
    batches = list(np.linspace(2.3, 0.3, 30))
    batches[7] = float("nan")  # a blown-up batch leaves a gap, not a NaN in the JSON
    snapshot = Snapshot(
        RunStatus.RUNNING,
        batch_loss=batches,
        batches_per_epoch=10,
        epochs=8,
        history=[
            EpochRecord(1, loss=0.9, val_loss=1.0),
            EpochRecord(2, loss=0.6, val_loss=None),  # no validation that epoch
            EpochRecord(3, loss=0.4, val_loss=0.5),
        ],
    )
    chart = charts.curve_chart(snapshot, "loss", "es")
    assert chart["title"] == "Pérdida" and chart["x_max"] == 8 and chart["y_range"] is None
    names = [line["name"] for line in chart["lines"]]
    assert names == ["cada lote", "lotes, suavizado", "entrenamiento, por época",
                     "validación, por época"]  # fmt: skip
    raw, smoothed, per_epoch, validation = chart["lines"]
    assert raw["x"][:2] == [0.1, 0.2] and raw["x"][-1] == 3.0  # batch k ends at k/10 epochs
    assert raw["y"][7] is None and all(v is not None for v in smoothed["y"])
    assert validation["y"] == [1.0, None, 0.5] and validation["color"] == charts.VALIDATION_COLOR
    assert per_epoch["dash"] and per_epoch["markers"] and not raw["markers"]
    json.dumps(chart, allow_nan=False)  # what the live API sends must be strict JSON
    figure = charts.curves_figure(snapshot, "loss", "es")
    for trace, line in zip(figure.data, chart["lines"], strict=True):
        assert list(trace.x) == line["x"] and list(trace.y) == line["y"]
        assert trace.name == line["name"] and trace.line.color == line["color"]
    assert charts.curve_chart(Snapshot(RunStatus.QUEUED), "accuracy", "en")["y_range"] == [0, 1]


def test_result_figures_have_ten_digits():
    confusion = np.diag(np.full(10, 100))
    assert np.asarray(charts.confusion_figure(confusion, "en").data[0].z).shape == (10, 10)
    bars = charts.per_class_figure(per_class_accuracy(confusion), "es").data[0]
    assert len(bars.x) == 10 and list(bars.y) == [1.0] * 10


def test_json_numbers_are_each_value_as_a_float_or_a_gap():
    values = np.random.default_rng(0).normal(size=500) * 10.0 ** np.arange(-250, 250)
    values[[3, 40, 41]] = [np.nan, np.inf, -np.inf]
    expected = [float(v) if np.isfinite(v) else None for v in values]  # value by value
    assert charts.json_numbers(values) == expected
    assert all(type(v) is float for v in charts.json_numbers(values) if v is not None)
    assert charts.json_numbers([0.5, None, 2, float("nan")]) == [0.5, None, 2.0, None]
    assert charts.json_numbers(np.arange(3)) == [0.0, 1.0, 2.0]
    assert charts.json_numbers([]) == []
