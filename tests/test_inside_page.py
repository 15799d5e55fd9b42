"""The Draw page's test images and inside view, through AppTest (the canvas is in the browser
tests): every part of the view for the shipped CNN, a finished MLP run and the run training."""

from __future__ import annotations

import re

import pytest
from apptest_text import held_run, page_text
from streamlit.testing.v1 import AppTest
from test_draw_page import draw_page, finished_run, tiny_model  # noqa: F401  (a fixture)

from mnist_app.drawing.predict import load_model
from mnist_app.engine.config import RunConfig
from mnist_app.engine.data import load_mnist
from mnist_app.i18n import translate
from mnist_app.inspect.inside import first_layer

pytestmark = pytest.mark.usefixtures("prepared_server")
VIEWS = ("layers", "saliency", "first", "map")


def open_inside(at: AppTest, index: int, view: str) -> AppTest:
    at.session_state["draw_tab"] = translate("draw.tab_test", at.session_state["lang"])
    at.run()
    at.number_input(key="draw_test_index").set_value(index).run()
    at.toggle(key="test_inside").set_value(True).run()
    at.segmented_control(key="test_inside_view").set_value(view).run()
    assert not at.exception, at.exception
    return at


def markdown(at: AppTest) -> str:
    return "\n".join(element.value for element in at.markdown)


@pytest.mark.parametrize("lang", ["es", "en"])
def test_a_test_image_is_read_and_every_inside_view_renders(lang):
    at = draw_page(lang)
    label = int(load_mnist()[3][0])
    at = open_inside(at, 0, "layers")
    assert translate("draw.test_label", lang, label=label) in markdown(at)
    assert at.metric[-1].value == str(label)  # the shipped model reads test image 0 right
    maps = re.findall(r"\*\*(\w+)\*\* \((?:Conv2D|MaxPooling2D)\)", markdown(at))
    assert len(maps) == 6  # the shipped CNN: four convolutions and two poolings
    texts = [page_text(at)]
    for view in VIEWS[1:]:
        at.segmented_control(key="test_inside_view").set_value(view).run()
        assert not at.exception, at.exception
        texts.append(page_text(at))
    assert not [key for text in texts for key in re.findall(r"⟦[^⟧]*⟧", text)]
    saliency, first, chart = texts[1], texts[2], at.get("plotly_chart")
    assert translate("inside.saliency.attribution", lang, digit=label) in saliency
    assert translate("inside.first_conv_caption", lang) in first
    assert chart, "the map is a plotly chart"


def test_the_map_of_a_finished_model_can_be_drawn_by_tsne():
    at = open_inside(draw_page(), 0, "map")
    assert translate("inside.map_note.pca", "en", count="2,000") in page_text(at)
    # t-SNE of 2,000 digits takes ~5 s of CPU on a quiet machine: room for a loaded one.
    at.segmented_control(key="test_map_method").set_value("tsne").run(timeout=240)
    assert not at.exception, at.exception
    assert translate("inside.map_note.tsne", "en", count="2,000") in page_text(at)
    assert any("t-SNE 1" in chart.proto.spec for chart in at.get("plotly_chart"))  # an axis


def test_the_view_closes_and_keeps_its_choice():
    at = open_inside(draw_page(), 3, "first")
    at.toggle(key="test_inside").set_value(False).run()
    assert not any(key.startswith("test_inside_view") for key in _segmented_keys(at))
    at.toggle(key="test_inside").set_value(True).run()
    assert at.segmented_control(key="test_inside_view").value == "first"


def _segmented_keys(at: AppTest) -> list[str]:
    return [element.key for element in at.get("button_group") if element.key]


def test_a_finished_mlp_shows_what_its_neurons_look_for(tiny_model):  # noqa: F811
    run_id = finished_run(tiny_model)
    at = open_inside(draw_page(model=run_id), 0, "first")
    count = len(first_layer(load_model(tiny_model)).images)
    assert translate("inside.first_dense", "en", layer="dense_1", shown=32, count=count) in (
        markdown(at)
    )
    at.segmented_control(key="test_inside_view").set_value("layers").run()
    assert not at.exception and len(at.get("plotly_chart")) >= 2  # a strip per dense layer


def test_the_run_still_training_can_be_looked_inside():
    config = RunConfig(arch="cnn", filters=4, conv_blocks=1, width=16, limit=5_000, epochs=3,
                       validation_size=0)  # fmt: skip
    with held_run(config) as run_id:
        at = open_inside(draw_page(model=run_id), 0, "map")
        assert at.get("plotly_chart")
        assert translate("inside.map_live", "en", seconds=15) in page_text(at)
        assert not [c for c in at.get("button_group") if c.key == "test_map_method"]  # PCA only
        at.segmented_control(key="test_inside_view").set_value("saliency").run()
        assert not at.exception
