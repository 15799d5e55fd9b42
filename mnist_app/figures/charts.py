"""Charts for the pages: learning curves (as data for the live view, or plotly), confusion matrix,
per-digit accuracy."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go

from mnist_app.experiments.comparison import parallel_axes
from mnist_app.experiments.sweeps import differing_fields, run_name
from mnist_app.i18n import DEFAULT_LANGUAGE, plotly_separators, translate
from mnist_app.text import escape_plotly

if TYPE_CHECKING:
    from mnist_app.engine.progress import Snapshot

MAX_POINTS = 300  # per-batch points drawn per curve: enough for a chart a screen wide
SMOOTHING = 0.05  # weight of the newest batch in the moving average
TRAIN_COLOR = "#1f5fbf"
VALIDATION_COLOR = "#d9480f"
# Font sizes (px) and top margins sized from them: the numbers must read on a classroom projector.
TITLE_SIZE = 20
TITLE_PAD = 12  # from the figure's top edge to the title
AXIS_TITLE_SIZE = 16
TICK_SIZE = 16
CELL_TEXT_SIZE = 17
CURVES_TOP = 105  # the title, then up to two legend rows
CONFUSION_TOP = 125  # the title, then the top axis's title and tick labels


def ema(values: list[float] | np.ndarray, alpha: float = SMOOTHING) -> np.ndarray:
    """Exponential moving average, bias-corrected so the first points are not pulled to 0."""
    # pandas is imported here, not at the top: the Draw page never smooths, and importing it
    # at start-up put a cold start's first reading ~0.2 s later (bench/cold_start.py)
    import pandas as pd

    series = pd.Series(np.asarray(values, dtype=np.float64))
    return series.ewm(alpha=alpha, adjust=True, ignore_na=True).mean().to_numpy()


def downsample(length: int, max_points: int = MAX_POINTS) -> np.ndarray:
    """At most `max_points` evenly spaced indices into a series, always keeping the last one."""
    if length <= max_points:
        return np.arange(length)
    return np.unique(np.linspace(0, length - 1, max_points).round().astype(int))


def batch_positions(snapshot: Snapshot, points: np.ndarray) -> np.ndarray:
    """Where the given points of the live curves sit on the epochs axis.

    A point stands for `batches_per_point` batches (fewer at the end of an epoch), and sits
    where its last batch ends: batch 3 of 10 at 0.3, the epoch's last at 1.0.
    """
    per_epoch = max(snapshot.batches_per_epoch, 1)
    group = max(snapshot.batches_per_point, 1)
    epoch, index = np.divmod(points, math.ceil(per_epoch / group))
    return epoch + np.minimum((index + 1) * group, per_epoch) / per_epoch


def curve_chart(snapshot: Snapshot, metric: str, language: str = DEFAULT_LANGUAGE) -> dict:
    """A loss or accuracy chart as plain data: titles, axis ranges and styled lines.

    Both the live canvas in the browser and the plotly figure draw exactly these lines.
    """
    text = _labels(language)
    lines = []
    batches = np.asarray(getattr(snapshot, f"batch_{metric}"), dtype=np.float64)
    if len(batches):
        keep = downsample(len(batches))
        x = batch_positions(snapshot, keep)
        lines.append(_line(text["batch"], x, batches[keep], width=1, opacity=0.25))
        lines.append(_line(text["smoothed"], x, ema(batches)[keep], width=2.5))
    history = snapshot.history
    epochs = [record.epoch for record in history]
    for key, name, color in (
        (metric, "epoch", TRAIN_COLOR),
        (f"val_{metric}", "val", VALIDATION_COLOR),
    ):
        values = [record.metric(key) for record in history]
        if any(v is not None for v in values):
            lines.append(
                _line(text[name], epochs, values, color, dash=name == "epoch", markers=True)
            )
    return {
        "title": text[metric],
        "x_title": text["epochs"],
        "x_max": snapshot.epochs or 1,  # the run's length: the live axis grows up to it
        "y_range": [0, 1] if metric == "accuracy" else None,
        "lines": lines,
    }


def json_numbers(values) -> list[float | None]:
    """Numbers as JSON can carry them: floats, and None for a missing or non-finite value (a
    gap in a line). Converted by numpy in one pass: asking np.isfinite value by value was a
    third of the live API's time."""
    array = np.asarray(values, dtype=np.float64)  # None becomes NaN
    numbers, finite = array.tolist(), np.isfinite(array)
    if finite.all():
        return numbers
    return [v if ok else None for v, ok in zip(numbers, finite.tolist(), strict=True)]


