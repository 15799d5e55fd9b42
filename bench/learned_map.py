"""The map of what a network learned: PCA in numpy (what the app draws) vs scikit-learn's t-SNE.

Usage: python bench/learned_map.py [--rounds 3] [--size 2000]
For the shipped CNN's last hidden layer on `size` test digits, prints the seconds to get the
features, to place them by PCA and by t-SNE (medians), and how well each map keeps the digits
apart (nearest class centre on the map, and 5-nearest-neighbour agreement). t-SNE is only
measured here: it is a test requirement, not an app one, and it cannot place a new drawing on
an existing map without recomputing it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from mnist_app.drawing.predict import default_model_path, load_model  # noqa: E402
from mnist_app.engine.data import load_mnist, scale_images  # noqa: E402
from mnist_app.inspect.inside import hidden_features  # noqa: E402
from mnist_app.inspect.learned_map import map_sample, principal_axes  # noqa: E402


def timed(fn, rounds: int):
    seconds, result = [], None
    for _ in range(rounds):
        start = time.perf_counter()
        result = fn()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), result


def separation(points: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Share of digits nearest their own class's centre, and of 5 nearest neighbours alike."""
    centres = np.stack([points[labels == d].mean(axis=0) for d in range(10)])
    nearest = np.linalg.norm(points[:, None] - centres[None], axis=2).argmin(axis=1)
    distances = np.linalg.norm(points[:, None] - points[None], axis=2)
    np.fill_diagonal(distances, np.inf)
    neighbours = np.argsort(distances, axis=1)[:, :5]
    return float((nearest == labels).mean()), float((labels[neighbours] == labels[:, None]).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size", type=int, default=2000)
    args = parser.parse_args()
    model = load_model(default_model_path())
    _, _, x_test, y_test = load_mnist()
    indices = map_sample(args.size)
    x = scale_images(x_test[indices], "unit")
    labels = y_test[indices].astype(int)
    hidden_features(model, x[:10])  # warm-up: the probe model is built once
    feature_seconds, features = timed(lambda: hidden_features(model, x), args.rounds)

    def pca():
        mean, axes, _ = principal_axes(features)
        return (features - mean) @ axes.T

    pca_seconds, pca_points = timed(pca, args.rounds)
    from sklearn.manifold import TSNE

    tsne_seconds, tsne_points = timed(
        lambda: TSNE(2, init="pca", random_state=0).fit_transform(features), args.rounds
    )
    print(f"shipped CNN, last hidden layer {features.shape[1]} wide, {args.size:,} test digits,")
    print(f"median of {args.rounds} rounds:")
    print(f"  features (one pass through the network) {feature_seconds:7.3f} s")
    for name, seconds, points in (("PCA (numpy)", pca_seconds, pca_points),
                                  ("t-SNE (scikit-learn)", tsne_seconds, tsne_points)):  # fmt: skip
        centre, neighbours = separation(points, labels)
        print(f"  {name:<21} {seconds:8.3f} s   nearest centre {centre:.1%}, "
              f"5 neighbours alike {neighbours:.1%}")  # fmt: skip


if __name__ == "__main__":
    main()
