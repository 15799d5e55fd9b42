"""How well the Draw page tells a digit from noise, blots and scribbles (`InkShape`).

Usage: python bench/not_a_digit.py [--train 10000] [--per-set 100] [--seed 0]

1. Calibration: the share of its box the evened ink covers, its pieces and its crossings, on
   MNIST training digits through the page's own pipeline: the bounds in preprocess.py sit at
   their far tails.
2. Digits, which must pass: the 10,000 MNIST test digits (floor: 99.5%), and handwriting that is
   not MNIST (bench/handwriting.py's scikit-learn digits and pen-stroke templates).
3. Not digits, on a 280×280 canvas: uniform, colour and Gaussian noise; salt-and-pepper from
   0.5% to 60% white dots on black and 2-30% black dots on white paper; filled squares and
   discs; scribbles of 10-40 random straight lines and random-walk scribbles of 15-30 points.
   Floor: every image flagged, except the 10-line and 15-point scribbles (reported). Scribbles of
   3-6 lines and 8-point walks are shown for information: many of them look like a digit.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from handwriting import sklearn_canvases, stroke_canvases  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from mnist_app.drawing import preprocess  # noqa: E402
from mnist_app.drawing.preprocess import InkShape, evened_ink, measure_ink  # noqa: E402
from mnist_app.engine.data import load_mnist  # noqa: E402

SIDE = 280


def uniform(rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 256, (SIDE, SIDE), dtype=np.uint8)


def colour(rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 256, (SIDE, SIDE, 3), dtype=np.uint8)


def gaussian(rng: np.random.Generator) -> np.ndarray:
    return np.clip(rng.normal(128, 60, (SIDE, SIDE)), 0, 255).astype(np.uint8)


def dots(share: float, ink: int) -> Callable:
    """Salt (white dots on black) or pepper (black dots on white paper)."""
    return lambda rng: np.where(rng.random((SIDE, SIDE)) < share, ink, 255 - ink).astype(np.uint8)


def square(rng: np.random.Generator) -> np.ndarray:
    side = int(rng.integers(40, 260))
    top, left = rng.integers(0, SIDE - side + 1, 2)
    canvas = np.zeros((SIDE, SIDE), np.uint8)
    canvas[top : top + side, left : left + side] = 255
    return canvas


def disc(rng: np.random.Generator) -> np.ndarray:
    radius = int(rng.integers(20, 130))
    x, y = rng.integers(radius, SIDE - radius + 1, 2)
    picture = Image.new("L", (SIDE, SIDE), 0)
    ImageDraw.Draw(picture).ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)
    return np.asarray(picture)


def lines(count: int) -> Callable:
    """`count` random straight lines across the canvas, each with its own pen width."""

    def scribble(rng: np.random.Generator) -> np.ndarray:
        picture = Image.new("L", (SIDE, SIDE), 0)
        pen = ImageDraw.Draw(picture)
        for _ in range(count):
            ends = [tuple(rng.integers(0, SIDE, 2).tolist()) for _ in range(2)]
            pen.line(ends, fill=255, width=int(rng.integers(3, 20)))
        return np.asarray(picture)

    return scribble


def walk(points: int) -> Callable:
    """One pen stroke zigzagging through `points` random points: scribbling something out."""

    def scribble(rng: np.random.Generator) -> np.ndarray:
        picture = Image.new("L", (SIDE, SIDE), 0)
        path = [tuple(rng.integers(20, SIDE - 20, 2).tolist()) for _ in range(points)]
        ImageDraw.Draw(picture).line(path, fill=255, width=int(rng.integers(3, 20)), joint="curve")
        return np.asarray(picture)

    return scribble


NOT_DIGITS = {
    "uniform noise": uniform,
    "colour noise": colour,
    "Gaussian noise": gaussian,
    **{f"salt {share:.1%}": dots(share, 255) for share in (0.005, 0.02, 0.1, 0.3, 0.6)},
    **{f"pepper on paper {share:.0%}": dots(share, 0) for share in (0.02, 0.1, 0.3)},
    "filled square": square,
    "filled disc": disc,
    **{f"scribble of {count} lines": lines(count) for count in (10, 20, 40)},
    **{f"scribble walk of {count} points": walk(count) for count in (15, 30)},
}
NEAR_MISSES = ("scribble of 10 lines", "scribble walk of 15 points")  # reported, not a floor
DIGIT_LIKE = {
    "3 random lines": lines(3),
    "6 random lines": lines(6),
    "walk of 8 points": walk(8),
}


def shapes(images) -> list[InkShape | None]:
    """Each image's InkShape; None when the pipeline finds no ink at all."""
    return [None if (work := evened_ink(image)) is None else measure_ink(work) for image in images]


