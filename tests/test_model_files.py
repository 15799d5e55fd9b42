"""Saved models the app cannot read with give one error with a reason; a bad card is ignored."""

import logging
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image, ImageDraw

from mnist_app.drawing.predict import (
    ModelFileError,
    load_model,
    load_reader,
    model_card,
    read_digit,
)


def mnist_model(inputs: tuple = (28, 28), classes: int = 10, middle: tuple = ()) -> keras.Model:
    """A small untrained MNIST-style network: enough to save, load and read with."""
    layers = [keras.Input(inputs), *middle, keras.layers.Flatten(), keras.layers.Dense(classes)]
    return keras.Sequential([*layers, keras.layers.Softmax()])


def saved(model: keras.Model, path: Path) -> Path:
    model.save(path)
    return path


def random_bytes(path: Path) -> Path:
    path.write_bytes(np.random.default_rng(0).bytes(5000))
    return path


def zip_of(files: dict[str, str]):
    def make(path: Path) -> Path:
        with zipfile.ZipFile(path, "w") as archive:
            for name, text in files.items():
                archive.writestr(name, text)
        return path

    return make


def truncated(path: Path) -> Path:
    whole = saved(mnist_model(), path).read_bytes()
    path.write_bytes(whole[: len(whole) // 2])
    return path


def folder(path: Path) -> Path:
    path.mkdir()
    return path


def lambda_layer(path: Path) -> Path:
    return saved(mnist_model(middle=[keras.layers.Lambda(lambda x: x * 2)]), path)


def input_32x32(path: Path) -> Path:
    return saved(mnist_model((32, 32)), path)


def five_classes(path: Path) -> Path:
    return saved(mnist_model(classes=5), path)


def two_inputs(path: Path) -> Path:
    image, hint = keras.Input((28, 28)), keras.Input((10,))
    joined = keras.layers.Concatenate()([keras.layers.Flatten()(image), hint])
    return saved(keras.Model([image, hint], keras.layers.Dense(10)(joined)), path)


# name: (what makes the file at a path, the reason load_model must give)
BAD_MODELS = {
    "missing": (lambda path: path, "missing"),
    "random_bytes": (random_bytes, "corrupt"),
    "empty_zip": (zip_of({}), "corrupt"),
    "zip_of_a_text": (zip_of({"notes.txt": "hello"}), "corrupt"),
    "broken_config": (zip_of({"config.json": "{not json", "metadata.json": "{}"}), "corrupt"),
    "truncated": (truncated, "corrupt"),
    "a_folder": (folder, "corrupt"),
    "lambda_layer": (lambda_layer, "unsafe"),
    "input_32x32": (input_32x32, "wrong_shape"),
    "five_classes": (five_classes, "wrong_shape"),
    "two_inputs": (two_inputs, "wrong_shape"),
}


def bad_model(name: str, directory: Path) -> Path:
    """The bad model file `name` of BAD_MODELS, made in `directory`."""
    return BAD_MODELS[name][0](directory / f"{name}.keras")


@pytest.mark.parametrize("load", [load_model, load_reader])  # Keras, and the Draw page's reader
@pytest.mark.parametrize("name", list(BAD_MODELS))
def test_a_model_file_that_cannot_be_used_gives_its_reason(name, load, tmp_path):
    with pytest.raises(ModelFileError) as caught:
        load(bad_model(name, tmp_path))
    assert caught.value.reason == BAD_MODELS[name][1]


def test_no_code_from_the_file_runs(tmp_path):
    ran = tmp_path / "ran"
    # The path must be in the function's own code: Keras saves a lambda's code, not its closure.
    touch = eval(f"lambda x: __import__('pathlib').Path({str(ran)!r}).touch() or x")
    path = saved(mnist_model(middle=[keras.layers.Lambda(touch)]), tmp_path / "hostile.keras")
    ran.unlink()  # it ran as the model was built
    for load in (load_model, load_reader):
        with pytest.raises(ModelFileError, match="unsafe"):
            load(path)
    assert not ran.exists()
    unsafe = keras.saving.load_model(path, safe_mode=False)  # what the check keeps from running
    unsafe.predict_on_batch(np.zeros((1, 28, 28)))
    assert ran.exists()


def seven() -> np.ndarray:
    picture = Image.new("L", (200, 200), 0)
    ImageDraw.Draw(picture).line([(40, 40), (160, 40), (80, 170)], fill=255, width=16)
    return np.asarray(picture)


@pytest.mark.parametrize("inputs", [(28, 28), (28, 28, 1)])  # keras-io's convnet has a channel
def test_an_mnist_model_loads_once_and_reads(inputs, tmp_path):
    path = saved(mnist_model(inputs), tmp_path / "good.keras")
    model = load_model(path)
    assert load_model(path) is model
    reading = read_digit(model, seven(), "unit")
    assert reading.probabilities.shape == (10,) and abs(reading.probabilities.sum() - 1) < 1e-5


CARDS = {
    "not_json": b'{"config": {"scaling": "unit"}',
    "not_utf8": b"\xff\xfe{}",
    "a_list": b"[1, 2]",
    "config_not_an_object": b'{"config": "unit", "test_accuracy": 0.9}',
    "accuracy_as_text": b'{"test_accuracy": "99%"}',
    "too_deep": b"[" * 100_000,
}


@pytest.mark.parametrize("name", list(CARDS))
def test_a_bad_card_counts_as_none(name, tmp_path, caplog):
    path = saved(mnist_model(), tmp_path / "model.keras")
    path.with_suffix(".json").write_bytes(CARDS[name])
    with caplog.at_level(logging.WARNING, logger="mnist_app.drawing.predict"):
        assert model_card(path) == {}
    assert "ignoring the model card" in caplog.text
    assert load_model(path) is not None  # the model itself is fine


def test_a_good_card_is_read(tmp_path):
    path = tmp_path / "model.keras"
    card = b'{"config": {"scaling": "centered"}, "test_accuracy": 0.97, "preset": null}'
    path.with_suffix(".json").write_bytes(card)
    assert model_card(path) == {"config": {"scaling": "centered"}, "test_accuracy": 0.97,
                                "preset": None}  # fmt: skip
    assert model_card(tmp_path / "no-card.keras") == {}


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
@pytest.mark.parametrize("shape", [(28, 28), (28, 28, 1)])
def test_reading_one_image_agrees_with_keras(precision, shape):
    """read_one (the model's forward pass traced once) against Keras' own predict_on_batch."""
    from mnist_app.drawing.predict import read_one
    from mnist_app.engine.config import RunConfig
    from mnist_app.engine.data import load_mnist, scale_images
    from mnist_app.engine.models import build_model

    if shape == (28, 28):
        model = build_model(RunConfig(arch="cnn", filters=8, conv_blocks=1, width=32,
                                      precision=precision))  # fmt: skip
    else:
        model = mnist_model(inputs=shape)
    for image in scale_images(load_mnist()[2][:3], "unit"):
        expected = model.predict_on_batch(image.reshape((1, *shape)))[0]
        np.testing.assert_allclose(read_one(model, image), expected, rtol=1e-5, atol=1e-6)