def four_digits(numbers) -> list[float | None]:
    """JSON numbers (json_numbers') cut to 4 significant digits, gaps kept: plenty for a
    picture, and a third of the bytes for charts a class asks for twice a second."""
    return [None if v is None else float(f"{v:.4g}") for v in numbers]


def _line(name, x, y, color=TRAIN_COLOR, width=2.0, opacity=1.0, dash=False, markers=False):
    """One styled line of a chart; a missing or non-finite value is None (a gap in the line)."""
    return {
        "name": name,
        "x": json_numbers(x),
        "y": json_numbers(y),
        "color": color,
        "width": width,
        "opacity": opacity,
        "dash": dash,
        "markers": markers,
    }


def epoch_ticks(last_epoch: float) -> dict:
    """An epochs axis ticked at whole epochs only (1, 2, 3; never 0.5, 1.5), at most ten ticks."""
    step = next((s for s in (1, 2, 5, 10, 20, 50) if last_epoch / s <= 10), 100)
    return {"tick0": 0, "dtick": step}


def curves_figure(snapshot: Snapshot, metric: str, language: str = DEFAULT_LANGUAGE) -> go.Figure:
    """Loss or accuracy against epochs: per batch (raw and smoothed), per epoch, validation."""
    chart = curve_chart(snapshot, metric, language)
    figure = go.Figure()
    for line in chart["lines"]:
        figure.add_scatter(
            x=line["x"],
            y=line["y"],
            name=line["name"],
            opacity=line["opacity"],
            mode="lines+markers" if line["markers"] else "lines",
            line={
                "color": line["color"],
                "width": line["width"],
                "dash": "dot" if line["dash"] else "solid",
            },
            marker={"size": 9, "color": line["color"]},
        )
    figure.update_layout(
        title=_title(chart["title"]),
        xaxis={"title": chart["x_title"], "rangemode": "tozero", **epoch_ticks(chart["x_max"])},
        yaxis={"range": chart["y_range"]} if chart["y_range"] else {"rangemode": "tozero"},
        height=420,
        # The legend sits between the title and the plot, so it can never cover the x axis title;
        # the top margin holds the title and two legend rows (a half-width column wraps it).
        margin={"l": 10, "r": 10, "t": CURVES_TOP, "b": 10},
        legend={"orientation": "h", "x": 0, "xanchor": "left", "y": 1.02, "yanchor": "bottom"},
        uirevision=metric,  # keep the user's zoom while the curve grows
    )
    return figure


