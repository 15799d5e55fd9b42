"""One frozen dataclass describes a training run (the presets, engine/presets.py, are instances
of it)."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import threading
from dataclasses import dataclass

from mnist_app.engine.plan import (
    BatchNorm,
    Conv,
    Dense,
    Dropout,
    LayerSpec,
    PlanError,
    PlanSize,
    Pool,
    parse_plan,
    size_plan,
)

ARCHITECTURES = ("mlp", "cnn")
ACTIVATIONS = ("relu", "sigmoid", "tanh", "elu", "selu", "gelu", "leaky_relu", "linear")
OPTIMIZERS = ("sgd", "rmsprop", "adam", "adadelta", "adagrad", "adamax", "nadam", "ftrl")
SCALINGS = ("unit", "centered", "none")  # [0, 1], [-0.5, 0.5], raw 0..255
SCHEDULES = ("constant", "cosine", "onecycle")  # cosine glides to 0; onecycle climbs first
PRECISIONS = ("auto", "float32", "bfloat16")  # bfloat16: mixed precision (see precision.py)
TRAIN_IMAGES = 60_000
CHANCE_LOSS = math.log(10)  # ≈ 2.3: the loss of a network that gives every digit 10%
# The learning rate each optimizer is usually started at (Keras' defaults; 1.0 for Adadelta,
# which Keras' 0.001 barely moves): what "too high" and "too slow" are measured against.
USUAL_LEARNING_RATES = {"sgd": 0.01, "rmsprop": 1e-3, "adam": 1e-3, "adadelta": 1.0,
                        "adagrad": 0.01, "adamax": 1e-3, "nadam": 1e-3, "ftrl": 0.01}  # fmt: skip

# The one table of bounds: allowed range of every numeric field, inclusive (low, high). The
# Train page's sliders, the CLI's checks and every error message read it.
RANGES: dict[str, tuple[float, float]] = {
    "width": (1, 2048),
    "depth": (0, 8),
    "filters": (1, 256),
    "conv_blocks": (1, 3),
    "kernel_size": (2, 7),
    "dropout": (0.0, 0.9),
    "learning_rate": (1e-6, 10.0),
    "batch_size": (1, TRAIN_IMAGES),
    "epochs": (1, 200),
    "validation_size": (0, 50_000),
    "seed": (0, 2**31 - 1),
    "limit": (0, TRAIN_IMAGES),
    "class_digits": (0, 50),  # copies of each of the class's training drawings (0: none)
}
CHOICES: dict[str, tuple[str, ...]] = {
    "arch": ARCHITECTURES,
    "activation": ACTIVATIONS,
    "optimizer": OPTIMIZERS,
    "scaling": SCALINGS,
    "lr_schedule": SCHEDULES,
    "precision": PRECISIONS,
}

# Caps on a network's size, so no setting can exhaust a class server's memory. They are checked
# on the plan's arithmetic, before anything is built; each can be raised by its variable.
MAX_PARAMS_ENV = "MNIST_LAB_MAX_PARAMS"
MAX_PARAMS = 25_000_000  # 100 MB of float32 weights (Adam keeps two more copies)
MAX_ACTIVATION_MB_ENV = "MNIST_LAB_MAX_ACTIVATION_MB"
MAX_ACTIVATION_MB = 1024  # the layers' outputs for one training batch


# The presets (engine/presets.py) are checked against the built-in caps while they load: a
# server's lower cap (or a mistyped one) refuses a preset when it is trained, and never stops a
# command or the server from starting (environment.check_environment names a mistyped value).
_built_in_caps = threading.local()


@contextlib.contextmanager
def built_in_caps():
    """Configs made inside (in this thread) are held to the built-in caps, not the server's."""
    outer = getattr(_built_in_caps, "on", False)
    _built_in_caps.on = True
    try:
        yield
    finally:
        _built_in_caps.on = outer  # as it was: the caller's own block, if this one is inside it


