"""A map of what a network learned: its last hidden layer for test digits, flattened to 2-D.

Two ways, measured by `bench/learned_map.py` on the shipped CNN and 2,000 digits (the model of
2026-12-07, on a 2-core Intel Xeon):
- PCA, in numpy: 0.03 s, exact, and a new drawing lands on the map by one projection; but two
  straight axes keep the digits only partly apart (95% of them nearest their own digit's centre;
  82% with an earlier shipped model).
- t-SNE, scikit-learn's: 5.6 s, so it is made once per model file and kept, and only for a
  network that has finished (one still training would need it again and again); the digits
  come out in clean islands (99.7%). t-SNE cannot place a new point, so a drawing goes where its
  nearest map digits (in the network's own features) are, weighted by closeness.
"""

from __future__ import annotations

import importlib.util
import threading
import time
import weakref
from dataclasses import dataclass

import keras
import numpy as np

from mnist_app.engine.data import load_mnist, scale_images
from mnist_app.inspect.inside import hidden_and_probabilities

MAP_SIZE = 2000  # test digits on the map
TSNE_STEPS = 500  # t-SNE's optimisation steps, its first 250 exaggerated (_tsne)
MAP_SEED = 0  # the same digits every time
BATCH = 500
METHODS = ("pca", "tsne")
NEIGHBOURS = 8  # map digits a drawing is placed among, on a t-SNE map


def tsne_available() -> bool:
    """Whether scikit-learn (for t-SNE) is installed."""
    return importlib.util.find_spec("sklearn") is not None


@dataclass(frozen=True)
class LearnedMap:
    """Test digits placed by their last hidden layer: its first two principal components (PCA)
    or a t-SNE embedding."""

    method: str  # "pca" or "tsne"
    points: np.ndarray  # (n, 2)
    labels: np.ndarray  # (n,) the true digits
    predictions: np.ndarray  # (n,) what the network read
    indices: np.ndarray  # (n,) their places in MNIST's test set
    features: np.ndarray  # (n, features): the last hidden layer of each
    mean: np.ndarray  # of the features
    axes: np.ndarray  # (2, features): the principal directions
    explained: np.ndarray  # (2,) the share of the features' variance along each

    def place(self, features: np.ndarray) -> np.ndarray:
        """Where feature vectors (one per row) fall on the map."""
        features = np.asarray(features, dtype=np.float64)
        if self.method == "pca":
            return (features - self.mean) @ self.axes.T
        distances = np.linalg.norm(features[:, None] - self.features[None], axis=2)
        nearest = np.argsort(distances, axis=1)[:, :NEIGHBOURS]
        weights = 1 / (np.take_along_axis(distances, nearest, axis=1) + 1e-9)
        weights /= weights.sum(axis=1, keepdims=True)
        return np.einsum("nk,nkd->nd", weights, self.points[nearest])


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


def learned_map(
    model: keras.Model, scaling: str, size: int = MAP_SIZE, method: str = "pca"
) -> LearnedMap:
    """The map for `size` fixed test digits: about half a second for a small CNN by PCA,
    four more by t-SNE."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, not {method!r}")
    _, _, x_test, y_test = load_mnist()
    indices = map_sample(size)
    x = scale_images(x_test[indices], scaling).reshape((size, *model.input_shape[1:]))
    features, predictions = [], []
    for start in range(0, size, BATCH):
        batch = x[start : start + BATCH]
        hidden, probabilities = hidden_and_probabilities(model, batch)
        features.append(hidden)
        predictions.append(probabilities.argmax(axis=1))
    features = np.concatenate(features)
    mean, axes, explained = principal_axes(features)
    points = (features - mean) @ axes.T if method == "pca" else _tsne(features)
    return LearnedMap(
        method=method,
        points=points,
        labels=y_test[indices].astype(int),
        predictions=np.concatenate(predictions),
        indices=indices,
        features=features.astype(np.float64),
        mean=mean,
        axes=axes,
        explained=explained,
    )


def _tsne(features: np.ndarray) -> np.ndarray:
    """t-SNE in 500 steps (scikit-learn's default is 1,000): the shipped model's 2,000-digit map
    took half the CPU (4.7 s instead of 9.1 s), with its islands as far apart (each digit
    nearest its own digit's centre: 99.7 % both) and its neighbours as kept (trustworthiness
    0.9948 against 0.9950); a class server runs one per model a student maps."""
    from sklearn.manifold import TSNE  # imported when asked for: it takes a second

    tsne = TSNE(2, init="pca", max_iter=TSNE_STEPS, random_state=MAP_SEED)
    embedding = tsne.fit_transform(features)
    return np.asarray(embedding, dtype=np.float64)


_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def cached_map(
    model: keras.Model, scaling: str, max_age: float | None = None, method: str = "pca"
) -> LearnedMap:
    """The model's map, computed once per model and method; for a model still training (whose
    weights move) again when the last one is older than `max_age` seconds."""
    with _lock:
        made = _cache.get(model, {}).get(method)
    if made is not None and (max_age is None or time.monotonic() - made[0] < max_age):
        return made[1]
    result = learned_map(model, scaling, method=method)
    with _lock:
        _cache.setdefault(model, {})[method] = (time.monotonic(), result)
    return result
