"""MNIST from the copy shipped with the project, split and scaled for training."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnist_app.config import RunConfig

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_ENV = "MNIST_LAB_DATA"  # path override for mnist.npz
DEFAULT_DATA = PROJECT_ROOT / "data" / "mnist.npz"
_EXPECTED = {
    "x_train": (60_000, 28, 28),
    "y_train": (60_000,),
    "x_test": (10_000, 28, 28),
    "y_test": (10_000,),
}


def dataset_path() -> Path:
    """Where mnist.npz is read from: $MNIST_LAB_DATA, else the project's data/ folder."""
    return Path(os.environ.get(DATA_ENV) or DEFAULT_DATA)


@functools.cache
def load_mnist() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The four uint8 arrays (x_train, y_train, x_test, y_test), read once per process."""
    path = dataset_path()
    if path.exists():
        arrays = _read_npz(path)
    else:  # only reachable with a network; the project ships its own copy
        import keras

        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
        arrays = (x_train, y_train, x_test, y_test)
    for array in arrays:
        array.setflags(write=False)  # shared by every run in the process
    return arrays


def _read_npz(path: Path) -> tuple[np.ndarray, ...]:
    with np.load(path, allow_pickle=False) as npz:
        missing = set(_EXPECTED) - set(npz.files)
        if missing:
            raise ValueError(f"{path} is not an MNIST archive: missing {sorted(missing)}")
        arrays = tuple(np.asarray(npz[name], dtype=np.uint8) for name in _EXPECTED)
    for (name, shape), array in zip(_EXPECTED.items(), arrays, strict=True):
        if array.shape != shape:
            raise ValueError(f"{path}: {name} has shape {array.shape}, expected {shape}")
    return arrays


def scale_images(images: np.ndarray, scaling: str) -> np.ndarray:
    """Pixels 0..255 as float32: 'unit' → [0, 1], 'centered' → [-0.5, 0.5], 'none' → 0..255."""
    x = images.astype(np.float32)
    if scaling == "none":
        return x
    x /= 255.0  # Scale images to the [0, 1] range
    if scaling == "centered":
        x -= 0.5
    return x


def background_value(scaling: str) -> float:
    """The value an empty (black) pixel takes after scaling."""
    return -0.5 if scaling == "centered" else 0.0


@dataclass(frozen=True)
class Splits:
    """Model-ready arrays for one run: float32 images, int labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def prepare_data(config: RunConfig) -> Splits:
    """Split off validation from the end of the training set, apply `limit`, scale."""
    x_train, y_train, x_test, y_test = load_mnist()
    cut = len(x_train) - config.validation_size
    x_val, y_val = x_train[cut:], y_train[cut:]
    n = config.train_size
    return Splits(
        x_train=scale_images(x_train[:n], config.scaling),
        y_train=y_train[:n].astype(np.int32),
        x_val=scale_images(x_val, config.scaling),
        y_val=y_val.astype(np.int32),
        x_test=scale_images(x_test, config.scaling),
        y_test=y_test.astype(np.int32),
    )
