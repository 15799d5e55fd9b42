"""MNIST as the Data page shows it, in numbers: the splits and the digits in each, the pixels,
what each input scaling does to them and what augmentation does to a digit (figures.dataset draws
them)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from mnist_app.engine.config import RunConfig
from mnist_app.engine.data import background_value, load_mnist, scale_images
from mnist_app.engine.plan import IMAGE_SIDE

SPLITS = ("train", "validation", "test")


def validation_cut(validation_size: int) -> int:
    """The first training image of the validation set: it is cut off the end (data.prepare_data)."""
    return RunConfig(validation_size=validation_size).train_size


def class_counts(validation_size: int) -> dict[str, np.ndarray]:
    """How many of each digit the training, validation and test sets hold."""
    _, y_train, _, y_test = load_mnist()
    cut = validation_cut(validation_size)
    labels = {"train": y_train[:cut], "validation": y_train[cut:], "test": y_test}
    return {split: np.bincount(y, minlength=10) for split, y in labels.items()}


def sample_indices(seed: int, per_digit: int) -> np.ndarray:
    """`per_digit` random training images of each digit: a (10, per_digit) array of indices."""
    rng = np.random.default_rng(seed)
    return np.stack([rng.choice(_indices_of(d), per_digit, replace=False) for d in range(10)])


@functools.cache
def _indices_of(digit: int) -> np.ndarray:
    return np.flatnonzero(load_mnist()[1] == digit)


def tile(images: np.ndarray, gap: int = 2, zoom: int = 2, gap_value: int = 90) -> np.ndarray:
    """A (rows, columns, 28, 28) block of digits as one uint8 picture, cells `gap` px apart and
    every pixel drawn `zoom` × `zoom`, so the browser shows them crisp."""
    _, columns, side, _ = images.shape
    return mosaic(images.reshape(-1, side, side), columns, zoom, gap * zoom, gap_value)


def mosaic(tiles: np.ndarray, columns: int, zoom: int = 1, gap: int = 1, fill=255) -> np.ndarray:
    """Tiles (n, height, width), grey, or (n, height, width, 3), RGB, in a grid `columns` wide,
    each pixel drawn `zoom` × `zoom`, `gap` px apart on a background of `fill`."""
    n, height, width = tiles.shape[:3]
    tiles = tiles.repeat(zoom, axis=1).repeat(zoom, axis=2)
    height, width = height * zoom, width * zoom
    rows = -(-n // columns)
    shape = (rows * (height + gap) - gap, columns * (width + gap) - gap, *tiles.shape[3:])
    canvas = np.empty(shape, dtype=np.uint8)
    canvas[:] = fill
    for i, tile_ in enumerate(tiles):
        top, left = (i // columns) * (height + gap), (i % columns) * (width + gap)
        canvas[top : top + height, left : left + width] = tile_
    return canvas


@functools.cache
def mean_images() -> np.ndarray:
    """Each digit's average training image: (10, 28, 28) grey levels 0..255."""
    x_train, y_train, _, _ = load_mnist()
    means = [x_train[y_train == d].mean(axis=0, dtype=np.float64) for d in range(10)]
    means = np.stack(means)
    means.setflags(write=False)
    return means


@functools.cache
def pixel_counts() -> np.ndarray:
    """How many training pixels have each grey level 0..255 (a histogram of 47 million values)."""
    x_train = load_mnist()[0]
    counts = np.zeros(256, dtype=np.int64)
    for start in range(0, len(x_train), 5_000):  # in chunks: bincount widens to 8 bytes a value
        counts += np.bincount(x_train[start : start + 5_000].ravel(), minlength=256)
    counts.setflags(write=False)
    return counts


@dataclass(frozen=True)
class Scaled:
    """What one input scaling makes of the 256 grey levels, and of the training set's pixels."""

    scaling: str
    levels: np.ndarray  # grey level 0..255 → its value after scaling
    mean: float
    std: float

    @property
    def low(self) -> float:
        return float(self.levels[0])

    @property
    def high(self) -> float:
        return float(self.levels[-1])

    def summary(self) -> dict[str, float]:
        """Where black, mid-grey and white land, and the training set's mean and std after."""
        black, middle, white = (float(self.levels[level]) for level in (0, 128, 255))
        return {
            "black": black,
            "middle": middle,
            "white": white,
            "mean": self.mean,
            "std": self.std,
        }


def scaled_levels(scaling: str) -> Scaled:
    """The grey levels through `data.scale_images`, with the training set's mean and std after.

    The scalings map each level on its own, so the histogram of the scaled training set is the
    raw histogram with new numbers under it: no need to scale 47 million pixels.
    """
    levels = scale_images(np.arange(256, dtype=np.uint8), scaling).astype(np.float64)
    weights = pixel_counts() / pixel_counts().sum()
    mean = float(weights @ levels)
    return Scaled(scaling, levels, mean, float(np.sqrt(weights @ (levels - mean) ** 2)))


def augmentation_ranges() -> dict[str, float]:
    """How far the training augmentation goes: rotation (degrees), zoom (share), shift (px)."""
    from mnist_app.engine.models import augmentation  # Keras takes seconds: only for augmentation

    rotate, zoom, shift = augmentation(RunConfig(augment=True)).layers
    return {
        "degrees": round(float(np.max(np.abs(rotate.factor))) * 360, 1),
        "zoom": float(np.max(np.abs(zoom.height_factor))),
        "pixels": round(float(np.max(np.abs(shift.height_factor))) * IMAGE_SIDE, 1),
    }


@functools.lru_cache(maxsize=32)
def augmented(index: int, seed: int, count: int = 8, scaling: str = "unit") -> np.ndarray:
    """Training image `index` as `count` random variants: `models.augmentation`, the same layers a
    run with augmentation uses, in training mode; grey levels 0..255, (count, 28, 28) uint8."""
    from mnist_app.engine.models import augmentation

    config = RunConfig(augment=True, seed=seed, scaling=scaling)
    image = scale_images(load_mnist()[0][index], scaling)
    batch = np.repeat(image[None, :, :, None], count, axis=0)
    variants = np.asarray(augmentation(config)(batch, training=True))[..., 0]
    grey = variants if scaling == "none" else (variants - background_value(scaling)) * 255
    return np.clip(grey, 0, 255).round().astype(np.uint8)
