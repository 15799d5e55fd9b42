"""The layers of the numpy forward pass (mnist_app/drawing/forward.py): each Keras layer our
models use, with the options they use, as a numpy step, and a batch normalization folded into
the weights of the layer after it. Any other layer or option raises `Unsupported`."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.special import erf

Step = Callable[[np.ndarray], np.ndarray]


class Unsupported(ValueError):
    """A model file the numpy forward pass does not read; Keras will."""


def _leaky_relu(x: np.ndarray, slope: float) -> np.ndarray:
    return np.where(x >= 0, x, slope * x)


def _elu(x: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


def _softmax(x: np.ndarray) -> np.ndarray:
    exp = np.exp(x - x.max(axis=-1, keepdims=True))
    return exp / exp.sum(axis=-1, keepdims=True)


_SELU = (1.0507009873554805, 1.6732632423543772)  # Keras' scale and alpha
ACTIVATIONS: dict[str, Step] = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0),
    "sigmoid": lambda x: 0.5 * (1 + np.tanh(0.5 * x)),  # = 1 / (1 + e^-x), without overflow
    "tanh": np.tanh,
    "elu": _elu,
    "selu": lambda x: _SELU[0] * _elu(x, _SELU[1]),
    "gelu": lambda x: 0.5 * x * (1 + erf(x / np.sqrt(2))),  # Keras' exact form (approximate=False)
    "leaky_relu": lambda x: _leaky_relu(x, 0.2),  # Keras 3's default negative slope
    "softmax": _softmax,
}
IDENTITY_LAYERS = {"Dropout", "SpatialDropout2D", "GaussianNoise", "GaussianDropout"}


def layer_step(
    kind: str, config: dict, weights: list[np.ndarray], shape: tuple, norm: BatchNorm | None = None
) -> tuple:
    """The numpy step for one layer and the shape it gives (after the batch axis); `norm`, a
    batch normalization of its input, is folded into a Conv2D's or Dense's weights."""
    if is_identity(kind, config):
        return None, shape
    if kind == "Reshape":
        target = tuple(config["target_shape"])
        if np.prod(target) != np.prod(shape):
            raise Unsupported(f"cannot reshape {shape} to {target}")
        return lambda x: x.reshape((-1, *target)), target
    if kind in ("Activation", "Softmax", "ReLU"):
        return _activation_layer(kind, config), shape
    if kind == "Flatten":
        return lambda x: x.reshape((len(x), -1)), (int(np.prod(shape)),)
    if kind == "Dense":
        return _dense(config, weights, shape, norm)
    if kind == "Conv2D":
        return _conv(config, weights, shape, norm)
    if kind == "MaxPooling2D":
        return _pool(config, shape)
    raise Unsupported(f"a {kind} layer")


def _only_augmentation(config: dict) -> bool:
    """A Sequential of random image changes (active only while training) and nothing else."""
    inner = [layer["class_name"] for layer in config["layers"]]
    return all(kind == "InputLayer" or kind.startswith("Random") for kind in inner)


def _activation(config: dict, in_place: bool = False) -> Step:
    """The layer's activation; with `in_place`, ReLU overwrites its input (a step's own array)."""
    name = config.get("activation", "linear")
    if name not in ACTIVATIONS:
        raise Unsupported(f"the activation {name!r}")
    if in_place and name == "relu":
        return lambda x: np.maximum(x, 0, out=x)
    return ACTIVATIONS[name]


def _activation_layer(kind: str, config: dict) -> Step:
    """Keras' activation layers, with their default options only."""
    if kind == "Activation":
        return _activation(config)
    if kind == "Softmax" and config.get("axis", -1) == -1:
        return _softmax
    plain_relu = {"max_value": None, "negative_slope": 0.0, "threshold": 0.0}
    if kind == "ReLU" and all(config.get(k, v) == v for k, v in plain_relu.items()):
        return ACTIVATIONS["relu"]
    raise Unsupported(f"a {kind} layer with options {config}")


def _kernel_and_bias(config: dict, weights: list[np.ndarray], kernel_shape: tuple) -> tuple:
    expected = [kernel_shape] + ([kernel_shape[-1:]] if config["use_bias"] else [])
    if [w.shape for w in weights] != expected:
        raise Unsupported(f"weights {[w.shape for w in weights]}, expected {expected}")
    bias = weights[1] if config["use_bias"] else np.zeros(kernel_shape[-1], np.float32)
    return weights[0], bias