def passed(found: list[InkShape | None]) -> np.ndarray:
    return np.array([shape is not None and shape.looks_like_digit for shape in found])


def quantiles(found: list[InkShape | None]) -> None:
    heads = ("min", "0.1%", "1%", "median", "99%", "99.9%", "max")
    print(f"  {'':<10} " + " ".join(f"{head:>6}" for head in heads))
    for name in ("share", "pieces", "crossings"):
        values = np.array([getattr(shape, name) for shape in found if shape is not None])
        cuts = np.quantile(values, [0, 0.001, 0.01, 0.5, 0.99, 0.999, 1])
        print(f"  {name:<10} " + " ".join(f"{cut:6.3g}" for cut in cuts))


def verdict(shape: InkShape | None) -> str:
    """Which bound an image breaks first, or "digit"."""
    if shape is None:
        return "blank"
    if shape.share < preprocess.MIN_INK_SHARE:
        return "too little ink"
    if shape.share > preprocess.MAX_INK_SHARE:
        return "too much ink"
    if shape.pieces > preprocess.MAX_PIECES:
        return "pieces"
    return "crossings" if shape.crossings > preprocess.MAX_CROSSINGS else "digit"


def counts(found: list[InkShape | None]) -> dict[str, int]:
    names, numbers = np.unique([verdict(shape) for shape in found], return_counts=True)
    return dict(zip(names.tolist(), numbers.tolist(), strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=10_000, help="training digits to measure")
    parser.add_argument("--per-set", type=int, default=100, help="images per set of non-digits")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    x_train, _, x_test, y_test = load_mnist()

    started = time.perf_counter()
    train = shapes(x_train[: args.train])
    per_image = (time.perf_counter() - started) / max(1, args.train) * 1000
    print(f"1. MNIST training digits: {args.train:,} ({per_image:.1f} ms per image)")
    quantiles(train)
    print(f"  pass: {passed(train).mean():.2%}")

    print("2. Digits (must pass)")
    test = shapes(x_test)
    accepted = passed(test)
    print(f"  {'MNIST test digits':<34} {len(test):>6,}  pass {accepted.mean():7.2%}")
    for digit in range(10):
        mine = accepted[y_test == digit]
        print(f"    {digit}: {mine.mean():7.2%} ({(~mine).sum()} flagged)")
    print(f"    verdicts: {counts(test)}")
    for name, images in (("scikit-learn digits (8×8, upsampled)", sklearn_canvases(rng)[0]),
                         ("pen-stroke templates", stroke_canvases(100, rng)[0])):  # fmt: skip
        print(f"  {name:<34} {len(images):>6,}  pass {passed(shapes(images)).mean():7.2%}")

    print("3. Not digits (must be flagged)")
    missed = []
    for name, make in NOT_DIGITS.items():
        found = shapes([make(rng) for _ in range(args.per_set)])
        flagged = 1 - passed(found).mean()  # a blank result is flagged too: nothing is read
        if flagged < 1 and name not in NEAR_MISSES:
            missed.append(name)
        print(f"  {name:<34} {len(found):>6,}  flagged {flagged:7.2%}  {counts(found)}")
    print("  for information, shapes that can look like a digit:")
    for name, make in DIGIT_LIKE.items():
        flagged = 1 - passed(shapes([make(rng) for _ in range(args.per_set)])).mean()
        print(f"  {name:<34} {args.per_set:>6,}  flagged {flagged:7.2%}")

    floor = "ok" if accepted.mean() >= 0.995 else "MISSED"
    flagged_all = "ok" if not missed else "MISSED " + ", ".join(missed)
    print(f"floors: MNIST test >= 99.5%: {floor}; non-digits all flagged: {flagged_all}")


if __name__ == "__main__":
    main()
