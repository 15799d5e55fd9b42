"""Inside a network, for one image: what every layer sees, which pixels pushed the answer, and
what the first layer looks for.

Everything runs eagerly on the model itself (no traced functions: Streamlit clears Keras'
session after every script run, and a live run's weights change under us), so it works alike
for the shipped model, a finished run and the run still training.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from mnist_app.drawing.preprocess import model_input
from mnist_app.engine.data import background_value
from mnist_app.engine.plan import IMAGE_SIDE, NUM_CLASSES

# The layers worth looking at; batch norm, dropout, reshapes and augmentation change little
# that a student could read at inference.
SHOWN_LAYERS = (keras.layers.Conv2D, keras.layers.MaxPooling2D, keras.layers.Dense)
STRONGEST = 5  # units or feature maps marked as the strongest of a layer
# Integrated gradients: points on the path from the blank image to the digit. ReLU, pooling and
# batch norm put kinks on that path: on the shipped CNN the attributions' sum missed the change
# of score by 10% with 64 points, 1% with 256 (about half a second here).
IG_STEPS = 256
SMOOTH_SAMPLES = 24  # SmoothGrad: noisy copies whose gradients are averaged
SMOOTH_NOISE = 0.15  # their noise, as a fraction of the input's range


@dataclass(frozen=True)
class LayerActivation:
    """One layer's output for one image: feature maps (height, width, maps) or units (units,)."""

    name: str
    type: str  # the Keras class: Conv2D, MaxPooling2D, Dense
    values: np.ndarray

    @property
    def is_maps(self) -> bool:
        return self.values.ndim == 3

    @property
    def strengths(self) -> np.ndarray:
        """One number per unit or map: its activation, or a map's mean."""
        return self.values.mean(axis=(0, 1)) if self.is_maps else self.values

    def strongest(self, count: int = STRONGEST) -> np.ndarray:
        """The indices of the `count` most active units or maps, strongest first."""
        order = np.argsort(-self.strengths, kind="stable")
        return order[: min(count, len(order))]


def as_batch(model: keras.Model, image: np.ndarray, scaling: str) -> np.ndarray:
    """A [0, 1] 28×28 image as the model's input: its scaling, a batch of one, ± a channel."""
    return model_input(image, scaling).reshape((1, *model.input_shape[1:]))


_probes: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def shown_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The model's convolution, pooling and dense layers, in order (the output layer last)."""
    return [layer for layer in model.layers if isinstance(layer, SHOWN_LAYERS)]


def _probe(model: keras.Model) -> keras.Model:
    """A model giving every shown layer's output, then the output layer's input and the
    model's output (its probabilities), made once."""
    probe = _probes.get(model)
    if probe is None:
        shown = [layer.output for layer in shown_layers(model)]
        outputs = [*shown, model.layers[-1].input, model.outputs[0]]
        inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs  # as it is called
        probe = keras.Model(inputs, outputs, name=f"{model.name}_probe")
        _probes[model] = probe
    return probe


def activations(model: keras.Model, batch: np.ndarray) -> list[LayerActivation]:
    """What every shown layer outputs for the first image of the batch."""
    outputs = _probe(model)(batch, training=False)[:-2]
    return [
        LayerActivation(layer.name, type(layer).__name__, np.asarray(output, np.float32)[0])
        for layer, output in zip(shown_layers(model), outputs, strict=True)
    ]


def hidden_features(model: keras.Model, batch: np.ndarray) -> np.ndarray:
    """The last hidden layer (what the output layer reads) for every image of the batch."""
    return hidden_and_probabilities(model, batch)[0]


