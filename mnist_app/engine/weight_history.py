"""Weights over training: at every epoch, a histogram of each layer's weights and the size of
its gradient, so a class can watch the weights spread out and the gradients shrink."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import keras
import numpy as np
import tensorflow as tf

HISTOGRAM_BINS = 40
# One fixed batch per run, drawn once: the gradient's size then changes only because the weights
# did, and measuring it costs one forward and backward pass of 256 images per epoch.
GRADIENT_IMAGES = 256


@dataclass(frozen=True)
class LayerWeights:
    """One layer's kernel at one moment: its histogram, summary numbers and gradient norm.

    Only kernels (Dense, Conv2D) are recorded: they hold nearly all the weights and are where
    learning shows (Glorot's flat start becoming a bell); biases start at zero and are few.
    """

    name: str
    kind: str  # the Keras layer class: "Dense", "Conv2D"
    shape: tuple[int, ...]
    counts: tuple[int, ...]  # weights in each bin; they add up to size minus `nonfinite`
    edges: tuple[float, ...]  # HISTOGRAM_BINS + 1 edges, from the smallest weight to the largest
    mean: float | None
    std: float | None
    low: float | None
    high: float | None
    nonfinite: int  # NaN or infinite weights (a run that blew up), left out of the histogram
    gradient_norm: float | None  # L2 norm of the loss's gradient for the kernel, fixed batch

    @property
    def size(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class EpochWeights:
    """Every recorded layer after `epoch` epochs (0: the initial weights, before training)."""

    epoch: int
    layers: tuple[LayerWeights, ...]

    def payload(self) -> list[dict]:
        """The layers as JSON-ready data, as the store keeps them."""
        return [asdict(layer) for layer in self.layers]

    @classmethod
    def from_payload(cls, epoch: int, payload: list[dict]) -> EpochWeights:
        layers = tuple(
            LayerWeights(
                **{
                    **item,
                    "shape": tuple(item["shape"]),
                    "counts": tuple(item["counts"]),
                    "edges": tuple(item["edges"]),
                }
            )
            for item in payload
        )
        return cls(epoch, layers)


def layers_with_weights(model: keras.Model) -> list[keras.layers.Layer]:
    """The model's layers that have a kernel, input to output."""
    return [layer for layer in model.layers if getattr(layer, "kernel", None) is not None]


def describe(values: np.ndarray, bins: int = HISTOGRAM_BINS) -> dict:
    """A histogram of the values (finite ones only) with its edges, and their summary numbers."""
    values = np.asarray(values, dtype=np.float64).ravel()
    finite = values[np.isfinite(values)]
    if not len(finite):
        return {
            "counts": (0,) * bins,
            "edges": (),
            "mean": None,
            "std": None,
            "low": None,
            "high": None,
            "nonfinite": len(values),
        }
    counts, edges = np.histogram(finite, bins=bins)
    return {
        "counts": tuple(int(c) for c in counts),
        "edges": tuple(float(e) for e in edges),
        "mean": float(finite.mean()),
        "std": float(finite.std()),
        "low": float(finite.min()),
        "high": float(finite.max()),
        "nonfinite": len(values) - len(finite),
    }


def gradient_norm_function(model: keras.Model, layers: list) -> Callable:
    """A compiled function of a batch (x, y): the L2 norm of the loss's gradient for each
    layer's kernel, as a list of scalars.

    In inference mode (no dropout, no augmentation), so only the weights change the figure.
    Compiled once per run: run eagerly, the small CNN's record took three times as long.
    """
    kernels = [layer.kernel for layer in layers]

    @tf.function
    def norms(x, y):
        with tf.GradientTape() as tape:
            predicted = model(x, training=False)
            loss = model.compute_loss(x=x, y=y, y_pred=predicted, training=False)
        return [tf.norm(gradient) for gradient in tape.gradient(loss, kernels)]

    return norms


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def describe_layers(epoch: int, layers: list, norms: list) -> EpochWeights:
    """The layers' kernels as they are after `epoch` epochs, with their gradient norms."""
    return EpochWeights(
        epoch,
        tuple(
            LayerWeights(
                name=layer.name,
                kind=type(layer).__name__,
                shape=tuple(int(n) for n in layer.kernel.shape),
                gradient_norm=_finite(float(norm)),
                **describe(keras.ops.convert_to_numpy(layer.kernel)),
            )
            for layer, norm in zip(layers, norms, strict=True)
        ),
    )


def gradient_batch(x_train: np.ndarray, y_train: np.ndarray, seed: int) -> tuple:
    """GRADIENT_IMAGES training images and labels drawn once with the run's seed, as tensors."""
    count = min(GRADIENT_IMAGES, len(x_train))
    chosen = np.sort(np.random.default_rng(seed).choice(len(x_train), count, replace=False))
    return tf.constant(x_train[chosen]), tf.constant(y_train[chosen])


class WeightHistory(keras.callbacks.Callback):
    """Records the weights before training and after every epoch, passing each record on.

    A continued run goes on from `first_epoch` (its parent's epochs); `seconds` keeps how long
    each record took, for the benchmark (the first includes compiling the gradient function).
    """

    def __init__(
        self,
        x_train,
        y_train,
        seed: int,
        on_record: Callable[[EpochWeights], None],
        first_epoch: int = 0,
    ):
        super().__init__()
        self.x, self.y = gradient_batch(x_train, y_train, seed)
        self.on_record = on_record
        self.first_epoch = first_epoch
        self.seconds: list[float] = []
        self.layers: list = []
        self.norms: Callable | None = None

    def on_train_begin(self, logs=None):
        self.layers = layers_with_weights(self.model)
        self.norms = gradient_norm_function(self.model, self.layers)
        self.record(self.first_epoch)

    def on_epoch_end(self, epoch, logs=None):
        self.record(epoch + 1)  # Keras counts from 0 (from initial_epoch when continued)

    def record(self, epoch: int) -> None:
        start = time.perf_counter()
        weights = describe_layers(epoch, self.layers, self.norms(self.x, self.y))
        self.seconds.append(time.perf_counter() - start)
        self.on_record(weights)