class ConfigError(ValueError):
    """A run setting is out of range; the message names the field and what it allows.

    Where the pages explain it in the user's language, `reason` and `values` say what went
    wrong (e.g. "too_many_params" with params and cap); otherwise `reason` is "".
    """

    def __init__(self, field_name: str, message: str, reason: str = "", **values: object):
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.reason = reason
        self.values = values


# How far the training augmentation goes (models.augmentation; the code behind a run writes the
# same layers): turned by up to ±10°, zoomed by up to ±10%, moved by up to 10% of a side (2.8 px).
# lab-default's plan, 30 epochs with --forms (the shipped model until 2026-12-07), with ±10° instead
# of ±18°: 99.49% vs 99.45% on MNIST's test set, scikit-learn digits 96.22% vs 95.72%, pen strokes
# 99.67% vs 99.39% (python bench/handwriting.py).
AUGMENT_DEGREES = 10
AUGMENT_ZOOM = 0.1
AUGMENT_SHIFT = 0.1


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines one training run. Defaults are the sliders' defaults."""

    arch: str = "mlp"
    width: int = 128  # units in each hidden dense layer
    depth: int = 1  # hidden dense layers (after the conv blocks for a CNN)
    filters: int = 32  # filters of the first conv block; each later block doubles them
    conv_blocks: int = 2  # conv + max-pool blocks (CNN only)
    kernel_size: int = 3
    activation: str = "relu"
    dropout: float = 0.0  # after each hidden dense layer and each conv block
    batch_norm: bool = False
    layers: str = ""  # explicit plan, e.g. "conv32x3 pool drop0.25"; overrides the fields above
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    lr_schedule: str = "constant"
    batch_size: int = 128
    epochs: int = 5
    validation_size: int = 10_000  # carved from the end of the training set
    seed: int = 42
    scaling: str = "unit"
    augment: bool = False  # small random shifts, rotations and zoom while training (AUGMENT_*)
    forms: bool = False  # handwriting forms MNIST lacks, drawn anew each epoch (handforms.py)
    limit: int = 0  # train on the first N training images only (0 = all)
    class_digits: int = 0  # add the class set's drawings (but its held-out fifth), N copies each
    precision: str = "auto"  # "auto": mixed bfloat16 where measured faster, else float32
    # Mistakes on purpose, as two course notebooks made them by accident (see data.prepare_data):
    unscaled_test: bool = False  # test on raw 0..255 images (004)
    labels_255: bool = False  # training labels divided by 255 (003)

    def __post_init__(self) -> None:
        validate(self)

    @property
    def train_size(self) -> int:
        """Number of images the model is trained on."""
        available = TRAIN_IMAGES - self.validation_size
        return min(self.limit, available) if self.limit else available

    def replace(self, **changes: object) -> RunConfig:
        """A copy with some fields changed (validated)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> RunConfig:
        """Build from a dict, ignoring unknown keys (e.g. from an older version)."""
        if not isinstance(data, dict):
            raise ConfigError(
                "config", f"expected a mapping of settings, got {type(data).__name__}"
            )
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def validate(config: RunConfig) -> None:
    """Raise ConfigError naming the first field that is out of range."""
    for name, allowed in CHOICES.items():
        value = getattr(config, name)
        if value not in allowed:
            raise ConfigError(name, f"{value!r} is not one of {', '.join(allowed)}")
    for name in ("batch_norm", "augment", "forms", "unscaled_test", "labels_255"):
        if not isinstance(getattr(config, name), bool):
            raise ConfigError(name, f"{getattr(config, name)!r} is not true or false")
    if not isinstance(config.layers, str):
        raise ConfigError("layers", f"{config.layers!r} is not a layer plan")
    for name, (low, high) in RANGES.items():
        value = getattr(config, name)
        is_int_field = isinstance(low, int)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(name, f"{value!r} is not a number")
        if is_int_field and value != int(value):
            raise ConfigError(name, f"{value!r} must be a whole number")
        if not low <= value <= high:
            raise ConfigError(name, f"{value!r} is outside the allowed range {low}..{high}")
    if config.batch_size > config.train_size:
        raise ConfigError(
            "batch_size",
            f"{config.batch_size} is larger than the training set ({config.train_size} images); "
            f"allowed range 1..{config.train_size}",
            reason="batch_too_big",
            images=config.train_size,
        )
    check_size(config, model_size(config))


def layer_plan(config: RunConfig) -> tuple[LayerSpec, ...]:
    """The hidden layers: the explicit plan if there is one, else the one the fields describe."""
    if not config.layers.strip() and config.layers:
        raise ConfigError("layers", f"{config.layers!r} names no layer", reason="no_layer")
    if not config.layers:
        return _plan_from_fields(config)
    try:
        return parse_plan(config.layers)
    except PlanError as error:
        raise ConfigError("layers", str(error), error.reason, **error.values) from None


def _plan_from_fields(config: RunConfig) -> tuple[LayerSpec, ...]:
    specs: list[LayerSpec] = []
    if config.arch == "cnn":
        for block in range(config.conv_blocks):
            specs.append(Conv(config.filters * 2**block, config.kernel_size))
            if config.batch_norm:
                specs.append(BatchNorm())
            specs.append(Pool())
            if config.dropout:
                specs.append(Dropout(config.dropout))
    for _ in range(config.depth):
        specs.append(Dense(config.width))
        if config.batch_norm:
            specs.append(BatchNorm())
        if config.dropout:
            specs.append(Dropout(config.dropout))
    return tuple(specs)


def model_size(config: RunConfig) -> PlanSize:
    """Shapes and parameter counts of the network the config describes, without building it."""
    try:
        return size_plan(layer_plan(config), config.augment)
    except PlanError as error:  # the image shrank to nothing
        field_name = "layers" if config.layers else "conv_blocks"
        raise ConfigError(field_name, str(error), error.reason, **error.values) from None


def check_size(config: RunConfig, size: PlanSize) -> None:
    """Refuse a network over the parameter or activation-memory cap, saying both sizes."""
    built_in = getattr(_built_in_caps, "on", False)
    max_params, max_mb = (MAX_PARAMS, MAX_ACTIVATION_MB) if built_in else size_caps()
    if size.total_params > max_params:
        raise ConfigError(
            "model_size",
            f"{size.total_params:,} parameters ({size.weight_bytes / 2**20:,.0f} MB of weights) "
            f"is over the cap of {max_params:,} ({MAX_PARAMS_ENV}); use fewer or narrower layers",
            reason="too_many_params",
            params=size.total_params,
            cap=max_params,
        )
    needed_mb = size.activation_bytes(config.batch_size) / 2**20
    if needed_mb > max_mb:
        raise ConfigError(
            "batch_size",
            f"a batch of {config.batch_size:,} images needs {needed_mb:,.0f} MB for the layers' "
            f"outputs, over the cap of {max_mb:,} MB ({MAX_ACTIVATION_MB_ENV}); use a smaller "
            "batch or a smaller network",
            reason="too_much_memory",
            batch=config.batch_size,
            needed_mb=round(needed_mb),
            cap_mb=max_mb,
        )


def size_caps() -> tuple[int, int]:
    """The caps on parameters and on activation MB: $MNIST_LAB_MAX_PARAMS and
    $MNIST_LAB_MAX_ACTIVATION_MB, else the built-in ones; ConfigError names a bad value."""
    return (
        _env_limit(MAX_PARAMS_ENV, MAX_PARAMS),
        _env_limit(MAX_ACTIVATION_MB_ENV, MAX_ACTIVATION_MB),
    )


def _env_limit(name: str, default: int) -> int:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(name, f"{text!r} is not a whole number of at least 1")
    return int(text)
