"""Layer plans: a network's hidden layers as typed specs, parsed once and sized by arithmetic.

A plan is written as words, e.g. "conv32x5s2 bn pool drop0.25 dense128". `parse_plan` turns
the words into specs, `size_plan` works out every layer's output shape and parameter count the
way Keras will (no weights are allocated), and `build_model` turns each spec into one layer.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

IMAGE_SIDE = 28
NUM_CLASSES = 10
MAX_LAYERS = 64  # far more than any lesson needs; thousands overflowed Keras' recursion
MAX_CONV_FILTERS = 1024
MAX_DENSE_UNITS = 16_384
BYTES_PER_NUMBER = 4  # float32


@dataclass(frozen=True)
class Conv:
    """A 2-D convolution with `filters` kernels of `kernel`×`kernel` pixels, moving `stride`."""

    filters: int
    kernel: int
    stride: int = 1

    def __str__(self) -> str:
        return f"conv{self.filters}x{self.kernel}" + (f"s{self.stride}" if self.stride > 1 else "")


@dataclass(frozen=True)
class Pool:
    """2×2 max pooling: halves the image's width and height."""

    def __str__(self) -> str:
        return "pool"


@dataclass(frozen=True)
class Dropout:
    """Zeroes a fraction `rate` of its inputs at random while training."""

    rate: float

    def __str__(self) -> str:
        return f"drop{self.rate:g}"


@dataclass(frozen=True)
class BatchNorm:
    """Batch normalization of the previous layer's outputs."""

    def __str__(self) -> str:
        return "bn"


@dataclass(frozen=True)
class Dense:
    """A fully connected layer of `units` neurons."""

    units: int

    def __str__(self) -> str:
        return f"dense{self.units}"


LayerSpec = Conv | Pool | Dropout | BatchNorm | Dense

_TOKEN = re.compile(
    r"conv(?P<filters>\d+)x(?P<kernel>\d+)(?:s(?P<stride>\d+))?"
    r"|dense(?P<units>\d+)|drop(?P<rate>\d*\.?\d+)|(?P<pool>pool)|(?P<bn>bn)"
)
GRAMMAR = (
    "use convFxK (convFxKsS for stride S), pool, dropP, denseN or bn "
    "(e.g. 'conv32x3 pool drop0.25 dense128')"
)


class PlanError(ValueError):
    """A layer plan that cannot be built; the message says which word and why.

    `reason` (with `values`) names the problem for a translated message: no_layer,
    too_many_layers, not_a_layer, word_range, after_dense or shrinks.
    """

    def __init__(self, reason: str, message: str, **values: object):
        super().__init__(message)
        self.reason = reason
        self.values = values


def parse_plan(text: str) -> tuple[LayerSpec, ...]:
    """The layers a plan's words describe, checked one by one and in order."""
    words = text.replace(",", " ").split()
    if not words:
        raise PlanError("no_layer", f"{text!r} names no layer; {GRAMMAR}")
    if len(words) > MAX_LAYERS:
        raise PlanError(
            "too_many_layers",
            f"{len(words)} layers is more than the limit of {MAX_LAYERS}",
            count=len(words),
            limit=MAX_LAYERS,
        )
    specs = tuple(_parse_word(word) for word in words)
    check_order(specs)
    return specs


def _parse_word(word: str) -> LayerSpec:
    match = _TOKEN.fullmatch(word)
    if match is None:
        raise PlanError("not_a_layer", f"{word!r} is not a layer; {GRAMMAR}", word=word)
    if match["filters"]:
        filters, kernel = int(match["filters"]), int(match["kernel"])
        stride = int(match["stride"] or 1)
        if not (1 <= filters <= MAX_CONV_FILTERS and kernel >= 1 and stride >= 1):
            raise PlanError(
                "word_range",
                f"{word!r}: filters must be 1..{MAX_CONV_FILTERS}; kernel and stride must be "
                "at least 1",
                word=word,
            )
        return Conv(filters, kernel, stride)
    if match["units"]:
        units = int(match["units"])
        if not 1 <= units <= MAX_DENSE_UNITS:
            raise PlanError(
                "word_range", f"{word!r}: a dense layer needs 1..{MAX_DENSE_UNITS} units", word=word
            )
        return Dense(units)
    if match["rate"]:
        rate = float(match["rate"])
        if not 0 <= rate < 1:
            raise PlanError("word_range", f"{word!r}: dropout must be in [0, 1)", word=word)
        return Dropout(rate)
    return Pool() if match["pool"] else BatchNorm()


