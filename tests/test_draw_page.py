"""The Draw page without the canvas: model picker, ?model=, uploads, both languages."""

import io
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from apptest_text import held_run, page_text
from PIL import Image, ImageDraw
from streamlit.testing.v1 import AppTest
from test_model_files import bad_model

from mnist_app.drawing.predict import DEFAULT_KEY, DEFAULT_MODEL_ENV, ModelKind, model_choices
from mnist_app.engine.config import RunConfig
from mnist_app.engine.records import Outcome
from mnist_app.engine.status import RunStatus
from mnist_app.engine.training import train
from mnist_app.figures.charts import PROJECTOR_FONT
from mnist_app.i18n import LANGUAGES, catalogue, plotly_separators, translate
from mnist_app.runs.managers import shared_manager
from mnist_app.text import WORD_JOINER, escape_markdown

APP = str(Path(__file__).resolve().parent.parent / "app.py")
TINY_RUN = RunConfig(limit=500, epochs=1, batch_size=50, validation_size=0, scaling="centered")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> str:
    """A real MLP trained for one epoch on 500 MNIST images."""
    path = tmp_path_factory.mktemp("models") / "tiny.keras"
    train(TINY_RUN, model_path=path)
    return str(path)


def finished_run(model_path: str) -> str:
    """Record a finished run in the store the page reads (the process' shared manager's)."""
    store = shared_manager().store
    run_id = store.create(TINY_RUN, preset=None)
    store.record_outcome(
        run_id, Outcome(RunStatus.FINISHED, model_path=str(model_path), test_accuracy=0.8)
    )
    return run_id


def draw_page(lang: str = "en", **query: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["lang"] = lang
    at.run()
    at.query_params.update(query)
    at.switch_page("pages/draw.py").run()
    assert not at.exception
    return at


def png_of_seven(ink: int = 0, paper: int = 255) -> bytes:
    picture = Image.new("L", (300, 400), paper)
    ImageDraw.Draw(picture).line([(60, 60), (240, 60), (120, 340)], fill=ink, width=24)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def test_the_shipped_model_is_picked_first_and_finished_runs_are_offered(tiny_model):
    run_id = finished_run(tiny_model)
    at = draw_page()
    picker = at.selectbox(key="draw_model")
    assert at.session_state["draw_model"] == DEFAULT_KEY
    assert any(run_id in label for label in picker.options)
    assert at.info[0].value == translate("draw.prompt", "en")  # an empty canvas: a prompt


def test_model_query_parameter_preselects_a_run(tiny_model):
    run_id = finished_run(tiny_model)
    at = draw_page(model=run_id)
    assert at.session_state["draw_model"] == run_id
    at.file_uploader(key="draw_upload").set_value(("seven.png", png_of_seven(), "image/png")).run()
    assert len(at.metric) == 1  # the tiny model (centred inputs) reads something


def test_unknown_run_falls_back_to_the_shipped_model():
    at = draw_page(model="nosuchrun")
    assert at.session_state["draw_model"] == DEFAULT_KEY
    assert "nosuchrun" in at.info[0].value


def shown_text(markdown: str) -> str:
    """What a reader sees of Markdown that holds only escaped characters."""
    return re.sub(r"\\(.)", r"\1", markdown).replace(WORD_JOINER, "")


HOSTILE_NAMES = [
    "[x](http://evil.example)",
    "![img](http://evil.example/a.png)",
    "<http://evil.example>",
    "see www.evil.example or x@evil.example",
    "**bold** :red[red] $x^2$ <b>html</b> &amp;\n\n# heading",
]


@pytest.mark.parametrize("wanted", HOSTILE_NAMES)
def test_a_model_named_in_the_url_is_shown_as_plain_text(wanted):
    at = draw_page(model=wanted)
    body = at.info[0].proto.body
    assert at.session_state["draw_model"] == DEFAULT_KEY
    for link in ("](", "http://", "www.", "x@", "**", ":red["):  # links, bare links, formats
        assert link not in body
    assert " ".join(wanted.split()) in " ".join(shown_text(body).split())  # all still shown
    if wanted.startswith("!["):
        assert "\\!\\[img\\]\\(http\\:" in body


def test_escaped_markdown_shows_the_same_characters():
    assert escape_markdown("[x](http://evil.example)") == (
        f"\\[x\\]\\(http\\:{WORD_JOINER}\\/\\/evil\\.example\\)"
    )
    every_ascii = "".join(map(chr, range(32, 127)))
    assert shown_text(escape_markdown(every_ascii)) == every_ascii
    assert escape_markdown("a1b2c3d4e5f6") == "a1b2c3d4e5f6"  # a run id is left alone


@pytest.mark.parametrize("paper", [(0, 255), (255, 0)])  # dark ink on paper, white on black
def test_upload_of_a_digit_gives_a_prediction(paper):
    at = draw_page()
    photo = png_of_seven(*paper)
    at.file_uploader(key="draw_upload").set_value(("seven.png", photo, "image/png")).run()
    assert not at.exception and not at.error
    assert at.metric[0].value == "7"
    assert len(at.get("plotly_chart")) == 1


@pytest.mark.parametrize(("lang", "present"), [("es", "1"), ("en", "0")])
def test_the_reading_s_chart_has_the_page_s_decimal_marks_and_size(lang, present):
    at = draw_page(lang, present=present)
    at.file_uploader(key="draw_upload").set_value(("7.png", png_of_seven(), "image/png")).run()
    assert not at.exception and at.metric[0].value == "7"
    layout = json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]
    assert layout["separators"] == plotly_separators(lang)
    assert layout.get("font", {}).get("size") == (PROJECTOR_FONT if present == "1" else None)


