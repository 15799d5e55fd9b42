"""MNIST from the copy shipped with the project, split and scaled for training."""

from __future__ import annotations

import functools
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnist_app.engine.config import RunConfig

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DATA_ENV = "MNIST_LAB_DATA"  # path override for mnist.npz
DEFAULT_DATA = PROJECT_ROOT / "data" / "mnist.npz"
TEST_IMAGES = 10_000
_EXPECTED = {
    "x_train": (60_000, 28, 28),
    "y_train": (60_000,),
    "x_test": (TEST_IMAGES, 28, 28),
    "y_test": (TEST_IMAGES,),
}


class DataError(ValueError):
    """MNIST is missing or is not MNIST; the message names the file and what is wrong with it."""


def dataset_path() -> Path:
    """Where mnist.npz is read from: $MNIST_LAB_DATA, else the project's data/ folder."""
    return Path(os.environ.get(DATA_ENV) or DEFAULT_DATA)


@functools.cache
def load_mnist() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The four uint8 arrays (x_train, y_train, x_test, y_test), read once per process."""
    path = dataset_path()
    if path.exists():
        arrays = _read_npz(path)
    elif os.environ.get(DATA_ENV):  # a file named on purpose: never swap in another
        raise DataError(f"MNIST not found at {path} (the file ${DATA_ENV} names)")
    else:
        arrays = _download(path)
    for array in arrays:
        array.setflags(write=False)  # shared by every run in the process
    return arrays


def _download(path: Path) -> tuple[np.ndarray, ...]:
    """Keras' copy from the internet: only for a checkout without the project's own file."""
    import keras

    try:
        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    except Exception as error:  # Keras reports a failed download as a bare Exception
        raise DataError(f"MNIST not found at {path}, and downloading it failed") from error
    return check_mnist("the downloaded MNIST", (x_train, y_train, x_test, y_test))


def _read_npz(path: Path) -> tuple[np.ndarray, ...]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            names = set(npz.files)
            arrays = tuple(npz[name] for name in _EXPECTED if name in names)
    except (OSError, EOFError, zipfile.BadZipFile) as error:
        raise DataError(f"{path} cannot be read as an .npz archive: {error}") from error
    except ValueError as error:  # numpy refuses to unpickle objects (they could run code)
        raise DataError(f"{path} is not an MNIST archive: {error}") from error
    missing = sorted(set(_EXPECTED) - names)
    if missing:
        raise DataError(f"{path} is not an MNIST archive: missing {missing}")
    return check_mnist(path, arrays)


def check_mnist(source: str | Path, arrays: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    """The four arrays as uint8 if they hold MNIST's shapes, grey levels and labels; else DataError.

    An array of another type is converted only if its values fit: float images scaled to [0, 1]
    would turn black, and labels past 255 would wrap around, with no error.
    """
    checked = []
    for (name, shape), array in zip(_EXPECTED.items(), arrays, strict=True):
        if array.shape != shape:
            raise DataError(f"{source}: {name} has shape {array.shape}, expected {shape}")
        what, high = ("images", 255) if name.startswith("x") else ("labels", 9)
        if array.dtype.kind not in "ui":
            raise DataError(
                f"{source}: {name} holds {array.dtype} values, but MNIST {what} are integers "
                f"0..{high}"
            )
        low, top = int(array.min()), int(array.max())
        if low < 0 or top > high:
            raise DataError(f"{source}: {name} has values {low}..{top}, expected 0..{high}")
        checked.append(array.astype(np.uint8, copy=False))
    return tuple(checked)


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
class Drawings:
    """Images to train on besides MNIST's (the class's drawings), in MNIST's layout."""

    images: np.ndarray  # uint8 N×28×28, ink bright on black
    digits: np.ndarray  # uint8 N: the digit each was meant as
    ids: tuple[int, ...] = ()  # where they come from (the class set's entry ids)

    def __post_init__(self) -> None:
        if self.images.shape != (len(self.digits), 28, 28) or self.images.dtype != np.uint8:
            raise ValueError(f"drawings: {self.images.shape} {self.images.dtype} images")


@dataclass(frozen=True)
class Splits:
    """Model-ready arrays for one run: float32 images, int labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def prepare_data(config: RunConfig, extra: Drawings | None = None) -> Splits:
    """Split off validation from the end of the training set, apply `limit`, add `extra`, scale.

    `extra` (the class's drawings, with `class_digits`) joins the training images only,
    `config.class_digits` copies of each, after the validation cut and the limit; the training
    stream shuffles them in among MNIST's. Two of the course notebooks' mistakes can be made on
    purpose: `unscaled_test` tests on raw 0..255 images a network trained on scaled ones
    (notebook 004), and `labels_255` divides the training labels by 255 like the pixels
    (notebook 003): Keras then reads every label as 0.
    """
    if config.class_digits and extra is None:
        raise ValueError("class_digits: the class's drawings were not given to train on")
    x_train, y_train, x_test, y_test = load_mnist()
    cut = len(x_train) - config.validation_size
    x_val, y_val = x_train[cut:], y_train[cut:]
    n = config.train_size
    x, y = x_train[:n], y_train[:n]
    if config.class_digits:
        copies = config.class_digits
        x = np.concatenate([x, np.tile(extra.images, (copies, 1, 1))])
        y = np.concatenate([y, np.tile(extra.digits, copies)])
    labels = (lambda y: (y / 255).astype(np.float32)) if config.labels_255 else _as_labels
    return Splits(
        x_train=scale_images(x, config.scaling),
        y_train=labels(y),
        x_val=scale_images(x_val, config.scaling),
        y_val=labels(y_val),
        x_test=scale_images(x_test, "none" if config.unscaled_test else config.scaling),
        y_test=_as_labels(y_test),
    )


def _as_labels(y: np.ndarray) -> np.ndarray:
    return y.astype(np.int32)