def hidden_and_probabilities(
    model: keras.Model, batch: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The last hidden layer and the ten probabilities of every image, from one pass."""
    *_, features, probabilities = _probe(model)(batch, training=False)
    features = np.asarray(features, np.float32).reshape(len(batch), -1)  # bf16 in mixed precision
    return features, np.asarray(probabilities, np.float32)


def _scores(model: keras.Model):
    """A function of a batch giving the ten scores the answer is made of, differentiable.

    The logits when the output layer is a softmax Dense (the gradients of probabilities
    vanish once the network is sure); log-probabilities otherwise.
    """
    last = model.layers[-1]
    activation = getattr(getattr(last, "activation", None), "__name__", "")
    if isinstance(last, keras.layers.Dense) and activation == "softmax":
        probe = _probe(model)

        def logits(x):
            hidden = tf.reshape(probe(x, training=False)[-2], (tf.shape(x)[0], -1))
            hidden = tf.cast(hidden, last.kernel.dtype)  # a mixed-precision body: float32 here
            return tf.matmul(hidden, last.kernel) + last.bias

        return logits
    return lambda x: tf.math.log(model(x, training=False) + 1e-12)


@dataclass(frozen=True)
class Saliency:
    """Where a network looked when it scored one digit, on the 28×28 image.

    `attribution`: integrated gradients from the blank image, signed: how much each pixel's ink
    pushed the digit's score up (> 0) or down (< 0); they add up to `score - blank_score`.
    `sensitivity`: SmoothGrad, ≥ 0: where a change of ink (also where there is none) would
    change the score most.
    """

    digit: int
    attribution: np.ndarray
    sensitivity: np.ndarray
    score: float  # the digit's score (logit) for the image
    blank_score: float  # and for the blank image the path starts from


def _gradients(scores, x: np.ndarray, digit: int) -> tuple[np.ndarray, np.ndarray]:
    """The digit's scores for a batch, and their gradients with respect to the pixels."""
    x = tf.convert_to_tensor(x, dtype=tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        score = scores(x)[:, digit]
    return np.asarray(score), np.asarray(tape.gradient(score, x))


def saliency(model: keras.Model, batch: np.ndarray, digit: int, scaling: str) -> Saliency:
    """Integrated gradients and SmoothGrad of `digit`'s score for the first image of `batch`."""
    if not 0 <= digit < NUM_CLASSES:
        raise ValueError(f"digit must be 0..9, not {digit}")
    scores = _scores(model)
    x = np.asarray(batch[:1], dtype=np.float32)
    blank = np.full_like(x, background_value(scaling))
    alphas = (np.arange(IG_STEPS, dtype=np.float32) + 0.5) / IG_STEPS  # midpoints of the path
    path = blank + alphas.reshape(-1, *[1] * (x.ndim - 1)) * (x - blank)
    _, gradients = _gradients(scores, path, digit)
    attribution = (x - blank)[0] * gradients.mean(axis=0)
    ends, _ = _gradients(scores, np.concatenate([x, blank]), digit)
    spread = SMOOTH_NOISE * (1.0 if scaling != "none" else 255.0)
    noise = np.random.default_rng(0).normal(0.0, spread, (SMOOTH_SAMPLES, *x.shape[1:]))
    _, noisy = _gradients(scores, x + noise.astype(np.float32), digit)
    return Saliency(
        digit=digit,
        attribution=_square(attribution),
        sensitivity=_square(np.abs(noisy).mean(axis=0)),
        score=float(ends[0]),
        blank_score=float(ends[1]),
    )


def _square(values: np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=np.float64).reshape(IMAGE_SIDE, IMAGE_SIDE)


@dataclass(frozen=True)
class FirstLayer:
    """The first layer's weights as images: one 28×28 per dense unit, or one filter per map."""

    name: str
    type: str  # Dense or Conv2D
    images: np.ndarray  # (units or filters, height, width), signed


def first_layer(model: keras.Model) -> FirstLayer | None:
    """What each unit of the first dense or convolution layer looks for, if it reads the image.

    None when the first such layer does not read the pixels directly (nothing to draw).
    """
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dense):
            kernel = np.asarray(layer.kernel)
            if kernel.shape[0] != IMAGE_SIDE * IMAGE_SIDE:
                return None
            return FirstLayer(layer.name, "Dense", kernel.T.reshape(-1, IMAGE_SIDE, IMAGE_SIDE))
        if isinstance(layer, keras.layers.Conv2D):
            kernel = np.asarray(layer.kernel)  # (height, width, channels in, filters)
            if kernel.shape[2] != 1:
                return None
            return FirstLayer(layer.name, "Conv2D", np.moveaxis(kernel[:, :, 0, :], -1, 0))
    return None


def runners_up(probabilities: np.ndarray, count: int = 3) -> list[tuple[int, float]]:
    """The digits after the answer, most likely first, with their probabilities."""
    order = np.argsort(-np.asarray(probabilities), kind="stable")
    return [(int(d), float(probabilities[d])) for d in order[1 : count + 1]]