@pytest.mark.parametrize("lang", list(LANGUAGES))
def test_noise_is_read_but_said_not_to_look_like_a_digit(lang):
    noise = np.random.default_rng(0).integers(0, 256, (280, 280), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, format="PNG")
    at = draw_page(lang)
    at.file_uploader(key="draw_upload").set_value(("noise.png", buffer.getvalue(), "image/png"))
    at.run()
    assert [warning.value for warning in at.warning] == [translate("draw.not_a_digit", lang)]
    assert len(at.metric) == 1  # the network's answer is still shown, to be judged
    at.file_uploader(key="draw_upload").set_value(("7.png", png_of_seven(), "image/png")).run()
    assert not at.warning and at.metric[0].value == "7"


@pytest.mark.parametrize("lang", list(LANGUAGES))
def test_bad_upload_gives_a_clear_message(lang):
    at = draw_page(lang)
    at.file_uploader(key="draw_upload").set_value(("digit.png", b"not an image", "image/png"))
    at.run()
    assert at.error[0].value == translate("draw.error.not_image", lang)
    assert not at.metric


@pytest.mark.parametrize("lang", list(LANGUAGES))
@pytest.mark.parametrize(
    ("bad", "reason"),
    [("random_bytes", "corrupt"), ("lambda_layer", "unsafe"), ("input_32x32", "wrong_shape")],
)
def test_a_model_that_cannot_be_loaded_says_why_and_the_others_still_work(bad, reason, lang,
                                                                          tmp_path):  # fmt: skip
    run_id = finished_run(str(bad_model(bad, tmp_path)))
    at = draw_page(lang, model=run_id)
    assert at.session_state["draw_model"] == run_id
    assert [error.value for error in at.error] == [translate(f"draw.model_error.{reason}", lang)]
    assert not at.tabs  # no traceback, and nothing to draw on with this model
    at.selectbox(key="draw_model").set_value(DEFAULT_KEY).run()
    assert not at.exception and not at.error
    at.file_uploader(key="draw_upload").set_value(("seven.png", png_of_seven(), "image/png")).run()
    assert at.metric[0].value == "7"


