"""What the Draw page shows of a reading, built at a stroke's cost (mnist_app/figures/reading.py),
judged against the same built the plain way: plotly's checked figure, Streamlit's own image."""

import base64
import io
import json

import numpy as np
import plotly.io
import pytest
from PIL import Image
from streamlit.elements.lib.image_utils import _np_array_to_bytes

from mnist_app.figures.charts import for_projector
from mnist_app.figures.reading import (
    checked_probabilities_figure,
    frame,
    probabilities_figure,
    seen_image_url,
)
from mnist_app.i18n import LANGUAGES

RNG = np.random.default_rng(27)
PROBABILITIES = [RNG.dirichlet(np.ones(10)), np.eye(10)[7], np.full(10, 0.1)]


def as_sent(figure) -> dict:
    """The figure as Streamlit sends it to the browser (st.plotly_chart's own conversion)."""
    return json.loads(plotly.io.to_json(figure, validate=False))


def bar_template_only(spec: dict) -> dict:
    styles = spec["layout"]["template"]["data"]
    spec["layout"]["template"]["data"] = {kind: styles[kind] for kind in styles if kind == "bar"}
    return spec


@pytest.mark.parametrize("template", ["plotly", "streamlit"])  # Streamlit's, in the app
@pytest.mark.parametrize("lang", list(LANGUAGES))
@pytest.mark.parametrize("probabilities", PROBABILITIES, ids=["random", "sure", "even"])
def test_the_chart_is_plotlys_checked_chart(lang, probabilities, template, monkeypatch):
    """Every bar, label, colour, title and axis as plotly's checked figure has them; of the
    template only the bars' trace style, as a bar chart uses."""
    monkeypatch.setattr(plotly.io.templates, "default", template)
    checked = as_sent(checked_probabilities_figure(probabilities, lang))
    fast = as_sent(probabilities_figure(probabilities, lang))
    assert fast == bar_template_only(checked)
    assert fast["layout"]["template"]["layout"]  # the look Streamlit's theme adjusts, all kept
    projected = as_sent(for_projector(probabilities_figure(probabilities, lang)))
    assert projected == bar_template_only(
        as_sent(for_projector(checked_probabilities_figure(probabilities, lang)))
    )


def test_the_chart_frame_is_built_once_per_language_and_template(monkeypatch):
    monkeypatch.setattr(plotly.io.templates, "default", "streamlit")
    frame.cache_clear()
    first, second = (probabilities_figure(p, "en") for p in PROBABILITIES[:2])
    assert frame.cache_info().misses == 1 and frame.cache_info().hits == 1
    assert as_sent(first)["data"][0]["text"] != as_sent(second)["data"][0]["text"]
    for_projector(first)  # a figure changed after it was built leaves the frame as it was
    assert as_sent(probabilities_figure(PROBABILITIES[1], "en")) == as_sent(second)
    other = next(lang for lang in LANGUAGES if lang != "en")
    assert frame(other, "streamlit") != frame("en", "streamlit")  # its own titles
    assert frame.cache_info().misses == 2
    monkeypatch.setattr(plotly.io.templates, "default", "plotly")  # plotly's look, not the app's
    assert as_sent(probabilities_figure(PROBABILITIES[1], "en")) != as_sent(second)
    assert frame.cache_info().misses == 3


def decoded(url: str) -> np.ndarray:
    header = "data:image/png;base64,"
    assert url.startswith(header)
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url[len(header) :]))))


def test_the_image_is_what_streamlit_would_show():
    """Each pixel the grey level Streamlit's st.image gives it, exactly (st.image itself sends
    it as a JPEG, within a few levels); the browser draws it large (test_browser_draw)."""
    image = RNG.random((28, 28))
    image[3:9, 10:14] = 1.0
    image[20:, :] = 0.0
    shown = decoded(seen_image_url(image))
    assert shown.shape == (28, 28) and shown.dtype == np.uint8
    levels = (image * 255).astype(np.uint8)  # how Streamlit turns [0, 1] into 8 bits
    np.testing.assert_array_equal(shown, levels)
    for zoom in (5, 9):  # what the page gave st.image before, enlarged
        big = np.kron(image, np.ones((zoom, zoom)))
        streamlit_jpeg = np.asarray(Image.open(io.BytesIO(_np_array_to_bytes(big * 255))))
        assert np.abs(streamlit_jpeg[::zoom, ::zoom].astype(int) - shown).max() <= 8
