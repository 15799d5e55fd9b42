"""Keras models built from a RunConfig, and their summary as plain data."""

from __future__ import annotations

import math
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter quiet

import keras  # noqa: E402

from mnist_app.engine.config import (  # noqa: E402
    AUGMENT_DEGREES,
    AUGMENT_SHIFT,
    AUGMENT_ZOOM,
    RunConfig,
    layer_plan,
)
from mnist_app.engine.data import background_value  # noqa: E402
from mnist_app.engine.plan import (  # noqa: E402
    IMAGE_SIDE,
    NUM_CLASSES,
    BatchNorm,
    Conv,
    Dense,
    Dropout,
    LayerSize,
    LayerSpec,
    PlanSize,
    Pool,
    layer_names,
    works_on_images,
)
from mnist_app.engine.precision import policy  # noqa: E402

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
    """A compiled Keras model for the config: hidden layers from its plan, then softmax.

    In mixed bfloat16 (precision.py) the hidden layers compute in bf16 and keep float32 weights;
    the input, the augmentation and the softmax layer stay float32.
    """
    seed = config.seed
    dtype = policy(config)
    specs = layer_plan(config)
    inputs = keras.Input(shape=(IMAGE_SIDE, IMAGE_SIDE), name="image")
    images = works_on_images(specs, config.augment)
    if images:
        x = keras.layers.Reshape((IMAGE_SIDE, IMAGE_SIDE, 1), name="add_channel")(inputs)
    else:
        x = keras.layers.Flatten(name="flatten", dtype=dtype)(inputs)
    if config.augment:
        x = augmentation(config)(x)
    for i, (name, spec) in enumerate(zip(layer_names(specs), specs, strict=True)):
        if isinstance(spec, Dense) and len(x.shape) > 2:
            x = keras.layers.Flatten(name="flatten", dtype=dtype)(x)
        x = _layer(spec, name, config.activation, seed + i, dtype)(x)
    if len(x.shape) > 2:
        x = keras.layers.Flatten(name="flatten", dtype=dtype)(x)
    outputs = keras.layers.Dense(
        NUM_CLASSES,
        activation="softmax",
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed + len(specs)),
        name="digit",
        dtype="float32",  # probabilities and the loss in full precision
    )(x)
    model = keras.Model(inputs, outputs, name=f"mnist_{config.arch}")
    model.compile(
        optimizer=make_optimizer(config.optimizer, config.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def _layer(
    spec: LayerSpec, name: str, activation: str, seed: int, dtype: str = "float32"
) -> keras.layers.Layer:
    """The one Keras layer a plan's spec stands for, in the given dtype policy."""
    init = keras.initializers.GlorotUniform(seed=seed)
    match spec:
        case Conv(filters, kernel, stride):
            return keras.layers.Conv2D(
                filters,
                kernel,
                strides=stride,
                activation=activation,
                kernel_initializer=init,
                name=name,
                dtype=dtype,
            )
        case Dense(units):
            return keras.layers.Dense(
                units, activation=activation, kernel_initializer=init, name=name, dtype=dtype
            )
        case Dropout(rate):
            return keras.layers.Dropout(rate, seed=seed, name=name, dtype=dtype)
        case Pool():
            return keras.layers.MaxPooling2D(2, name=name, dtype=dtype)
        case BatchNorm():
            return keras.layers.BatchNormalization(name=name, dtype=dtype)
    raise TypeError(f"not a layer spec: {spec!r}")


def augmentation(config: RunConfig) -> keras.Sequential:
    """Small random shifts, rotations and zoom, active only while training (the Data page
    shows what they do to a digit)."""
    fill = {"fill_mode": "constant", "fill_value": background_value(config.scaling)}
    return keras.Sequential(
        [
            # Keras counts a turn in shares of a full one
            keras.layers.RandomRotation(AUGMENT_DEGREES / 360, seed=config.seed, **fill),
            keras.layers.RandomZoom(AUGMENT_ZOOM, seed=config.seed + 1, **fill),
            keras.layers.RandomTranslation(
                AUGMENT_SHIFT, AUGMENT_SHIFT, seed=config.seed + 2, **fill
            ),
        ],
        name="augmentation",
    )


def summarize(model: keras.Model) -> PlanSize:
    """A built model's layers, output shapes and parameter counts, as Keras counts them.

    The pages use `config.model_size`, the same figures by arithmetic; this is its oracle.
    """
    rows = tuple(
        LayerSize(
            name=layer.name,
            type=type(layer).__name__,
            output_shape=tuple(layer.output.shape[1:]),
            params=int(layer.count_params()),
            trainable=sum(math.prod(w.shape) for w in layer.trainable_weights),
        )
        for layer in model.layers
        if not isinstance(layer, keras.layers.InputLayer)
    )
    return PlanSize(
        layers=rows,
        total_params=int(model.count_params()),
        trainable_params=sum(row.trainable for row in rows),
        activations_per_image=IMAGE_SIDE**2 + sum(math.prod(r.output_shape) for r in rows),
    )
