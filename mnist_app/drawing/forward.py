"""A saved model's forward pass in numpy: reading one drawing in a fraction of a millisecond,
without loading TensorFlow.

The Draw page reads every stroke with the model picked. Through Keras that costs ~1 ms a call
(a traced TensorFlow graph) and, on a fresh server, the ~3 s it takes to import TensorFlow.
The networks this app builds are a chain of a few plain layers, so the same arithmetic in numpy
is short: the file's config.json and model.weights.h5 are read directly (a .keras file is a zip
of both) and the layers run as matrix products (mnist_app/drawing/numpy_layers.py).

Only what is understood exactly is run: a functional chain of those layers, with the options
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
from pathlib import Path

import h5py
import numpy as np
from threadpoolctl import ThreadpoolController

from mnist_app.drawing.numpy_layers import (
    BatchNorm,
    Step,
    Unsupported,
    batch_norm,
    is_identity,
    layer_step,
)

MAX_CONFIG_BYTES = 2**20  # our models' configs are ~20 KB
MAX_WEIGHT_BYTES = 64 * 2**20  # the 5 MB shipped-model cap, with room for bigger runs


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
    norm: BatchNorm | None = None  # a batch normalization not yet run: folded into what follows
    for layer in layers:
        kind, layer_config = layer["class_name"], layer["config"]
        count = seen.get(kind, -1) + 1  # Keras files each layer's weights under its class name
        seen[kind] = count
        group = _snake(kind) + (f"_{count}" if count else "")
        weights = [np.asarray(v, np.float32) for _, v in sorted(_vars(store, group), key=_index)]
        if kind == "BatchNormalization":
            if norm is not None:
                steps.append(norm.step)
            norm = batch_norm(layer_config, weights, shape)
            continue
        folded = None
        if norm is not None:
            if kind in ("Conv2D", "Dense"):
                folded, norm = norm, None
            elif kind == "Flatten":
                norm = norm.flattened(shape)
            elif not (
                is_identity(kind, layer_config) or (kind == "MaxPooling2D" and norm.monotone)
            ):
                steps.append(norm.step)
                norm = None
        step, shape = layer_step(kind, layer_config, weights, shape, folded)
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
