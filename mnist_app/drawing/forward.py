"""A saved model's forward pass in numpy: reading one drawing in a fraction of a millisecond,
without loading TensorFlow.

The Draw page reads every stroke with the model picked. Through Keras that costs ~1 ms a call
(a traced TensorFlow graph) and, on a fresh server, the ~3 s it takes to import TensorFlow.
The networks this app builds are a chain of a few plain layers, so the same arithmetic in numpy
is short: the file's config.json and model.weights.h5 are read directly (a .keras file is a zip
of both) and the layers run as matrix products.

Only what is understood exactly is run: a functional chain of the layers below, with the options
our models use. Anything else (another layer, a branch, padding "same", a weight of an
unexpected shape...) raises `Unsupported`, and the caller reads with Keras instead; damaged
and unsafe files are Keras' to judge (mnist_app.drawing.predict), never guessed at here. Models
trained in mixed bfloat16 are computed here in float32, a little more precisely than Keras would.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import re
import threading
import zipfile
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
from scipy.special import erf
from threadpoolctl import ThreadpoolController

MAX_CONFIG_BYTES = 2**20  # our models' configs are ~20 KB
MAX_WEIGHT_BYTES = 64 * 2**20  # the 5 MB shipped-model cap, with room for bigger runs
Step = Callable[[np.ndarray], np.ndarray]


class Unsupported(ValueError):
    """A model file this module does not read; Keras will."""


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


class Forward:
    """A model's inference as numpy steps: `forward(batch)` gives its output for a batch."""

    def __init__(self, path: str, shapes: tuple[tuple, tuple], steps: list[Step]):
        self.path = path  # the file it was read from (Keras can load the same one)
        self.input_shape, self.output_shape = ((None, *shape) for shape in shapes)  # as in Keras
        self._steps = steps

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        x = np.asarray(batch, np.float32).reshape((-1, *self.input_shape[1:]))
        with _one_blas_thread():
            for step in self._steps:
                x = step(x)
        return x


_blas_lock = threading.Lock()


@functools.lru_cache(maxsize=1)
def _blas() -> list:
    """numpy's BLAS libraries, found once (~ms)."""
    return ThreadpoolController().select(user_api="blas").lib_controllers


@contextlib.contextmanager
def _one_blas_thread():
    """numpy's BLAS on one thread for the call: its threads wait on each other whenever the
    other core is busy (training, the browser). One image's largest product took 0.09 ms on
    one thread and 2-8 ms on two with the other core training. Callers take turns, so the
    setting they restore is never another call's."""
    with _blas_lock:
        before = [(lib, lib.num_threads) for lib in _blas()]
        for lib, _ in before:
            lib.set_num_threads(1)
        try:
            yield
        finally:
            for lib, threads in before:
                lib.set_num_threads(threads)


def load_forward(path: str | Path) -> Forward:
    """The model in the .keras file at `path`, ready to run; `Unsupported` if it is not one of
    the plain chains this module understands (or not a readable file at all)."""
    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(_member(archive, "config.json", MAX_CONFIG_BYTES))
            weights = _member(archive, "model.weights.h5", MAX_WEIGHT_BYTES)
        with h5py.File(io.BytesIO(weights), "r") as store:
            return _build(str(path), config, store)
    except Unsupported:
        raise
    except Exception as error:  # a zip, JSON or HDF5 problem: Keras will say what is wrong
        raise Unsupported(f"{path}: {type(error).__name__}: {error}") from error


def _member(archive: zipfile.ZipFile, name: str, limit: int) -> bytes:
    if archive.getinfo(name).file_size > limit:
        raise Unsupported(f"{name} is over {limit} bytes")
    return archive.read(name)


