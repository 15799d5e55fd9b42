"""A map of what a network learned: its last hidden layer for test digits, flattened to 2-D.

PCA in numpy: it is exact, takes milliseconds, and places a new drawing on the same map by
one projection. t-SNE would draw tighter clusters but cannot place a new point without
recomputing the whole map (`bench/learned_map.py` measures both).
"""

from __future__ import annotations

import threading
import time
import weakref
from dataclasses import dataclass

import keras
import numpy as np

from mnist_app.data import load_mnist, scale_images
from mnist_app.inside import hidden_features

MAP_SIZE = 2000  # test digits on the map
MAP_SEED = 0  # the same digits every time
BATCH = 500


@dataclass(frozen=True)
class LearnedMap:
    """Test digits placed by the first two principal components of their last hidden layer."""

    points: np.ndarray  # (n, 2)
    labels: np.ndarray  # (n,) the true digits
    predictions: np.ndarray  # (n,) what the network read
    indices: np.ndarray  # (n,) their places in MNIST's test set
    mean: np.ndarray  # of the features
    axes: np.ndarray  # (2, features): the principal directions
    explained: np.ndarray  # (2,) the share of the features' variance along each

    def place(self, features: np.ndarray) -> np.ndarray:
        """Where feature vectors (one per row) fall on the map."""
        return (np.asarray(features, dtype=np.float64) - self.mean) @ self.axes.T


def map_sample(size: int = MAP_SIZE, seed: int = MAP_SEED) -> np.ndarray:
    """A fixed, sorted sample of test-set indices."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(len(load_mnist()[2]), size=size, replace=False))


def principal_axes(
    features: np.ndarray, count: int = 2
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The mean, the first `count` principal directions (rows) and their variance shares."""
    features = np.asarray(features, dtype=np.float64)
    mean = features.mean(axis=0)
    _, singular, directions = np.linalg.svd(features - mean, full_matrices=False)
    variance = singular**2
    total = variance.sum()
    shares = variance[:count] / total if total > 0 else np.zeros(count)
    axes = directions[:count]
    # A sign convention, so the same network always draws the same way round.
    signs = np.where(axes[np.arange(len(axes)), np.abs(axes).argmax(axis=1)] < 0, -1.0, 1.0)
    return mean, axes * signs[:, None], shares


def learned_map(model: keras.Model, scaling: str, size: int = MAP_SIZE) -> LearnedMap:
    """The map for `size` fixed test digits (about a second for a small CNN)."""
    _, _, x_test, y_test = load_mnist()
    indices = map_sample(size)
    x = scale_images(x_test[indices], scaling).reshape((size, *model.input_shape[1:]))
    features, predictions = [], []
    for start in range(0, size, BATCH):
        batch = x[start : start + BATCH]
        features.append(hidden_features(model, batch))
        predictions.append(np.asarray(model(batch, training=False)).argmax(axis=1))
    features = np.concatenate(features)
    mean, axes, explained = principal_axes(features)
    return LearnedMap(
        points=(features - mean) @ axes.T,
        labels=y_test[indices].astype(int),
        predictions=np.concatenate(predictions),
        indices=indices,
        mean=mean,
        axes=axes,
        explained=explained,
    )


_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def cached_map(model: keras.Model, scaling: str, max_age: float | None = None) -> LearnedMap:
    """The model's map, computed once per model; for a model still training (whose weights
    move) again when the last one is older than `max_age` seconds."""
    with _lock:
        made = _cache.get(model)
    if made is not None and (max_age is None or time.monotonic() - made[0] < max_age):
        return made[1]
    result = learned_map(model, scaling)
    with _lock:
        _cache[model] = (time.monotonic(), result)
    return result
