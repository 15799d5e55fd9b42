"""Share a setup: the Train settings as a short link, read back value by value."""

from __future__ import annotations

import pytest
from apptest_text import open_page, texts

from mnist_app.engine.config import RunConfig
from mnist_app.engine.presets import PRESETS
from mnist_app.experiments.share import read_setup, setup_query

pytestmark = pytest.mark.usefixtures("prepared_server")


def test_a_link_names_the_preset_and_only_what_differs_from_it_and_reads_back_the_same():
    config = PRESETS["dnn-50-50"].replace(learning_rate=0.02, augment=True, layers="")
    query = setup_query(config, "dnn-50-50")
    assert query == {"preset": "dnn-50-50", "learning_rate": "0.02", "augment": "true"}
    assert read_setup(query).config == config and read_setup(query).refused == ()
    assert setup_query(RunConfig()) == {}  # the defaults need no parameters at all
    for preset in PRESETS.values():  # every setting of every preset survives the round trip
        changed = preset.replace(seed=7, dropout=0.25)
        assert read_setup(setup_query(changed)).config == changed


@pytest.mark.parametrize(
    ("params", "field", "reason"),
    [
        ({"preset": "no-such-preset"}, "preset", "unknown_preset"),
        ({"learning_rate": "fast"}, "learning_rate", "bad_value"),
        ({"activation": "swish"}, "activation", "bad_value"),
        ({"width": "0"}, "width", "out_of_range"),
        ({"epochs": "1e9"}, "epochs", "out_of_range"),
        ({"limit": "500", "batch_size": "1000"}, "batch_size", "does_not_fit"),
        ({"width": "2048", "depth": "8"}, "depth", "does_not_fit"),  # 31 million weights
    ],
)
def test_a_value_that_cannot_be_trained_is_refused_alone(params, field, reason):
    setup = read_setup(params | {"seed": "7"})
    assert [(r.field, r.reason) for r in setup.refused][-1:] == [(field, reason)]
    assert setup.config.seed == 7  # the rest of the link is still used


def test_opening_a_link_fills_the_sliders_and_says_what_it_refused():
    at = open_page(
        "pages/train.py", lang="es", preset="dnn-50-50", learning_rate="0.02", width="0",
        activation="swish", limit="600",
    )  # fmt: skip
    assert at.selectbox(key="train_preset").value == "dnn-50-50"
    assert at.select_slider(key="train_learning_rate").value == 0.02
    assert at.select_slider(key="train_limit").value == 600  # off the slider's stops, kept
    assert at.slider(key="train_width").value == 50  # the refused 0: the preset's own width
    warnings = texts(at.warning)
    assert "«0» del enlace para Anchura" in warnings and "fuera de 1…2048" in warnings
    assert "«swish»" in warnings
    # The URL now says what the sliders hold: the refused values are gone from it.
    assert dict(at.query_params) | {"lang": "es"} == {
        "preset": "dnn-50-50", "learning_rate": "0.02", "limit": "600", "lang": "es",
    }  # fmt: skip
    at.slider(key="train_epochs").set_value(9).run()
    assert at.query_params["epochs"] == "9"  # and follows every change
    assert not at.warning  # said until the student changed a setting
