"""One frozen dataclass describes a training run; presets are instances of it."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field

ARCHITECTURES = ("mlp", "cnn")
ACTIVATIONS = ("relu", "sigmoid", "tanh", "elu", "selu", "gelu", "leaky_relu", "linear")
OPTIMIZERS = ("sgd", "rmsprop", "adam", "adadelta", "adagrad", "adamax", "nadam", "ftrl")
SCALINGS = ("unit", "centered", "none")  # [0, 1], [-0.5, 0.5], raw 0..255
SCHEDULES = ("constant", "cosine")  # cosine: the learning rate glides down to 0 by the last batch
TRAIN_IMAGES = 60_000
IMAGE_SIDE = 28

# Allowed range of every numeric field, inclusive: (low, high).
RANGES: dict[str, tuple[float, float]] = {
    "width": (1, 4096),
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
}
CHOICES: dict[str, tuple[str, ...]] = {
    "arch": ARCHITECTURES,
    "activation": ACTIVATIONS,
    "optimizer": OPTIMIZERS,
    "scaling": SCALINGS,
    "lr_schedule": SCHEDULES,
}

# One token of an explicit layer plan, e.g. "conv32x3", "conv32x5s2" (stride 2), "pool",
# "drop0.25", "dense128", "bn".
_TOKEN = re.compile(r"^(?:conv(\d+)x(\d+)(?:s(\d+))?|dense(\d+)|drop(0?\.\d+|0)|pool|bn)$")


class ConfigError(ValueError):
    """A run setting is out of range; the message names the field and what it allows."""

    def __init__(self, field_name: str, message: str):
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


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
    augment: bool = False  # small random shifts, rotations and zoom while training
    limit: int = 0  # train on the first N training images only (0 = all)

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
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def validate(config: RunConfig) -> None:
    """Raise ConfigError naming the first field that is out of range."""
    for name, allowed in CHOICES.items():
        value = getattr(config, name)
        if value not in allowed:
            raise ConfigError(name, f"{value!r} is not one of {', '.join(allowed)}")
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
        )
    layer_plan(config)  # raises on a bad explicit plan or a CNN too deep for 28x28


def layer_plan(config: RunConfig) -> list[str]:
    """The hidden layers as tokens; build_model turns each token into one Keras layer."""
    if config.layers.strip():
        tokens = config.layers.replace(",", " ").split()
        for token in tokens:
            if not _TOKEN.match(token):
                raise ConfigError(
                    "layers",
                    f"{token!r} is not a layer; use convFxK (convFxKsS for stride S), pool, "
                    "dropP, denseN or bn (e.g. 'conv32x3 pool drop0.25 dense128')",
                )
    else:
        tokens = _plan_from_fields(config)
    _check_spatial_size(tokens)
    return tokens


def _plan_from_fields(config: RunConfig) -> list[str]:
    tokens: list[str] = []
    if config.arch == "cnn":
        for block in range(config.conv_blocks):
            tokens.append(f"conv{config.filters * 2**block}x{config.kernel_size}")
            if config.batch_norm:
                tokens.append("bn")
            tokens.append("pool")
            if config.dropout:
                tokens.append(f"drop{config.dropout:g}")
    for _ in range(config.depth):
        tokens.append(f"dense{config.width}")
        if config.batch_norm:
            tokens.append("bn")
        if config.dropout:
            tokens.append(f"drop{config.dropout:g}")
    return tokens


def conv_shape(token: str) -> tuple[int, int, int]:
    """Filters, kernel size and stride of a conv token: 'conv32x5s2' -> (32, 5, 2)."""
    filters, kernel, stride = _TOKEN.match(token).group(1, 2, 3)
    return int(filters), int(kernel), int(stride or 1)


def _check_spatial_size(tokens: list[str]) -> None:
    side = IMAGE_SIDE
    for token in tokens:
        match = _TOKEN.match(token)
        if match and match.group(1):
            filters, kernel, stride = conv_shape(token)
            if min(filters, kernel, stride) < 1:
                raise ConfigError(
                    "layers", f"{token!r}: filters, kernel and stride must be at least 1"
                )
            side = (side - kernel) // stride + 1
        elif token == "pool":
            side //= 2
        elif token.startswith("dense") and int(token[5:]) < 1:
            raise ConfigError("layers", f"{token!r}: a dense layer needs at least 1 unit")
        elif token.startswith("drop") and not 0 <= float(token[4:]) < 1:
            raise ConfigError("layers", f"{token!r}: dropout must be in [0, 1)")
        if side < 1:
            raise ConfigError(
                "conv_blocks",
                f"the {IMAGE_SIDE}x{IMAGE_SIDE} image shrinks to nothing at {token!r}; "
                "use fewer conv blocks or a smaller kernel",
            )


@dataclass(frozen=True)
class Preset:
    """A classic experiment from the course notebooks, with the figure they reported."""

    slug: str
    config: RunConfig
    reported_accuracy: float | None  # test accuracy the notebook printed, as a fraction
    description: dict[str, str] = field(default_factory=dict)  # language code -> text


def _preset(slug: str, reported: float | None, en: str, es: str, **fields: object) -> Preset:
    return Preset(slug, RunConfig(**fields), reported, {"en": en, "es": es})


PRESET_LIST: tuple[Preset, ...] = (
    _preset(
        "chollet-512",
        0.9792,
        "Chollet's first network: Dense 512 relu, RMSprop, batch 128, 5 epochs, all 60k images.",
        "La primera red de Chollet: Dense 512 relu, RMSprop, lote 128, 5 épocas, las 60k imágenes.",
        width=512,
        depth=1,
        optimizer="rmsprop",
        batch_size=128,
        epochs=5,
        validation_size=0,
    ),
    _preset(
        "mlp-64-64",
        0.9562,
        "Two Dense 64 relu layers, inputs centred in [-0.5, 0.5], Adam, batch 32, 5 epochs "
        "(no validation split: the notebook does not mention one).",
        "Dos capas Dense 64 relu, entradas centradas en [-0.5, 0.5], Adam, lote 32, 5 épocas "
        "(sin validación: el cuaderno no la menciona).",
        width=64,
        depth=2,
        scaling="centered",
        batch_size=32,
        epochs=5,
        validation_size=0,
    ),
    _preset(
        "report-v1",
        0.9762,
        "Flatten → Dense 128 relu, 15 epochs. Optimizer and batch are not stated: "
        "Adam and Keras' default batch of 32.",
        "Flatten → Dense 128 relu, 15 épocas. El optimizador y el lote no se indican: "
        "Adam y el lote por defecto de Keras, 32.",
        width=128,
        depth=1,
        batch_size=32,
        epochs=15,
        validation_size=0,
    ),
    _preset(
        "report-v2",
        0.9822,
        "Conv2D 3×3 relu → MaxPool → Dropout 0.25 → Dense 10, 15 epochs. Filters, optimizer and "
        "batch are not stated: 32 filters, Adam, batch 32.",
        "Conv2D 3×3 relu → MaxPool → Dropout 0.25 → Dense 10, 15 épocas. Filtros, optimizador y "
        "lote no se indican: 32 filtros, Adam, lote 32.",
        arch="cnn",
        layers="conv32x3 pool drop0.25",
        batch_size=32,
        epochs=15,
        validation_size=0,
    ),
    _preset(
        "report-v3",
        0.9915,
        "Conv2D 32 4×4 → Conv2D 3×3 → MaxPool → Dropout 0.2 → Dense 248 → Dense 124 → "
        "Dropout 0.4, 20 epochs. Not stated: 64 filters in the second conv, Adam, batch 32.",
        "Conv2D 32 4×4 → Conv2D 3×3 → MaxPool → Dropout 0.2 → Dense 248 → Dense 124 → "
        "Dropout 0.4, 20 épocas. No se indica: 64 filtros en la segunda conv, Adam, lote 32.",
        arch="cnn",
        layers="conv32x4 conv64x3 pool drop0.2 dense248 dense124 drop0.4",
        batch_size=32,
        epochs=20,
        validation_size=0,
    ),
    _preset(
        "slides-sigmoid",
        0.098,
        "Dense 10 sigmoid, SGD, 5 epochs. The slides got 9.8% because the labels were divided "
        "by 255 by mistake; this preset trains it correctly.",
        "Dense 10 sigmoid, SGD, 5 épocas. Las diapositivas obtuvieron un 9,8 % porque las "
        "etiquetas se dividieron por 255 por error; este preset la entrena correctamente.",
        width=10,
        depth=1,
        activation="sigmoid",
        optimizer="sgd",
        learning_rate=0.01,
        batch_size=32,
        epochs=5,
        validation_size=0,
    ),
    _preset(
        "dnn-50-50",
        0.97,
        "Two Dense 50 relu layers, Adam, batch 100, 5 epochs, 10,000 images held out for "
        "validation (the notebook reports about 97%).",
        "Dos capas Dense 50 relu, Adam, lote 100, 5 épocas, 10.000 imágenes reservadas para "
        "validación (el cuaderno da un 97 % aproximadamente).",
        width=50,
        depth=2,
        batch_size=100,
        epochs=5,
        validation_size=10_000,
    ),
    _preset(
        "fast-cnn",
        None,
        "Our quick CNN for class: two stride-2 convolutions (cheaper than pooling) with batch "
        "norm, and a learning rate that glides to 0; over 99% test accuracy in under 20 s.",
        "Nuestra CNN rápida para clase: dos convoluciones de paso 2 (más baratas que el pooling) "
        "con batch norm y una tasa de aprendizaje que baja hasta 0; más del 99 % en test en "
        "menos de 20 s.",
        arch="cnn",
        layers="conv32x5s2 bn conv64x3s2 bn dense128",
        optimizer="adam",
        learning_rate=0.005,
        lr_schedule="cosine",
        batch_size=128,
        epochs=2,
        validation_size=0,
    ),
    _preset(
        "lab-default",
        None,
        "The shipped drawing model: a deeper CNN with batch norm, trained with augmentation.",
        "El modelo de dibujo incluido: una CNN más profunda con batch norm, entrenada con aumento "
        "de datos.",
        arch="cnn",
        layers="conv32x3 bn conv32x3 bn pool drop0.1 conv64x3 bn conv64x3 bn pool drop0.2 "
        "dense128 bn drop0.3",
        batch_size=128,
        epochs=15,
        validation_size=0,
        augment=True,
    ),
)
PRESETS: dict[str, RunConfig] = {p.slug: p.config for p in PRESET_LIST}
PRESET_INFO: dict[str, Preset] = {p.slug: p for p in PRESET_LIST}