def confusion_figure(confusion: np.ndarray, language: str = DEFAULT_LANGUAGE) -> go.Figure:
    """Heatmap of true digit (rows) against predicted digit (columns), counts written in."""
    text = _labels(language)
    digits = [str(d) for d in range(len(confusion))]
    # A log colour scale keeps the few mistakes visible next to the ~1,000 correct answers.
    figure = go.Figure(
        go.Heatmap(
            z=np.log1p(confusion),
            x=digits,
            y=digits,
            text=confusion,
            texttemplate="%{text}",
            textfont={"size": CELL_TEXT_SIZE},
            colorscale="Blues",
            showscale=False,
            xgap=1,
            ygap=1,
            hovertemplate=text["confusion_hover"] + "<extra></extra>",
        )
    )
    axis_title = {"size": AXIS_TITLE_SIZE}
    ticks = {"size": TICK_SIZE}
    figure.update_layout(
        title=_title(text["confusion"], centred=True),
        # Square cells: the matrix keeps its shape and is centred, whatever the column's width.
        xaxis={
            "title": {"text": text["predicted"], "font": axis_title},
            "side": "top",
            "type": "category",
            "tickfont": ticks,
            "constrain": "domain",
        },
        yaxis={
            "title": {"text": text["true"], "font": axis_title},
            "autorange": "reversed",
            "type": "category",
            "tickfont": ticks,
            "scaleanchor": "x",
            "constrain": "domain",
            "constraintoward": "top",
        },
        height=620,  # square at a ~500 px column; a wider one centres it
        # The x axis is on top: the margin holds the title, then the axis title, then the ticks.
        margin={"l": 10, "r": 10, "t": CONFUSION_TOP, "b": 10},
    )
    return figure


def per_class_figure(accuracy: np.ndarray, language: str = DEFAULT_LANGUAGE) -> go.Figure:
    """Bar chart of the accuracy on each digit, zoomed to where the differences are."""
    text = _labels(language)
    values = np.nan_to_num(np.asarray(accuracy, dtype=np.float64))
    low = max(0.0, float(values.min()) - 0.05) if len(values) else 0.0
    figure = go.Figure(
        go.Bar(
            x=[str(d) for d in range(len(values))],
            y=values,
            marker_color=TRAIN_COLOR,
            # Inside the bar's top, so the axis can stop at 100%; a bar too short for its label
            # gets it just above instead.
            text=[f"{v:.1%}" for v in values],
            textposition="auto",
            insidetextanchor="end",
            textangle=0,
            textfont={"size": 14},
            cliponaxis=False,
        )
    )
    figure.update_layout(
        title=_title(text["per_class"]),
        xaxis={"title": text["digit"], "type": "category"},
        yaxis={"title": text["accuracy"], "range": [low, 1.0], "tickformat": ".0%"},
        height=420,
        margin={"l": 10, "r": 10, "t": 60, "b": 10},
    )
    return figure


def _title(text: str, centred: bool = False) -> dict:
    """A chart title pinned to the top of the figure, clear of anything in the top margin."""
    return {
        "text": text,
        "font": {"size": TITLE_SIZE},
        "x": 0.5 if centred else 0,
        "xref": "paper",
        "xanchor": "center" if centred else "left",
        "y": 1,
        "yref": "container",
        "yanchor": "top",
        "pad": {"t": TITLE_PAD},
    }


def _labels(language: str) -> dict[str, str]:
    names = (
        "loss", "accuracy", "batch", "smoothed", "epoch", "val", "epochs", "confusion",
        "confusion_hover", "predicted", "true", "per_class", "digit",
    )  # fmt: skip
    return {name: translate(f"chart.{name}", language) for name in names}


# --- comparing runs ------------------------------------------------------------------------
# Ten colours told apart on a projector (Tableau 10): one per compared run.
RUN_COLORS = (
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
)  # fmt: skip