def test_a_broken_model_card_is_ignored_and_the_model_still_reads(tiny_model, tmp_path,
                                                                   monkeypatch):  # fmt: skip
    shipped = tmp_path / "shipped.keras"
    shutil.copy(tiny_model, shipped)
    shipped.with_suffix(".json").write_text('{"config": "centered", "test_accuracy": 0.9')
    monkeypatch.setenv(DEFAULT_MODEL_ENV, str(shipped))
    at = draw_page()
    assert at.session_state["draw_model"] == DEFAULT_KEY
    at.file_uploader(key="draw_upload").set_value(("seven.png", png_of_seven(), "image/png")).run()
    assert not at.exception and len(at.metric) == 1


@pytest.mark.parametrize("lang", list(LANGUAGES))
def test_page_renders_without_missing_keys(lang):
    at = draw_page(lang)
    at.file_uploader(key="draw_upload").set_value(("seven.png", png_of_seven(), "image/png")).run()
    text = page_text(at)
    assert "⟦" not in text, re.findall(r"⟦[^⟧]*⟧", text)
    assert at.title[0].value == catalogue(lang)["nav.draw"]


def test_draw_keys_match_in_both_languages():
    english = {k for k in catalogue("en") if k.startswith("draw.")}
    assert english == {k for k in catalogue("es") if k.startswith("draw.")}


def test_the_run_now_training_is_offered_with_its_live_model():
    with held_run(RunConfig(limit=20_000, epochs=5, batch_size=32, validation_size=0)) as run_id:
        manager = shared_manager()
        live = [c for c in model_choices(manager.store, manager) if c.key == run_id]
        assert [c.kind for c in live] == [ModelKind.TRAINING]
        at = draw_page(model=run_id)
        assert at.session_state["draw_model"] == run_id
        assert at.caption[0].value == translate("draw.live_note", "en")
        at.file_uploader(key="draw_upload").set_value(("7.png", png_of_seven(), "image/png")).run()
        assert not at.exception and len(at.metric) == 1  # read by the weights of this moment


# The reading turn, run where Streamlit can declare the canvas component (in a script run).
TURN_SCRIPT = """
import numpy as np
import streamlit as st
from PIL import Image, ImageDraw

from mnist_app.drawing.predict import default_model_path, load_reader
from mnist_app.drawing.uploads import CanvasDrawing
from mnist_app.ui import canvas


def free():
    if canvas.READING_TURN.acquire(blocking=False):
        canvas.READING_TURN.release()
        return True
    return False


def fail(reading):
    raise RuntimeError("stopped")  # as Streamlit stops a run


reader = load_reader(default_model_path())
picture = Image.new("RGBA", (280, 280), (0, 0, 0, 255))
ImageDraw.Draw(picture).line([(140, 40), (150, 240)], fill=(255, 255, 255, 255), width=20)
drawing = CanvasDrawing(b"", np.asarray(picture))  # as the canvas sent it (PNG not needed)
blank = CanvasDrawing(b"", np.asarray(Image.new("RGBA", (280, 280), (0, 0, 0, 255))))
shown, result = [], {}
reading = canvas.read_in_turn(reader, drawing, "unit", lambda r: shown.append(free()))
result["digit"], result["free while shown"], result["free after"] = reading.digit, shown, free()
try:
    canvas.read_in_turn(reader, drawing, "unit", fail)
except RuntimeError:
    result["free after a failure"] = free()
result["blank"] = canvas.read_in_turn(reader, blank, "unit", shown.append)
result["free after a blank"], result["shown"] = free(), len(shown)
st.session_state["turn"] = result
"""


def test_a_drawing_is_read_and_shown_in_the_server_s_turn_which_it_gives_back():
    """A class asks for dozens of readings a second: one at a time per server (the reading and
    the elements that show it), the turn given back after each, after a failure too (Streamlit
    stops a run by raising), and never taken for long by a canvas without ink."""
    at = AppTest.from_string(TURN_SCRIPT, default_timeout=60).run()
    assert not at.exception
    assert at.session_state["turn"] == {
        "digit": 1,
        "free while shown": [False],
        "free after": True,
        "free after a failure": True,
        "blank": None,
        "free after a blank": True,
        "shown": 1,
    }