def check_order(specs: tuple[LayerSpec, ...]) -> None:
    """Convolutions and pooling work on images: none may follow a dense layer."""
    seen_dense = False
    for spec in specs:
        seen_dense = seen_dense or isinstance(spec, Dense)
        if seen_dense and isinstance(spec, Conv | Pool):
            raise PlanError(
                "after_dense",
                f"{str(spec)!r} comes after a dense layer; put it before",
                word=str(spec),
            )


def works_on_images(specs: tuple[LayerSpec, ...], augment: bool) -> bool:
    """Whether the network keeps the 28×28 picture shape before its dense layers."""
    return augment or any(isinstance(spec, Conv | Pool) for spec in specs)


@dataclass(frozen=True)
class LayerSize:
    """One layer of the built model: its name, Keras type, output shape and weights."""

    name: str
    type: str
    output_shape: tuple[int, ...]
    params: int
    trainable: int


@dataclass(frozen=True)
class PlanSize:
    """How big a network is, worked out before building it."""

    layers: tuple[LayerSize, ...]
    total_params: int
    trainable_params: int
    activations_per_image: int  # numbers every layer outputs for one image

    @property
    def weight_bytes(self) -> int:
        return self.total_params * BYTES_PER_NUMBER

    def activation_bytes(self, batch_size: int) -> int:
        """Memory the outputs of one training batch take (kept for backpropagation)."""
        return self.activations_per_image * batch_size * BYTES_PER_NUMBER


def layer_names(specs: tuple[LayerSpec, ...]) -> list[str]:
    """The name each spec's layer gets: conv_1, pool_2, ... (numbered by position)."""
    kinds = {Conv: "conv", Pool: "pool", Dropout: "dropout", BatchNorm: "batchnorm", Dense: "dense"}
    return [f"{kinds[type(spec)]}_{i}" for i, spec in enumerate(specs, start=1)]


def size_plan(specs: tuple[LayerSpec, ...], augment: bool = False) -> PlanSize:
    """Every layer's output shape and parameter count, by the arithmetic Keras uses.

    Raises PlanError where a convolution or pooling would shrink the image to nothing.
    """
    rows: list[LayerSize] = []
    images = works_on_images(specs, augment)
    shape: tuple[int, ...] = (IMAGE_SIDE, IMAGE_SIDE, 1) if images else (IMAGE_SIDE**2,)

    def add(name: str, kind: str, params: int = 0, trainable: int | None = None) -> None:
        rows.append(
            LayerSize(name, kind, shape, params, params if trainable is None else trainable)
        )

    add("add_channel" if images else "flatten", "Reshape" if images else "Flatten")
    if augment:
        add("augmentation", "Sequential")
    for name, spec in zip(layer_names(specs), specs, strict=True):
        if isinstance(spec, Dense) and len(shape) == 3:
            shape = (math.prod(shape),)
            add("flatten", "Flatten")
        if isinstance(spec, Conv):
            side = (shape[0] - spec.kernel) // spec.stride + 1
            _check_side(side, spec)
            inputs = spec.kernel**2 * shape[2]
            shape = (side, side, spec.filters)
            add(name, "Conv2D", (inputs + 1) * spec.filters)
        elif isinstance(spec, Pool):
            _check_side(shape[0] // 2, spec)
            shape = (shape[0] // 2, shape[1] // 2, shape[2])
            add(name, "MaxPooling2D")
        elif isinstance(spec, Dense):
            inputs = shape[0]
            shape = (spec.units,)
            add(name, "Dense", (inputs + 1) * spec.units)
        elif isinstance(spec, BatchNorm):
            add(name, "BatchNormalization", 4 * shape[-1], trainable=2 * shape[-1])
        else:
            add(name, "Dropout")
    if len(shape) == 3:
        shape = (math.prod(shape),)
        add("flatten", "Flatten")
    inputs, shape = shape[0], (NUM_CLASSES,)
    add("digit", "Dense", (inputs + 1) * NUM_CLASSES)
    return PlanSize(
        layers=tuple(rows),
        total_params=sum(row.params for row in rows),
        trainable_params=sum(row.trainable for row in rows),
        activations_per_image=IMAGE_SIDE**2 + sum(math.prod(row.output_shape) for row in rows),
    )


def _check_side(side: int, spec: LayerSpec) -> None:
    if side < 1:
        raise PlanError(
            "shrinks",
            f"the {IMAGE_SIDE}x{IMAGE_SIDE} image shrinks to nothing at {str(spec)!r}; "
            "use fewer layers that shrink it, a smaller kernel or a smaller stride",
            word=str(spec),
        )
