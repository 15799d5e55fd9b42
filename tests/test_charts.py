"""Layout of the result charts: nothing overlaps, the numbers read from the back of a classroom."""

import numpy as np
import pytest

from mnist_app.engine.progress import Snapshot
from mnist_app.engine.records import EpochRecord
from mnist_app.engine.status import RunStatus
from mnist_app.figures import charts

LINE = 1.25  # a line of text is about this many times its font size tall


def realistic_confusion() -> np.ndarray:
    confusion = np.diag(np.arange(970, 1130, 16))
    confusion[3, 5], confusion[4, 9], confusion[7, 2] = 12, 9, 20
    return confusion


def snapshot() -> Snapshot:
    return Snapshot(
        RunStatus.FINISHED,
        batch_loss=list(np.linspace(2.3, 0.1, 500)),
        batch_accuracy=list(np.linspace(0.1, 0.99, 500)),
        batches_per_epoch=100,
        epochs=5,
        history=[
            EpochRecord(e, loss=0.3 / e, accuracy=1 - 0.05 / e,
                        val_loss=0.3 / e, val_accuracy=1 - 0.06 / e)
            for e in range(1, 6)
        ],
    )  # fmt: skip


def title_bottom(layout) -> float:
    """Pixels from the figure's top edge to the bottom of a title pinned there."""
    title = layout.title
    assert title.yref == "container" and title.y == 1 and title.yanchor == "top"
    return title.pad.t + LINE * title.font.size


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize(
    "accuracy", [np.linspace(0.97, 0.995, 10), np.ones(10), np.linspace(0.1, 1.0, 10)]
)
def test_per_digit_accuracy_axis_never_goes_above_100_percent(accuracy, language):
    figure = charts.per_class_figure(accuracy, language)
    low, high = figure.layout.yaxis.range
    assert high == 1.0 and 0.0 <= low < accuracy.min()
    bars = figure.data[0]
    # The labels must still show at the very top of the axis: inside the bar, or not clipped.
    assert bars.textposition in ("inside", "auto") and bars.cliponaxis is False
    assert list(bars.text) == [f"{v:.1%}" for v in accuracy]


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("metric", ["loss", "accuracy"])
def test_curve_legend_sits_between_title_and_plot(metric, language):
    layout = charts.curves_figure(snapshot(), metric, language).layout
    legend = layout.legend
    # Anchored by its bottom just above the plot area, it grows upward, away from the x axis
    # title below the plot; the old legend hung at y=-0.2, right where that title is drawn.
    assert legend.orientation == "h" and legend.yanchor == "bottom" and legend.y >= 1
    assert layout.xaxis.side in (None, "bottom") and layout.xaxis.title.text
    two_legend_rows = 2 * LINE * 14  # the legend's text is at most 14 px in any theme
    assert title_bottom(layout) + two_legend_rows <= layout.margin.t


@pytest.mark.parametrize("language", ["en", "es"])
def test_confusion_matrix_is_readable_and_its_title_clear_of_the_top_axis(language):
    figure = charts.confusion_figure(realistic_confusion(), language)
    heatmap, layout = figure.data[0], figure.layout
    assert heatmap.textfont.size >= 16 and layout.xaxis.tickfont.size >= 16
    assert np.asarray(heatmap.text).tolist() == realistic_confusion().tolist()
    # With the x axis on top, the margin above the cells holds, from the top: the title, the
    # axis title, the tick labels, and a little air between them.
    assert layout.xaxis.side == "top"
    top_axis = LINE * (layout.xaxis.title.font.size + layout.xaxis.tickfont.size)
    assert title_bottom(layout) + top_axis + 20 <= layout.margin.t
    # Square cells however wide the column: the matrix shrinks to fit instead of stretching.
    assert layout.yaxis.scaleanchor == "x" and layout.yaxis.constrain == "domain"
    assert layout.height >= 600


def test_grouped_points_sit_where_their_last_batch_ends():
    one_by_one = Snapshot(RunStatus.RUNNING, batches_per_epoch=10)
    np.testing.assert_allclose(
        charts.batch_positions(one_by_one, np.arange(12)), np.arange(1, 13) / 10
    )
    grouped = Snapshot(RunStatus.RUNNING, batches_per_epoch=10, batches_per_point=4)
    np.testing.assert_allclose(
        charts.batch_positions(grouped, np.arange(6)), [0.4, 0.8, 1.0, 1.4, 1.8, 2.0]
    )


@pytest.mark.parametrize("epochs", [1, 3, 5, 10, 11, 37, 200])
def test_epochs_are_ticked_at_whole_epochs_only(epochs):
    ticks = charts.epoch_ticks(epochs)
    assert ticks["tick0"] == 0 and isinstance(ticks["dtick"], int) and ticks["dtick"] >= 1
    assert epochs / ticks["dtick"] <= 10  # at most ten ticks
    short = snapshot()  # 5 epochs: plotly's own choice ticked 0.5, 1.5, 2.5 ...
    assert charts.curves_figure(short, "loss").layout.xaxis.dtick == 1
