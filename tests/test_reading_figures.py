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
from streamlit.testing.v1 import AppTest

from mnist_app.figures.charts import PROJECTOR_FONT, for_projector
from mnist_app.figures.reading import (
    checked_probabilities_figure,
    frame,
    probabilities_figure,
    seen_image_url,
)
from mnist_app.i18n import LANGUAGES, plotly_separators

RNG = np.random.default_rng(27)
PROBABILITIES = [RNG.dirichlet(np.ones(10)), np.eye(10)[7], np.full(10, 0.1)]


def as_sent(figure) -> dict:
    """The figure as Streamlit sends it to the browser (st.plotly_chart's own conversion)."""
    return json.loads(plotly.io.to_json(figure, validate=False))


def bar_template_only(spec: dict) -> dict:
    styles = spec["layout"]["template"]["data"]
    spec["layout"]["template"]["data"] = {kind: styles[kind] for kind in styles if kind == "bar"}
    return spec


def finished(figure, lang: str, projector: bool):
    """A chart finished as ui.plotly_chart finishes one: the language's decimal marks, and for
    the projector for_projector's fonts."""
    figure.update_layout(separators=plotly_separators(lang))
    return for_projector(figure) if projector else figure


@pytest.mark.parametrize("template", ["plotly", "streamlit"])  # Streamlit's, in the app
@pytest.mark.parametrize("lang", list(LANGUAGES))
@pytest.mark.parametrize("probabilities", PROBABILITIES, ids=["random", "sure", "even"])
def test_the_chart_is_plotlys_checked_chart(lang, probabilities, template, monkeypatch):
    """Every bar, label, colour, title and axis as plotly's checked figure has them, finished
    for the page (and the projector); of the template only the bars' trace style, as a bar
    chart uses."""
    monkeypatch.setattr(plotly.io.templates, "default", template)
    for projector in (False, True):
        checked = finished(checked_probabilities_figure(probabilities, lang), lang, projector)
        fast = as_sent(probabilities_figure(probabilities, lang, projector))
        assert fast == bar_template_only(as_sent(checked))
        assert fast["layout"]["template"]["layout"]  # the look Streamlit's theme adjusts, all kept
        assert fast["layout"]["separators"] == plotly_separators(lang)
        if projector:
            assert fast["layout"]["xaxis"]["tickfont"]["size"] == PROJECTOR_FONT


def test_the_chart_frame_is_built_once_per_language_template_and_size(monkeypatch):
    monkeypatch.setattr(plotly.io.templates, "default", "streamlit")
    frame.cache_clear()
    first, second = (probabilities_figure(p, "en") for p in PROBABILITIES[:2])
    assert frame.cache_info().misses == 1 and frame.cache_info().hits == 1
    assert as_sent(first)["data"][0]["text"] != as_sent(second)["data"][0]["text"]
    first.to_dict()["layout"]["title"]["text"] = "changed"  # a chart changed after it was built
    assert as_sent(probabilities_figure(PROBABILITIES[1], "en")) == as_sent(second)  # not the frame
    other = next(lang for lang in LANGUAGES if lang != "en")
    assert frame(other, "streamlit", False) != frame("en", "streamlit", False)  # its own titles
    assert frame.cache_info().misses == 2
    assert frame("en", "streamlit", True) != frame("en", "streamlit", False)  # projector's size
    assert frame.cache_info().misses == 3
    monkeypatch.setattr(plotly.io.templates, "default", "plotly")  # plotly's look, not the app's
    assert as_sent(probabilities_figure(PROBABILITIES[1], "en")) != as_sent(second)
    assert frame.cache_info().misses == 4


SENT_SCRIPT = """
import numpy as np
import streamlit as st

from streamlit.testing.v1 import AppTest

from mnist_app.figures.charts import PROJECTOR_FONT, for_projector
from mnist_app.figures.reading import checked_probabilities_figure, probabilities_figure
from mnist_app.i18n import plotly_separators

probabilities = np.full(10, 0.02)
probabilities[3] = 0.82
for lang, projector in (("es", False), ("en", True)):
    st.plotly_chart(probabilities_figure(probabilities, lang, projector), key=f"fast_{lang}")
    plain = checked_probabilities_figure(probabilities, lang)
    plain.update_layout(separators=plotly_separators(lang))
    st.plotly_chart(for_projector(plain) if projector else plain, key=f"plain_{lang}")
"""


def test_streamlit_sends_the_finished_chart_as_it_sends_the_plain_figure():
    """st.plotly_chart's own path (it reads a figure's to_dict()) gives the browser the same
    chart for a SentFigure as for the plotly figure finished the plain way: a Streamlit that
    read a figure otherwise would fail here."""
    at = AppTest.from_string(SENT_SCRIPT, default_timeout=60).run()
    assert not at.exception
    fast_es, plain_es, fast_en, plain_en = (
        json.loads(chart.proto.spec) for chart in at.get("plotly_chart")
    )
    assert fast_es == bar_template_only(plain_es) and fast_en == bar_template_only(plain_en)
    assert fast_es["layout"]["separators"] == ",." and fast_en["layout"]["font"]["size"] == 22


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
