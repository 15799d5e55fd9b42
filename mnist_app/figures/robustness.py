"""The Robustness page's figure and examples: accuracy against strength, one small chart per
family, one line per model, the 95% margin of error as error bars."""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from mnist_app.engine.data import load_mnist
from mnist_app.figures.charts import (
    AXIS_TITLE_SIZE,
    PROJECTOR_FONT,
    RUN_COLORS,
    TICK_SIZE,
    TITLE_PAD,
    TITLE_SIZE,
)
from mnist_app.i18n import DEFAULT_LANGUAGE, decimal_mark, format_number, translate
from mnist_app.inspect.robustness import FAMILIES, FAMILY, SEED, Robustness
from mnist_app.text import escape_plotly

CHANCE = 0.1  # one digit in ten: what guessing scores
ROW_HEIGHT = 300  # px per row of small charts
# Pixels from the top edge: to the legend (under the two-line title), and to the first charts
# (below the legend and the families' names); larger in projector mode, whose fonts are larger.
LEGEND_AT, TOP = {False: 70, True: 100}, {False: 150, True: 190}
EXAMPLE_DIGIT = 0  # the test digit the examples change (a 7)


def robustness_figure(
    results: list[tuple[str, Robustness]], language: str = DEFAULT_LANGUAGE, large: bool = False
) -> go.Figure:
    """A small chart per family, accuracy against its strengths (evenly spaced, in order), a
    line per named model with its margin of error; the title says how many images each point
    stands on. `large`: two charts a row, for projector mode (see charts.for_projector)."""
    columns = 2 if large else 3
    rows = math.ceil(len(FAMILIES) / columns)
    titles = [translate(f"robustness.family.{family.name}", language) for family in FAMILIES]
    figure = make_subplots(
        rows=rows,
        cols=columns,
        subplot_titles=titles,
        horizontal_spacing=0.06,
        vertical_spacing=0.5 / rows,
        shared_yaxes=True,
    )
    for number, (model, result) in enumerate(results):
        name, color = escape_plotly(model), RUN_COLORS[number % len(RUN_COLORS)]
        for index, family in enumerate(FAMILIES):
            points = result.families[family.name]
            figure.add_scatter(
                x=list(range(len(points))),
                y=[p.accuracy for p in points],
                error_y={"type": "data", "array": [p.margin for p in points], "thickness": 1.5},
                name=name,
                legendgroup=name,
                showlegend=index == 0,
                mode="lines+markers",
                line={"color": color, "width": 3},
                marker={"size": 8},
                customdata=[[strength_text(p.strength, language), p.margin, p.n] for p in points],
                hovertemplate=f"{name}<br>%{{customdata[0]}}: %{{y:.1%}} ± %{{customdata[1]:.1%}}"
                " (n = %{customdata[2]:,})<extra></extra>",
                row=index // columns + 1,
                col=index % columns + 1,
            )
    _label_axes(figure, language, columns, AXIS_TITLE_SIZE + (8 if large else 0))
    height = rows * ROW_HEIGHT + TOP[large]
    figure.update_layout(
        title={
            "text": sample_note(results, language),
            "font": {"size": TITLE_SIZE - 2},
            "subtitle": {
                "text": translate("robustness.chart.bars", language),
                "font": {"size": PROJECTOR_FONT if large else AXIS_TITLE_SIZE - 2},
            },
            "x": 0,
            "xref": "paper",
            "y": 1,
            "yref": "container",
            "yanchor": "top",
            "pad": {"t": TITLE_PAD},
        },
        legend={
            "orientation": "h",
            "x": 0,
            "xanchor": "left",
            "y": 1 - LEGEND_AT[large] / height,
            "yref": "container",
            "yanchor": "top",
            "font": {"size": AXIS_TITLE_SIZE},
        },
        height=height,
        margin={"l": 10, "r": 10, "t": TOP[large], "b": 10},
    )
    return figure


def _label_axes(figure: go.Figure, language: str, columns: int, names_size: int) -> None:
    """Each chart's strengths and unit under it, accuracy from 0 to 100%, chance dotted."""
    for index, family in enumerate(FAMILIES):
        figure.update_xaxes(
            title={
                "text": translate(f"robustness.unit.{family.name}", language),
                "font": {"size": AXIS_TITLE_SIZE - 2},
            },
            tickvals=list(range(len(family.strengths))),
            tickfont={"size": TICK_SIZE - 3},
            ticktext=[strength_text(s, language) for s in family.strengths],
            range=[-0.3, len(family.strengths) - 0.7],
            row=index // columns + 1,
            col=index % columns + 1,
        )
    figure.update_yaxes(range=[0, 1.05], tickformat=".0%", tickfont={"size": TICK_SIZE - 3})
    figure.add_hline(
        y=CHANCE, line={"dash": "dot", "color": "#888", "width": 1}, row="all", col="all"
    )
    figure.update_annotations(font={"size": names_size})  # the families' names


def strength_text(strength: float, language: str = DEFAULT_LANGUAGE) -> str:
    """A strength as a reader writes it: 0,05 in Spanish, −1 with a real minus sign."""
    return decimal_mark(f"{strength:g}".replace("-", "−"), language)


def sample_note(results: list[tuple[str, Robustness]], language: str = DEFAULT_LANGUAGE) -> str:
    """How many test images each point stands on."""
    samples = sorted({result.sample for _, result in results})
    counts = " / ".join(format_number(n, 0, language) for n in samples)
    return translate(
        "robustness.chart.note", language, sample=counts, all=format_number(10_000, 0, language)
    )


def examples(family: str, index: int = EXAMPLE_DIGIT) -> np.ndarray:
    """One test digit at each strength of a family, as the models were shown it."""
    digit = load_mnist()[2][index : index + 1]
    change = FAMILY[family].change
    return np.concatenate([change(digit, strength, SEED) for strength in FAMILY[family].strengths])
