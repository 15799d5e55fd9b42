"""The Data page through AppTest, over the real MNIST."""

import base64
import json
import re

import numpy as np
import pytest
from apptest_text import open_page, page_text

from mnist_app.engine.config import RunConfig
from mnist_app.engine.data import load_mnist
from mnist_app.figures import dataset as dataset_figures
from mnist_app.i18n import LANGUAGES, catalogue, format_number

PAGE = "pages/data.py"
pytestmark = pytest.mark.usefixtures("prepared_server")


def chart(at, key: str) -> dict:
    """The plotly figure the page sent under `key`, as plotly.js receives it."""
    [found] = [c for c in at.get("plotly_chart") if c.proto.id.endswith(f"-{key}")]
    return json.loads(found.proto.spec)


def values(data) -> np.ndarray:
    """A trace's array, whether sent as a list or as plotly's base64 typed array."""
    if isinstance(data, dict):
        array = np.frombuffer(base64.b64decode(data["bdata"]), dtype=data["dtype"])
        return array.reshape([int(n) for n in str(data.get("shape", len(array))).split(",")])
    return np.asarray(data)


def image_urls(at) -> list[str]:
    """The pictures' addresses: the samples grid first, then the augmented digit."""
    return [element.proto.imgs[0].url for element in at.get("image")]


def mnist_counts(validation_size: int) -> list[list[int]]:
    """Each split's digits, counted here from the data rather than by the page's module."""
    _, y_train, _, y_test = load_mnist()
    cut = 60_000 - validation_size
    return [np.bincount(y, minlength=10).tolist() for y in (y_train[:cut], y_train[cut:], y_test)]


@pytest.mark.parametrize("lang", list(LANGUAGES))
def test_the_page_shows_mnist_as_it_is(lang):
    at = open_page(PAGE, lang)
    text = page_text(at)
    assert "⟦" not in text, re.findall(r"⟦[^⟧]*⟧", text)
    assert at.title[0].value == catalogue(lang)["nav.data"]
    sixty, ten = format_number(60_000, 0, lang), format_number(10_000, 0, lang)
    assert f"{sixty} " in at.markdown[1].value and f"{ten} " in at.markdown[1].value
    validation = RunConfig().validation_size
    split_caption = at.caption[0].value
    assert format_number(60_000 - validation, 0, lang) in split_caption
    assert format_number(validation, 0, lang) in split_caption
    counts = mnist_counts(validation)
    assert [trace["y"] for trace in chart(at, "data_counts")["data"]] == counts
    train = np.array(counts[0])
    most = f"{train.argmax()} ({format_number(train.max(), 0, lang)}"
    assert most in at.caption[1].value
    assert len(at.get("image")) == 2 and len(at.get("plotly_chart")) == 6


def test_the_validation_slider_moves_the_cut():
    at = open_page(PAGE)
    at.slider(key="data_validation").set_value(20_000).run()
    assert not at.exception
    assert [trace["y"] for trace in chart(at, "data_counts")["data"]] == mnist_counts(20_000)
    bars = chart(at, "data_split")["data"]
    assert [(bar["base"][0], bar["x"][0]) for bar in bars[:2]] == [(0, 40_000), (40_000, 20_000)]
    assert "40,000 images (no. 0 to 39,999)" in at.caption[0].value
    at.slider(key="data_validation").set_value(0).run()
    assert len(chart(at, "data_split")["data"]) == 2  # training and test, no validation
    assert at.caption[0].value.startswith("No validation")


def test_reshuffling_draws_other_samples_and_other_variants():
    at = open_page(PAGE)
    samples, variants = image_urls(at)
    at.button(key="data_reshuffle").click().run()
    assert image_urls(at) != [samples, variants] and image_urls(at)[1] == variants
    at.button(key="data_augment_again").click().run()
    assert image_urls(at)[1] != variants


def test_one_digit_is_shown_as_its_matrix_of_values():
    x_train, y_train = load_mnist()[:2]
    at = open_page(PAGE)
    at.number_input(key="data_digit").set_value(7).run()
    np.testing.assert_array_equal(values(chart(at, "data_matrix")["data"][0]["z"]), x_train[7])
    assert f"is a **{y_train[7]}**" in at.markdown[3].value
    before = image_urls(at)[1]
    at.button(key="data_random_digit").click().run()
    index = at.number_input(key="data_digit").value
    assert index != 7  # one chance in 60,000 of drawing the same
    np.testing.assert_array_equal(values(chart(at, "data_matrix")["data"][0]["z"]), x_train[index])
    assert image_urls(at)[1] != before  # the augmentation follows the chosen digit


def test_projector_mode_enlarges_the_figures():
    at = open_page(PAGE, "es", present="1")
    assert chart(at, "data_counts")["layout"]["xaxis"]["tickfont"]["size"] == 22
    matrix = chart(at, "data_matrix")["data"][0]
    assert matrix["textfont"]["size"] == dataset_figures.MATRIX_PROJECTOR_TEXT_SIZE
