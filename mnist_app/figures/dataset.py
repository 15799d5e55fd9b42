"""The Data page's figures: MNIST's splits, the digits in each, one digit's pixels, the mean
digits and the grey levels under each input scaling."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from mnist_app.engine.config import TRAIN_IMAGES
from mnist_app.engine.data import load_mnist
from mnist_app.figures import charts
from mnist_app.i18n import DEFAULT_LANGUAGE, format_number, plotly_separators, translate
from mnist_app.inspect.dataset import SPLITS, pixel_counts, scaled_levels, validation_cut

SPLIT_COLORS = {
    "train": charts.TRAIN_COLOR,
    "validation": charts.VALIDATION_COLOR,
    "test": "#5f6b7a",
}
INK_SCALE = [[0.0, "black"], [1.0, "white"]]  # MNIST's own look: white ink on black
MATRIX_TEXT_SIZE = 9  # px: 784 numbers fit their cells at 9 px on a page, 13 px on a projector
MATRIX_PROJECTOR_TEXT_SIZE = 13


def split_figure(validation_size: int, language: str = DEFAULT_LANGUAGE) -> go.Figure:
    """MNIST's two files as bars of image numbers; the training file's end cut for validation."""
    text = _texts(language)
    cut, test_images = validation_cut(validation_size), len(load_mnist()[2])
    rows = {"train": text["file_train"], "test": text["file_test"]}
    parts = (
        ("train", rows["train"], 0, cut),
        ("validation", rows["train"], cut, TRAIN_IMAGES),
        ("test", rows["test"], 0, test_images),
    )
    figure = go.Figure()
    for split, row, start, end in parts:
        if end > start:
            size = format_number(end - start, 0, language)
            figure.add_bar(
                y=[row],
                x=[end - start],
                base=[start],
                orientation="h",
                name=text[split],
                marker_color=SPLIT_COLORS[split],
                text=[f"{text[split]}: {size}"],
                textposition="inside",
                insidetextanchor="middle",
                textfont={"size": 16},
                hovertemplate=f"{text[split]}: {size}<extra></extra>",
            )
    if 0 < cut < TRAIN_IMAGES:
        figure.add_annotation(
            x=cut,
            y=rows["train"],
            yshift=34,
            showarrow=False,
            font={"size": 15},
            text=translate("data.chart.cut", language, n=format_number(cut, 0, language)),
        )
    figure.update_layout(
        barmode="overlay",
        showlegend=False,
        height=230,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        xaxis={"title": text["image_number"], "range": [0, TRAIN_IMAGES], "tickformat": ","},
        yaxis={"autorange": "reversed", "tickfont": {"size": charts.TICK_SIZE}},
        separators=plotly_separators(language),
    )
    return figure


def counts_figure(counts: dict[str, np.ndarray], language: str = DEFAULT_LANGUAGE) -> go.Figure:
    """Grouped bars: how many of each digit each split holds."""
    text = _texts(language)
    figure = go.Figure()
    for split in SPLITS:
        figure.add_bar(
            x=[str(d) for d in range(10)],
            y=counts[split].tolist(),
            name=text[split],
            marker_color=SPLIT_COLORS[split],
            hovertemplate=f"{text[split]} · %{{x}}: %{{y:,}}<extra></extra>",
        )
    figure.update_layout(
        barmode="group",
        height=380,
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        xaxis={"title": text["digit"], "type": "category"},
        yaxis={"title": text["images"]},
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0},
        separators=plotly_separators(language),
    )
    return figure


def matrix_figure(image: np.ndarray, language: str = DEFAULT_LANGUAGE) -> go.Figure:
    """One digit as its 28 × 28 grey levels: each cell coloured and its number written in."""
    text = _texts(language)
    figure = go.Figure(
        go.Heatmap(
            z=image,
            text=image,
            texttemplate="%{text}",
            textfont={"size": MATRIX_TEXT_SIZE},
            colorscale=INK_SCALE,
            zmin=0,
            zmax=255,
            xgap=1,
            ygap=1,
            name="matrix",
            colorbar={"title": {"text": text["grey_level"]}, "tickvals": [0, 64, 128, 192, 255]},
            hovertemplate=text["matrix_hover"] + "<extra></extra>",
        )
    )
    figure.update_layout(
        height=760,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        xaxis={"title": text["column"], "dtick": 3, "side": "top", "constrain": "domain"},
        yaxis={
            "title": text["row"],
            "dtick": 3,
            "autorange": "reversed",
            "scaleanchor": "x",
            "constrain": "domain",
        },
    )
    return figure


def means_figure(means: np.ndarray, language: str = DEFAULT_LANGUAGE) -> go.Figure:
    """The ten mean images side by side, on one grey scale."""
    text = _texts(language)
    figure = make_subplots(
        rows=2,
        cols=5,
        subplot_titles=[str(d) for d in range(10)],
        horizontal_spacing=0.02,
        vertical_spacing=0.08,
    )
    for digit, mean in enumerate(means):
        figure.add_trace(
            go.Heatmap(
                z=mean.round(1),
                coloraxis="coloraxis",
                hovertemplate=text["mean_hover"] + "<extra></extra>",
            ),
            row=digit // 5 + 1,
            col=digit % 5 + 1,
        )
    figure.update_xaxes(visible=False, constrain="domain")
    figure.update_yaxes(visible=False, autorange="reversed", scaleanchor="x", constrain="domain")
    for axis in range(2, 11):  # each picture square, keeping to its own x axis
        figure.update_yaxes(scaleanchor=f"x{axis}", row=(axis - 1) // 5 + 1, col=(axis - 1) % 5 + 1)
    figure.update_layout(
        height=440,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        coloraxis={
            "colorscale": INK_SCALE,
            "cmin": 0,
            "cmax": 255,
            "colorbar": {"title": {"text": text["grey_level"]}},
        },
    )
    return figure


def histogram_figure(scalings: tuple[str, ...], language: str = DEFAULT_LANGUAGE) -> go.Figure:
    """The training set's pixel values, once per scaling, each under the scaling's name (on a
    log axis: most pixels are 0)."""
    text = _texts(language)
    names = [translate(f"choice.scaling.{scaling}", language) for scaling in scalings]
    height = 60 + 250 * len(scalings)
    figure = make_subplots(
        rows=len(scalings), cols=1, subplot_titles=names, vertical_spacing=80 / height
    )
    hover = text["histogram_hover"] + "<extra></extra>"
    for row, (scaling, name) in enumerate(zip(scalings, names, strict=True), start=1):
        figure.add_bar(
            x=scaled_levels(scaling).levels,
            y=pixel_counts(),
            name=name,
            row=row,
            col=1,
            marker_color=charts.TRAIN_COLOR,
            hovertemplate=hover,
        )
    figure.update_yaxes(type="log", title={"text": text["pixels"]})
    figure.update_layout(
        height=height,
        showlegend=False,
        bargap=0,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        separators=plotly_separators(language),
    )
    return figure


def for_projector(figure: go.Figure) -> go.Figure:
    """charts.for_projector, except that a digit's 784 numbers keep a size that fits their cells."""
    figure = charts.for_projector(figure)
    big = {"size": charts.PROJECTOR_FONT}
    figure.update_annotations(font=big)  # the cut's label, the subplots' titles
    figure.update_coloraxes(colorbar={"tickfont": big, "title": {"font": big}})
    figure.update_traces(textfont={"size": MATRIX_PROJECTOR_TEXT_SIZE}, selector={"name": "matrix"})
    if any(trace.name == "matrix" for trace in figure.data):
        figure.update_layout(height=1000)
        figure.update_xaxes(dtick=4)
        figure.update_yaxes(dtick=4)
    return figure


def _texts(language: str) -> dict[str, str]:
    names = (
        "train", "validation", "test", "file_train", "file_test", "image_number", "digit",
        "images", "grey_level", "column", "row", "matrix_hover", "mean_hover", "histogram_hover",
        "pixels",
    )  # fmt: skip
    return {name: translate(f"data.chart.{name}", language) for name in names}