def _add(product: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """The bias added in place: the product is a new array of the step's own."""
    product += bias
    return product


def _dense(
    config: dict, weights: list[np.ndarray], shape: tuple, norm: BatchNorm | None = None
) -> tuple:
    units = config["units"]
    kernel, bias = _kernel_and_bias(config, weights, (shape[-1], units))
    if norm is not None:
        kernel, bias = norm.fold(kernel, bias)
    activation = _activation(config, in_place=True)
    return lambda x: activation(_add(x @ kernel, bias)), (*shape[:-1], units)


def _conv(
    config: dict, weights: list[np.ndarray], shape: tuple, norm: BatchNorm | None = None
) -> tuple:
    plain = {"padding": "valid", "data_format": "channels_last", "groups": 1}
    if any(config.get(key, value) != value for key, value in plain.items()) or tuple(
        config.get("dilation_rate", (1, 1))
    ) != (1, 1):
        raise Unsupported(f"a convolution with options {config}")
    (kh, kw), (sh, sw), filters = config["kernel_size"], config["strides"], config["filters"]
    height, width, channels = shape
    kernel, bias = _kernel_and_bias(config, weights, (kh, kw, channels, filters))
    if norm is not None:
        kernel, bias = norm.fold(kernel, bias)
    by_row = kernel.reshape(kh, kw * channels, filters)  # each kernel row: (column, channel)
    activation = _activation(config, in_place=True)
    out = ((height - kh) // sh + 1, (width - kw) // sw + 1)
    if min(out) < 1:
        raise Unsupported(f"a {kh}×{kw} kernel on a {height}×{width} image")

    def conv(x: np.ndarray) -> np.ndarray:
        # The input shifted once per kernel column, side by side in (column, channel) order:
        # each kernel row is then one product with a slice of it, contiguous at stride 1.
        # A third of the copying of one window per row (im2col), ~20% faster for one image.
        columns = np.concatenate([x[:, :, j : j + sw * out[1] : sw] for j in range(kw)], axis=-1)
        rows = [columns[:, i : i + sh * out[0] : sh].reshape(-1, kw * channels) for i in range(kh)]
        total = rows[0] @ by_row[0]
        for row, kernel_row in zip(rows[1:], by_row[1:], strict=True):
            total += row @ kernel_row
        return activation(_add(total, bias)).reshape(len(x), *out, filters)

    return conv, (*out, filters)


def _pool(config: dict, shape: tuple) -> tuple:
    size, strides = tuple(config["pool_size"]), tuple(config["strides"])
    if (
        size != strides
        or config.get("padding") != "valid"
        or config.get("data_format")
        not in (
            "channels_last",
            None,
        )
    ):
        raise Unsupported(f"pooling with options {config}")
    (ph, pw), (height, width, channels) = size, shape
    out = (height // ph, width // pw)

    def pool(x: np.ndarray) -> np.ndarray:
        # The window's corners as strided views, maxed into one array: 15 µs for the shipped
        # CNN's first pooling, where a max over a reshaped array's window axes took 36 µs.
        corners = [
            x[:, i : out[0] * ph : ph, j : out[1] * pw : pw] for i in range(ph) for j in range(pw)
        ]
        pooled = corners[0].copy()
        for corner in corners[1:]:
            np.maximum(pooled, corner, out=pooled)
        return pooled

    return pool, (*out, channels)


def is_identity(kind: str, config: dict) -> bool:
    """Whether a layer leaves its input as it is when reading (dropout, augmentation)."""
    return kind in IDENTITY_LAYERS or (kind == "Sequential" and _only_augmentation(config))


class BatchNorm:
    """A batch normalization at inference: x · scale + shift along the last axis.

    It is folded into the weights of the convolution or dense layer that follows (their input
    is linear in it, and "valid" padding adds no zeros that the shift would miss), through any
    dropout, flattening and, when no scale is negative, max-pooling (which then commutes with
    it). Anything else between them and it runs on its own. With the five normalizations of the
    shipped CNN folded, and pooling and the bias and ReLU done in place, its forward pass went
    from 0.48-0.50 ms to 0.38 ms (bench/predict_latency.py, "model", alternating with the code
    before).
    """

    def __init__(self, scale: np.ndarray, shift: np.ndarray):
        self.scale, self.shift = scale, shift
        self.monotone = bool((scale >= 0).all())

    def step(self, x: np.ndarray) -> np.ndarray:
        return x * self.scale + self.shift

    def flattened(self, shape: tuple) -> BatchNorm:
        """The same for the flat vector of a (…, channels) input: channel = index % channels."""
        positions = int(np.prod(shape[:-1]))
        return BatchNorm(np.tile(self.scale, positions), np.tile(self.shift, positions))

    def fold(self, kernel: np.ndarray, bias: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The kernel and bias of a layer that normalizes its input first (its input channels
        on the kernel's second last axis, as in Conv2D's and Dense's)."""
        kernel64 = kernel.astype(np.float64)
        along = (None,) * (kernel.ndim - 2) + (slice(None), None)  # the input-channel axis
        folded = (kernel64 * self.scale.astype(np.float64)[along]).astype(np.float32)
        added = np.tensordot(self.shift.astype(np.float64), kernel64, axes=([0], [-2]))
        if added.ndim > 1:  # a convolution: the shift meets every kernel position
            added = added.sum(axis=tuple(range(added.ndim - 1)))
        return folded, (bias + added).astype(np.float32)


def batch_norm(config: dict, weights: list[np.ndarray], shape: tuple) -> BatchNorm:
    """A BatchNormalization layer at inference, from its weights; Unsupported for other options."""
    if config.get("axis") not in (-1, len(shape)) or config.get("renorm"):
        raise Unsupported(f"batch normalization with options {config}")
    count = 2 + config["scale"] + config["center"]
    if len(weights) != count or any(w.shape != shape[-1:] for w in weights):
        raise Unsupported(f"batch normalization weights {[w.shape for w in weights]}")
    gamma = weights.pop(0) if config["scale"] else 1.0
    beta = weights.pop(0) if config["center"] else 0.0
    mean, variance = weights
    scale = (gamma / np.sqrt(variance + config["epsilon"])).astype(np.float32)
    shift = (beta - mean * scale).astype(np.float32)
    return BatchNorm(scale, shift)