def compare_curves_figure(runs: list, metric: str, language: str = DEFAULT_LANGUAGE) -> go.Figure:
    """One metric per epoch for several runs: a colour per run, solid for training, dashed for
    validation; the legend names each run by what differs between them ("lr = 0.02")."""
    text = _labels(language)
    differing = differing_fields([run.config for run in runs])
    figure = go.Figure()
    for index, run in enumerate(runs):
        name, color = (
            escape_plotly(run_name(run, differing, language)),
            RUN_COLORS[index % len(RUN_COLORS)],
        )
        epochs = [record.epoch for record in run.history]
        for key, dash in ((metric, "solid"), (f"val_{metric}", "dash")):
            values = [record.metric(key) for record in run.history]
            if all(v is None for v in values):
                continue
            line = _line(name, epochs, values, color)
            figure.add_scatter(
                x=line["x"],
                y=line["y"],
                name=name,
                legendgroup=run.id,
                showlegend=dash == "solid",
                mode="lines+markers",
                line={"color": color, "width": 3, "dash": dash},
                marker={"size": 7},
                hovertemplate=f"{name} · {text['epoch' if dash == 'solid' else 'val']}"
                "<br>%{x}: %{y:.4f}<extra></extra>",
            )
    figure.update_layout(
        title=_title(text[metric]),  # the page says which line is which, once for both
        xaxis={
            "title": {"text": text["epochs"], "font": {"size": AXIS_TITLE_SIZE}},
            "tickfont": {"size": TICK_SIZE},
            "rangemode": "tozero",
            **epoch_ticks(max((len(run.history) for run in runs), default=1)),
        },
        yaxis={
            "tickfont": {"size": TICK_SIZE},
            **(
                {"range": [0, 1], "tickformat": ".0%"}
                if metric == "accuracy"
                else {"rangemode": "tozero"}
            ),
        },
        height=480,
        margin={"l": 10, "r": 10, "t": CURVES_TOP, "b": 10},
        legend={
            "orientation": "h",
            "x": 0,
            "xanchor": "left",
            "y": 1.02,
            "yanchor": "bottom",
            "font": {"size": AXIS_TITLE_SIZE},
        },
    )
    return figure


def parallel_figure(runs: list, language: str = DEFAULT_LANGUAGE) -> go.Figure:
    """Parallel coordinates: the settings that differ between the runs, then test accuracy,
    one line per run coloured by its accuracy. Runs without a test score are left out."""
    scored = [run for run in runs if run.test_accuracy is not None]
    axes = parallel_axes(scored, differing_fields([run.config for run in scored]), language)
    accuracy = [run.test_accuracy for run in scored]
    dimensions = [
        {
            "label": axis.label,
            "values": axis.values,
            "tickvals": axis.tick_values,
            "ticktext": axis.tick_text,
        }
        for axis in axes
    ]
    dimensions.append(
        {
            "label": translate("compare.chart.test_accuracy", language),
            "values": accuracy,
            "tickformat": ".1%",
        }
    )
    figure = go.Figure(
        go.Parcoords(
            dimensions=dimensions,
            line={
                "color": accuracy,
                "colorscale": "Viridis",
                "showscale": True,
                "colorbar": {"tickformat": ".1%", "tickfont": {"size": TICK_SIZE}},
            },
            labelfont={"size": AXIS_TITLE_SIZE},
            tickfont={"size": TICK_SIZE},
            rangefont={"size": 12},
        )
    )
    figure.update_layout(
        title=_title(translate("compare.chart.parallel", language)),
        height=460,
        margin={"l": 60, "r": 40, "t": 110, "b": 30},  # the axis names sit above the axes
    )
    return figure


PROJECTOR_FONT = 22  # px: tick labels, axis titles and numbers read from the back of a room


def for_projector(figure: go.Figure) -> go.Figure:
    """The figure with every text at least PROJECTOR_FONT px (titles larger), for projector mode."""
    big = {"size": PROJECTOR_FONT}
    figure.update_layout(font=big, legend={"font": big}, title={"font": {"size": 28}})
    figure.update_xaxes(tickfont=big, title_font=big)
    figure.update_yaxes(tickfont=big, title_font=big)
    figure.update_traces(textfont=big, selector={"type": "heatmap"})
    figure.update_traces(textfont=big, selector={"type": "bar"})
    return figure


def for_page(figure: go.Figure, language: str, projector: bool, enlarge=None) -> go.Figure:
    """The figure finished for the page it is shown on: the language's decimal and thousands
    marks, and in projector mode its fonts enlarged (by `enlarge`, the figure module's own way,
    else for_projector)."""
    figure.update_layout(separators=plotly_separators(language))
    return (enlarge or for_projector)(figure) if projector else figure