def _build(path: str, config: dict, store: h5py.File) -> Forward:
    kind, body = config.get("class_name"), config.get("config") or {}
    if kind not in ("Functional", "Sequential"):
        raise Unsupported(f"a {kind} model")
    layers = list(body["layers"])
    if layers and layers[0]["class_name"] == "InputLayer":
        shape = tuple(layers.pop(0)["config"]["batch_shape"][1:])
    elif kind == "Sequential" and body.get("build_input_shape"):
        shape = tuple(body["build_input_shape"][1:])
    else:
        raise Unsupported("no input layer")
    if kind == "Functional":
        _check_chain(body)
    input_shape, steps, seen = shape, [], {}
    norm: _Norm | None = None  # a batch normalization not yet run: folded into what follows
    for layer in layers:
        kind, layer_config = layer["class_name"], layer["config"]
        count = seen.get(kind, -1) + 1  # Keras files each layer's weights under its class name
        seen[kind] = count
        group = _snake(kind) + (f"_{count}" if count else "")
        weights = [np.asarray(v, np.float32) for _, v in sorted(_vars(store, group), key=_index)]
        if kind == "BatchNormalization":
            if norm is not None:
                steps.append(norm.step)
            norm = _norm(layer_config, weights, shape)
            continue
        folded = None
        if norm is not None:
            if kind in ("Conv2D", "Dense"):
                folded, norm = norm, None
            elif kind == "Flatten":
                norm = norm.flattened(shape)
            elif not (_passes(kind, layer_config) or (kind == "MaxPooling2D" and norm.monotone)):
                steps.append(norm.step)
                norm = None
        step, shape = _step(kind, layer_config, weights, shape, folded)
        if step is not None:
            steps.append(step)
    if norm is not None:
        steps.append(norm.step)
    return Forward(path, (input_shape, shape), steps)


def _check_chain(body: dict) -> None:
    """Unsupported unless each layer of a functional model feeds the next one only."""
    layers = body["layers"]
    for previous, layer in zip(layers, layers[1:], strict=False):
        if _history(layer) != previous["name"]:
            raise Unsupported(f"{layer['name']} does not follow {previous['name']}: not a chain")
    if _history(layers[0]) is not None or [layers[-1]["name"], 0, 0] != body["output_layers"]:
        raise Unsupported("not one input through to one output")


def _history(layer: dict) -> str | None:
    """The one layer feeding this one (None for an input); Unsupported for several."""
    nodes = layer.get("inbound_nodes") or []
    if not nodes:
        return None
    if len(nodes) != 1 or len(nodes[0]["args"]) != 1 or any(nodes[0]["kwargs"].values()):
        raise Unsupported(f"{layer['name']} has several inputs or call options")
    return nodes[0]["args"][0]["config"]["keras_history"][0]


def _snake(name: str) -> str:
    """Keras' own snake_case of a class name: Conv2D → conv2d, MaxPooling2D → max_pooling2d."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", re.sub(r"\W+", "", name))
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _vars(store: h5py.File, group: str) -> list[tuple[str, h5py.Dataset]]:
    found = store.get(f"layers/{group}/vars")
    if found is None:
        raise Unsupported(f"no weights for layer {group}")
    return list(found.items())


def _index(item: tuple[str, object]) -> int:
    return int(item[0])


def _step(
    kind: str, config: dict, weights: list[np.ndarray], shape: tuple, norm: _Norm | None = None
) -> tuple:
    """The numpy step for one layer and the shape it gives (after the batch axis); `norm`, a
    batch normalization of its input, is folded into a Conv2D's or Dense's weights."""
    if _passes(kind, config):
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
    config: dict, weights: list[np.ndarray], shape: tuple, norm: _Norm | None = None
) -> tuple:
    units = config["units"]
    kernel, bias = _kernel_and_bias(config, weights, (shape[-1], units))
    if norm is not None:
        kernel, bias = norm.fold(kernel, bias)
    activation = _activation(config, in_place=True)
    return lambda x: activation(_add(x @ kernel, bias)), (*shape[:-1], units)


def _conv(
    config: dict, weights: list[np.ndarray], shape: tuple, norm: _Norm | None = None
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
        corners = [x[:, i : out[0] * ph : ph, j : out[1] * pw : pw]
                   for i in range(ph) for j in range(pw)]  # fmt: skip
        pooled = corners[0].copy()
        for corner in corners[1:]:
            np.maximum(pooled, corner, out=pooled)
        return pooled

    return pool, (*out, channels)


def _passes(kind: str, config: dict) -> bool:
    """Whether a layer leaves its input as it is when reading (dropout, augmentation)."""
    return kind in IDENTITY_LAYERS or (kind == "Sequential" and _only_augmentation(config))


class _Norm:
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

    def flattened(self, shape: tuple) -> _Norm:
        """The same for the flat vector of a (…, channels) input: channel = index % channels."""
        positions = int(np.prod(shape[:-1]))
        return _Norm(np.tile(self.scale, positions), np.tile(self.shift, positions))

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


def _norm(config: dict, weights: list[np.ndarray], shape: tuple) -> _Norm:
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
    return _Norm(scale, shift)
