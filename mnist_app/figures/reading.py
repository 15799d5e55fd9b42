"""What the Draw page shows of a reading after every stroke, built at a stroke's cost: the 28×28
image the network saw and the bar chart of the ten digit probabilities.

The image goes inside the page's message as a 28×28 PNG data URL, which the browser draws large,
each pixel a square (ui.page_style). Handed to Streamlit as an array, it was encoded, kept in the
server's media store and fetched by the browser in a second request. Enlarged here (5× or 9×),
its PNG took 7-10 times as long to make (~0.5 ms of a stroke's server time) and 2-3 times the
bytes.

Plotly checks every property of a figure it builds: ~5 ms for this chart, the largest part of a
stroke's server time (bench/stroke_cpu.py). Only the bars' heights, colours and labels change
from one stroke to the next, so the chart is built and checked once per language and size
(`frame`), and each stroke's chart is that frame with its bars filled in, handed to Streamlit as
it is (`SentFigure`): built as a plotly Figure, even unchecked, and copied again by Streamlit,
it took ~0.6 ms more of every stroke here, 1-1.5 ms on a server woken by the stroke.
"""

from __future__ import annotations

import base64
import functools
import io
import json

import numpy as np
import plotly.graph_objects as go
import plotly.io
from _plotly_utils.utils import convert_to_base64
from PIL import Image

from mnist_app.figures.charts import TRAIN_COLOR, VALIDATION_COLOR, for_page
from mnist_app.i18n import DEFAULT_LANGUAGE, LANGUAGES, translate


def seen_image_url(image: np.ndarray) -> str:
    """A 28×28 image in [0, 1] as a PNG data URL (its grey levels cut to 8 bits as Streamlit's
    st.image cuts them; a PNG keeps them exactly)."""
    pixels = (np.asarray(image, dtype=np.float64) * 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


class SentFigure(go.Figure):
    """A chart already checked and finished for its page, as plotly's JSON. What st.plotly_chart
    sends of a plotly figure is its to_dict(); this one returns its spec as it is, where a Figure
    makes an object of every property and Streamlit copies them all again. It has none of a
    Figure's other workings: change its spec, not it (ui.plotly_chart sends it untouched).
    tests/test_reading_figures.py checks that Streamlit sends it as the plain figure."""

    def __init__(self, spec: dict) -> None:  # not go.Figure's: nothing to build or to check
        self._spec = spec

    def to_dict(self) -> dict:
        return self._spec

    to_plotly_json = to_dict


def probabilities_figure(
    probabilities: np.ndarray, language: str = DEFAULT_LANGUAGE, projector: bool = False
) -> SentFigure:
    """Bar chart of the ten digit probabilities, the model's answer highlighted: the same chart
    as `checked_probabilities_figure` finished for its page (charts.for_page: the language's
    decimal marks, large for the projector), built from their frame."""
    spec = json.loads(frame(language, plotly.io.templates.default, projector))  # a fresh copy
    spec["data"][0].update(bars(np.asarray(probabilities, dtype=np.float64)))
    convert_to_base64(spec["data"])  # the bars' heights as plotly sends arrays (typed, base64)
    return SentFigure(spec)


@functools.lru_cache(maxsize=8 * len(LANGUAGES))
def frame(language: str, template: str, projector: bool = False) -> str:
    """The chart in `language` without its bars, checked by plotly and finished for its page
    as ui.plotly_chart finishes any other chart (charts.for_page), as JSON; `template`, the name
    of plotly's default template it is drawn with (Streamlit's once Streamlit is loaded). Of the
    template's styles for each kind of trace only the bars' are kept: the others (scatter,
    heatmap, table...) are never drawn here, and copying and sending them took half of every
    stroke's chart.
    """
    figure = checked_probabilities_figure(np.zeros(10), language)
    spec = for_page(figure, language, projector).to_plotly_json()
    for name in bars(np.zeros(10)):
        del spec["data"][0][name]
    styles = spec["layout"]["template"].get("data", {})
    spec["layout"]["template"]["data"] = {kind: styles[kind] for kind in styles if kind == "bar"}
    return json.dumps(spec)


def bars(values: np.ndarray) -> dict:
    """What one reading changes in the chart: the bars' heights, colours and labels."""
    colors = [VALIDATION_COLOR if d == values.argmax() else TRAIN_COLOR for d in range(len(values))]
    return {"y": values, "marker": {"color": colors}, "text": [f"{v:.0%}" for v in values]}


def checked_probabilities_figure(probabilities: np.ndarray, language: str) -> go.Figure:
    """The chart built the plain plotly way, every property checked (~5 ms)."""
    values = np.asarray(probabilities, dtype=np.float64)
    figure = go.Figure(  # drawn with plotly's default template, as named in `frame`
        go.Bar(
            x=[str(d) for d in range(len(values))],
            **bars(values),
            textposition="outside",
            cliponaxis=False,
        )
    )
    figure.update_layout(
        title=translate("draw.chart.title", language),
        xaxis={"title": translate("draw.chart.digit", language), "type": "category"},
        yaxis={
            "title": translate("draw.chart.probability", language),
            "range": [0, 1.1],
            "tickformat": ".0%",
        },
        height=320,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
    )
    return figure
