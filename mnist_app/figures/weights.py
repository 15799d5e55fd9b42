"""Figures of a run's weights over training: each layer's histogram at one epoch, and every
layer's gradient norm across the epochs."""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from mnist_app.engine.weight_history import EpochWeights, LayerWeights
from mnist_app.figures.charts import (
    AXIS_TITLE_SIZE,
    PROJECTOR_FONT,
    RUN_COLORS,
    TITLE_SIZE,
    TRAIN_COLOR,
)
from mnist_app.i18n import DEFAULT_LANGUAGE, decimal_mark, plotly_separators, translate

INITIAL_COLOR = "#6c757d"  # grey: the weights before training, drawn behind today's bars
ROW_HEIGHT = 250  # px per row of histograms (320 in projector mode)
TOP = 110  # the title, then the legend


def at_epoch(history: list[EpochWeights], epoch: int) -> EpochWeights:
    """The record of that epoch (the nearest earlier one if it is missing)."""
    earlier = [record for record in history if record.epoch <= epoch]
    return earlier[-1] if earlier else history[0]


def density(layer: LayerWeights) -> np.ndarray:
    """Each bin's share of the weights divided by its width: the bins of different epochs differ
    in width, and only densities can be laid over one another (each encloses an area of 1)."""
    counts = np.asarray(layer.counts, dtype=np.float64)
    return counts / max(counts.sum(), 1) / np.diff(np.asarray(layer.edges))


def nonfinite_weights(record: EpochWeights) -> int:
    """How many weights are NaN or infinite at that epoch (a run that blew up)."""
    return sum(layer.nonfinite for layer in record.layers)


def histograms_figure(
    history: list[EpochWeights], epoch: int, language: str = DEFAULT_LANGUAGE, large: bool = False
) -> go.Figure:
    """One small histogram per layer at `epoch`, the initial weights outlined behind it.

    Each layer keeps the same axes at every epoch, so moving through the epochs shows the
    weights spreading out (or not) rather than the axes changing.
    """
    text = _texts(language)
    record, first = at_epoch(history, epoch), history[0]
    columns = min(len(record.layers), 2 if large else 3)  # every model has its output layer
    rows = math.ceil(len(record.layers) / columns)
    titles = [_layer_title(layer, language) for layer in record.layers]
    figure = make_subplots(
        rows, columns, subplot_titles=titles, horizontal_spacing=0.06, vertical_spacing=0.22 / rows
    )
    for i, layer in enumerate(record.layers):
        row, col = i // columns + 1, i % columns + 1
        if layer.edges:
            edges = np.asarray(layer.edges)
            figure.add_bar(
                x=(edges[:-1] + edges[1:]) / 2,
                y=density(layer),
                width=np.diff(edges),
                customdata=layer.counts,
                marker={"color": TRAIN_COLOR, "line": {"width": 0}},
                opacity=0.85,
                name=text["now"].format(epoch=record.epoch),
                legendgroup="now",
                showlegend=i == 0 and record.epoch != first.epoch,
                hovertemplate=text["hover"],
                row=row,
                col=col,
            )
        start = _same_layer(first, layer)
        if start is not None and record.epoch != first.epoch and start.edges:
            heights = density(start)
            figure.add_scatter(
                x=[start.edges[0], *start.edges],
                y=[0, *heights, 0],
                line_shape="hv",
                line={"color": INITIAL_COLOR, "width": 2},
                name=text["initial"],
                legendgroup="initial",
                showlegend=i == 0,
                hoverinfo="skip",
                row=row,
                col=col,
            )
        low, high, tallest = _layer_extent(history, layer.name)
        figure.update_xaxes(range=[low, high], row=row, col=col)
        figure.update_yaxes(range=[0, tallest * 1.08], row=row, col=col)
    figure.update_xaxes(title={"text": text["value"]}, row=rows)
    figure.update_yaxes(title={"text": text["count"]}, col=1)
    title = text["title_start"] if record.epoch == 0 else text["title"].format(epoch=record.epoch)
    figure.update_annotations(font={"size": PROJECTOR_FONT if large else AXIS_TITLE_SIZE})
    top = TOP + (40 if large else 0)
    height = top + rows * (320 if large else ROW_HEIGHT)
    figure.update_layout(
        title=_title(title),
        height=height,
        bargap=0,
        separators=plotly_separators(language),
        margin={"l": 10, "r": 10, "t": top, "b": 10},
        # Under the title, above the subplots' own titles: measured from the figure's top edge.
        legend={
            "orientation": "h",
            "x": 0,
            "xanchor": "left",
            "yref": "container",
            "y": 1 - (60 if large else 50) / height,
            "yanchor": "top",
        },
    )
    return figure


