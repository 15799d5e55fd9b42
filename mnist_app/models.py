"""Keras models built from a RunConfig, and their summary as plain data."""

from __future__ import annotations

import math
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter quiet

import keras  # noqa: E402

from mnist_app.config import IMAGE_SIDE, RunConfig, conv_shape, layer_plan  # noqa: E402
from mnist_app.data import background_value  # noqa: E402

NUM_CLASSES = 10

OPTIMIZER_CLASSES = {
    "sgd": keras.optimizers.SGD,
    "rmsprop": keras.optimizers.RMSprop,
    "adam": keras.optimizers.Adam,
    "adadelta": keras.optimizers.Adadelta,
    "adagrad": keras.optimizers.Adagrad,
    "adamax": keras.optimizers.Adamax,
    "nadam": keras.optimizers.Nadam,
    "ftrl": keras.optimizers.Ftrl,
}


def make_optimizer(name: str, learning_rate: float) -> keras.optimizers.Optimizer:
    """A fresh optimizer of the given name."""
    return OPTIMIZER_CLASSES[name](learning_rate=learning_rate)


def build_model(config: RunConfig) -> keras.Model:
    """A compiled Keras model for the config: hidden layers from its plan, then softmax."""
    seed = config.seed
    inputs = keras.Input(shape=(IMAGE_SIDE, IMAGE_SIDE), name="image")
    x = inputs
    tokens = layer_plan(config)
    uses_conv = any(t.startswith("conv") for t in tokens)
    if uses_conv or config.augment:
        x = keras.layers.Reshape((IMAGE_SIDE, IMAGE_SIDE, 1), name="add_channel")(x)
    if config.augment:
        x = _augmentation(config)(x)
    flat = False
    for i, token in enumerate(tokens):
        if token.startswith("dense") and not flat:
            x = keras.layers.Flatten()(x)
            flat = True
        x = _layer(token, config, seed + i)(x)
    if not flat:
        x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(
        NUM_CLASSES,
        activation="softmax",
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed + len(tokens)),
        name="digit",
    )(x)
    model = keras.Model(inputs, outputs, name=f"mnist_{config.arch}")
    model.compile(
        optimizer=make_optimizer(config.optimizer, config.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def _layer(token: str, config: RunConfig, seed: int) -> keras.layers.Layer:
    init = keras.initializers.GlorotUniform(seed=seed)
    if token.startswith("conv"):
        filters, kernel, stride = conv_shape(token)
        return keras.layers.Conv2D(
            filters, kernel, strides=stride, activation=config.activation, kernel_initializer=init
        )
    if token.startswith("dense"):
        return keras.layers.Dense(
            int(token[5:]), activation=config.activation, kernel_initializer=init
        )
    if token.startswith("drop"):
        return keras.layers.Dropout(float(token[4:]), seed=seed)
    if token == "pool":
        return keras.layers.MaxPooling2D(2)
    if token == "bn":
        return keras.layers.BatchNormalization()
    raise ValueError(f"unknown layer token {token!r}")


def _augmentation(config: RunConfig) -> keras.Sequential:
    """Small random shifts, rotations and zoom, active only while training."""
    fill = {"fill_mode": "constant", "fill_value": background_value(config.scaling)}
    return keras.Sequential(
        [
            keras.layers.RandomRotation(0.05, seed=config.seed, **fill),  # ±18°
            keras.layers.RandomZoom(0.1, seed=config.seed + 1, **fill),
            keras.layers.RandomTranslation(0.1, 0.1, seed=config.seed + 2, **fill),
        ],
        name="augmentation",
    )


def summarize(model: keras.Model) -> dict:
    """Layers, output shapes and parameter counts as plain data for the UI and CLI."""
    rows = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        rows.append(
            {
                "name": layer.name,
                "type": type(layer).__name__,
                "output_shape": _shape_text(layer.output.shape),
                "params": int(layer.count_params()),
            }
        )
    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    total = int(model.count_params())
    return {
        "layers": rows,
        "total_params": total,
        "trainable_params": trainable,
        "memory_bytes": total * 4,  # float32 weights; training adds ~2x for the optimizer
    }


def _shape_text(shape: tuple) -> str:
    return "×".join(str(d) for d in shape[1:]) or "1"
