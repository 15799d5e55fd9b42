"""The figures of a run's weights over training, drawn from a real short run's records."""

import numpy as np
import pytest
from test_weight_history import trained  # noqa: F401  (a real run and its continuation)

from mnist_app.figures.weights import density, gradients_figure, histograms_figure
from mnist_app.runs.weights import recorded_weights


def test_the_figures_draw_one_histogram_and_one_line_per_layer(trained):  # noqa: F811
    store, parent, child = trained
    history = recorded_weights(store, child, parent)
    figure = histograms_figure(history, 1, "es")
    bars = [trace for trace in figure.data if trace.type == "bar"]
    outlines = [trace for trace in figure.data if trace.type == "scatter"]
    assert len(bars) == len(outlines) == 3  # today's bars, the start outlined
    assert "tras la época 1" in figure.layout.title.text
    for bar, layer in zip(bars, history[1].layers, strict=True):
        widths = np.diff(layer.edges)
        assert np.sum(np.asarray(bar.y) * widths) == pytest.approx(1.0)  # a density
        assert np.allclose(bar.y, density(layer))
    assert "antes de entrenar" in histograms_figure(history, 0, "es").layout.title.text
    gradients = gradients_figure(history, 3, "en")
    assert [trace.name for trace in gradients.data] == [layer.name for layer in history[0].layers]
    assert list(gradients.data[0].x) == [0, 1, 2, 3]
    assert gradients.layout.shapes[0].x0 == 3  # the chosen epoch, marked