def gradients_figure(
    history: list[EpochWeights], epoch: int, language: str = DEFAULT_LANGUAGE, large: bool = False
) -> go.Figure:
    """Each layer's gradient norm against the epochs, on a log scale, `epoch` marked."""
    text = _texts(language)
    figure = go.Figure()
    names = list(dict.fromkeys(layer.name for record in history for layer in record.layers))
    for i, name in enumerate(names):
        points = [(r.epoch, _same_layer(r, name)) for r in history]
        epochs = [e for e, layer in points if layer is not None]
        norms = [layer.gradient_norm for _, layer in points if layer is not None]
        color = RUN_COLORS[i % len(RUN_COLORS)]
        figure.add_scatter(
            x=epochs,
            y=norms,
            name=name,
            mode="lines+markers",
            line={"color": color, "width": 2.5},
            marker={"size": 8, "color": color},
            hovertemplate=text["grad_hover"],
        )
    figure.add_vline(x=epoch, line={"color": INITIAL_COLOR, "dash": "dash", "width": 2})
    figure.update_layout(
        title=_title(text["grad_title"]),
        height=500 if large else 400,
        separators=plotly_separators(language),
        xaxis={
            "title": {"text": text["epochs"]},
            "dtick": 1 if len(history) <= 20 else None,
            "range": [history[0].epoch - 0.2, history[-1].epoch + 0.2],
        },
        # 1-2-5 ticks given one by one: plotly draws its own in-between log labels ("D2") at
        # three quarters of the font, too small on a projector.
        yaxis={
            "title": {"text": text["grad_axis"]},
            "type": "log",
            "tickvals": log_ticks([n for r in history for n in _norms(r)]),
            "tickformat": "~g",
        },
        margin={"l": 10, "r": 10, "t": TOP, "b": 10},
        legend={"orientation": "h", "x": 0, "xanchor": "left", "y": 1.02, "yanchor": "bottom"},
    )
    return figure


def _norms(record: EpochWeights) -> list[float]:
    return [layer.gradient_norm for layer in record.layers if layer.gradient_norm]


def log_ticks(values: list[float]) -> list[float] | None:
    """1, 2 and 5 times each power of ten from just below the smallest value to just above the
    largest (None, plotly's own, when there is no positive value)."""
    positive = [v for v in values if v > 0]
    if not positive:
        return None
    low, high = min(positive), max(positive)
    return [
        mantissa * 10.0**power
        for power in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
        for mantissa in (1, 2, 5)
        if low / 2.5 <= mantissa * 10.0**power <= high * 2.5
    ]


def epoch_label(epoch: int, language: str = DEFAULT_LANGUAGE) -> str:
    """How the slider names an epoch: 0 is the start, before any training."""
    return translate("weights.start", language) if epoch == 0 else str(epoch)


def _same_layer(record: EpochWeights, layer: LayerWeights | str) -> LayerWeights | None:
    name = layer if isinstance(layer, str) else layer.name
    return next((candidate for candidate in record.layers if candidate.name == name), None)


def _layer_extent(history: list[EpochWeights], name: str) -> tuple[float, float, float]:
    """A layer's smallest and largest weight and its tallest density over all epochs."""
    layers = [layer for r in history if (layer := _same_layer(r, name)) and layer.edges]
    if not layers:
        return -1.0, 1.0, 1
    low, high = min(layer.low for layer in layers), max(layer.high for layer in layers)
    pad = 0.03 * (high - low or 1.0)
    return low - pad, high + pad, max(float(density(layer).max()) for layer in layers) or 1.0


def _layer_title(layer: LayerWeights, language: str) -> str:
    shape = "×".join(str(n) for n in layer.shape)
    return translate(
        "weights.hist.layer",
        language,
        name=layer.name,
        shape=shape,
        std=_short(layer.std, language),
    )


def _short(value: float | None, language: str) -> str:
    """Three significant digits, with the language's decimal mark."""
    if value is None:
        return "–"
    return decimal_mark(f"{value:.3g}", language)


def _title(text: str) -> dict:
    return {
        "text": text,
        "font": {"size": TITLE_SIZE},
        "x": 0,
        "xref": "paper",
        "y": 1,
        "yref": "container",
        "yanchor": "top",
        "pad": {"t": 12},
    }


def _texts(language: str) -> dict[str, str]:
    keys = {"title": "hist.title", "title_start": "hist.title_start", "now": "hist.now",
            "initial": "hist.initial", "value": "hist.value", "count": "hist.count",
            "hover": "hist.hover", "grad_title": "grad.title", "grad_axis": "grad.axis",
            "epochs": "grad.epochs", "grad_hover": "grad.hover"}  # fmt: skip
    return {name: translate(f"weights.{key}", language) for name, key in keys.items()}
