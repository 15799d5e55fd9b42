"""Handwriting forms MNIST lacks, taught from MNIST itself, anew each epoch.

MNIST's writers were American: their 1 is a bare stroke or has a short flag, so a network
trained on it reads a European 1, whose up-stroke is long, as a 7 (bench/handwriting.py: the
shipped model read 0 of 100 so). With the `forms` setting, every epoch a share of the training 1s
gets a long up-stroke (some of them a foot too) and a share of the 7s a cross bar, drawn in the
digit's own stroke width; and a share of every digit is drawn with a thicker or thinner pen and
bent by a smooth random warp (elastic distortion), as different hands would. The labels stay:
a 1 with an up-stroke is still a 1.

The images are ink in [0, 1] (0 = background), shaped (n, 28, 28), float32.
"""

from __future__ import annotations

import numpy as np

from mnist_app.engine.config import RunConfig
from mnist_app.engine.data import background_value, load_mnist

UPSTROKE_SHARE = 0.5  # of the 1s: a long up-stroke...
FOOT_SHARE = 0.4  # ...and of those, a foot too
CROSS_SHARE = 0.3  # of the 7s: a cross bar
PEN_SHARE = 0.3  # of all digits: a thicker or thinner pen
WARP_SHARE = 0.5  # of all digits: an elastic warp
UPSTROKE_ANGLES = (20.0, 50.0)  # degrees below the horizontal: a 7's top bar is near 0°
# (from 30° up, 1 in 10 of the pen-stroke set's tilted European 1s, ~20° flags, read as 7)
UPSTROKE_LENGTHS = (0.3, 0.65)  # of the digit's height
STEM_GAP = 25.0  # degrees: the up-stroke is at least this much flatter than the stem
WARP_PIXELS = 1.2  # spread of a warp's control points, in pixels
WARP_GRID = 5  # control points across the image, each way
INK = 0.5  # a pixel at least this bright is ink
CHUNK = 512  # images changed at a time


# --- what a digit looks like ----------------------------------------------------------------
def ink_rows(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each image's top and bottom ink rows."""
    rows = (images >= INK).any(axis=2)
    top = rows.argmax(axis=1)
    bottom = images.shape[1] - 1 - rows[:, ::-1].argmax(axis=1)
    return top, bottom


def ink_column(images: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The ink's mean column in the given row of each image (NaN where the row is empty)."""
    line = images[np.arange(len(images)), rows]
    with np.errstate(invalid="ignore", divide="ignore"):
        return (line * np.arange(line.shape[1])).sum(axis=1) / line.sum(axis=1)


def stroke_width(images: np.ndarray) -> np.ndarray:
    """Each digit's pen width in pixels: its ink area over half its outline's length (a stroke
    of length l and width w has area l·w and an outline of about 2·l)."""
    dy, dx = np.gradient(images, axis=(1, 2))
    outline = np.hypot(dy, dx).sum(axis=(1, 2))
    return np.clip(2 * images.sum(axis=(1, 2)) / np.maximum(outline, 1e-6), 1.5, 5.0)


# --- drawing --------------------------------------------------------------------------------
def draw_segments(
    images: np.ndarray, start: np.ndarray, end: np.ndarray, width: np.ndarray
) -> np.ndarray:
    """Each image with a straight stroke from start to end ((n, 2) points as (row, column)),
    antialiased, `width` pixels wide with round ends; ink adds up by taking the brighter."""
    side = images.shape[1]
    grid = np.stack(np.mgrid[:side, :side], axis=-1).astype(np.float32)  # (side, side, 2)
    a, direction = start[:, None, None, :], (end - start)[:, None, None, :]
    along = ((grid - a) * direction).sum(-1) / np.maximum((direction**2).sum(-1), 1e-6)
    nearest = a + np.clip(along, 0, 1)[..., None] * direction
    distance = np.linalg.norm(grid - nearest, axis=-1)
    stroke = np.clip(width[:, None, None] / 2 + 0.5 - distance, 0, 1)
    return np.maximum(images, stroke.astype(images.dtype))


def keep_centre(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """`after` moved by whole pixels so its centre of mass is where `before`'s was, as MNIST
    and the Draw page centre every digit."""
    drift = np.rint(centre_of_mass(before) - centre_of_mass(after)).astype(int)
    return shift(after, drift)


def centre_of_mass(images: np.ndarray) -> np.ndarray:
    """Each image's centre of mass as (row, column)."""
    side = images.shape[1]
    total = np.maximum(images.sum(axis=(1, 2)), 1e-6)
    rows = (images.sum(axis=2) * np.arange(side)).sum(axis=1) / total
    columns = (images.sum(axis=1) * np.arange(side)).sum(axis=1) / total
    return np.stack([rows, columns], axis=1)


def shift(images: np.ndarray, by: np.ndarray) -> np.ndarray:
    """Each image moved by whole pixels (by: (n, 2) rows, columns), the background filling in."""
    n, side, _ = images.shape
    pad = int(np.abs(by).max(initial=0))
    padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad)))
    rows = np.arange(side)[None, :, None] + pad - by[:, 0, None, None]
    columns = np.arange(side)[None, None, :] + pad - by[:, 1, None, None]
    return padded[np.arange(n)[:, None, None], rows, columns]


# --- the forms --------------------------------------------------------------------------------
def add_upstroke(ones: np.ndarray, rng: np.random.Generator, foot: np.ndarray) -> np.ndarray:
    """1s with a long up-stroke into their top, going down-left at 20-50° below the horizontal
    and at least 25° flatter than the stem, so the top stays the highest point and the stroke
    stands apart from the stem; where `foot`, also a foot at the bottom. A 1 leaning so far
    right that no such angle is left (its stem under 45°) would turn into a 7: it is left as is."""
    top, bottom = ink_rows(ones)
    height = bottom - top + 1
    width = stroke_width(ones)
    cap = np.maximum(width / 2 - 0.5, 0)  # the stroke's end is round: its centre is lower
    head = np.stack([top + cap, ink_column(ones, top)], axis=1)
    lean = head[:, 1] - ink_column(ones, bottom)  # columns the top is right of the bottom
    steepest = np.minimum(UPSTROKE_ANGLES[1], np.degrees(np.arctan2(height, lean)) - STEM_GAP)
    room = steepest >= UPSTROKE_ANGLES[0]
    angle = np.radians(rng.uniform(UPSTROKE_ANGLES[0], np.maximum(steepest, UPSTROKE_ANGLES[0])))
    length = rng.uniform(*UPSTROKE_LENGTHS, len(ones)) * height * room
    inside = np.maximum(head[:, 1] - 1, 0) / np.cos(angle)  # stay inside the image
    length = np.minimum(length, inside)
    tail = head + np.stack([np.sin(angle), -np.cos(angle)], axis=1) * length[:, None]
    changed = ones.copy()
    changed[room] = draw_segments(ones[room], head[room], tail[room], width[room])
    foot = foot & room
    if foot.any():
        base = np.stack([bottom - cap, ink_column(ones, bottom)], axis=1)[foot]
        left = base - [0, 1] * rng.uniform(0.15, 0.3, (foot.sum(), 1)) * height[foot, None]
        right = base + [0, 1] * rng.uniform(0.15, 0.3, (foot.sum(), 1)) * height[foot, None]
        changed[foot] = draw_segments(changed[foot], left, right, width[foot])
    return keep_centre(ones, changed)


def cross_sevens(sevens: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """7s with a short cross bar through the stem, about half-way down, slightly tilted."""
    top, bottom = ink_rows(sevens)
    height = bottom - top + 1
    row = np.rint(top + rng.uniform(0.45, 0.6, len(sevens)) * height).astype(int)
    stem = ink_column(sevens, np.minimum(row, sevens.shape[1] - 1))
    stem = np.where(np.isnan(stem), sevens.shape[2] / 2, stem)
    tilt = np.tan(np.radians(rng.uniform(-8, 8, len(sevens))))
    left = rng.uniform(0.12, 0.25, len(sevens)) * height
    right = rng.uniform(0.08, 0.2, len(sevens)) * height
    start = np.stack([row + tilt * left, stem - left], axis=1)
    end = np.stack([row - tilt * right, stem + right], axis=1)
    return keep_centre(sevens, draw_segments(sevens, start, end, stroke_width(sevens)))


def change_pen(images: np.ndarray, amount: np.ndarray) -> np.ndarray:
    """Strokes thicker (amount > 0, up to 1) or thinner (< 0, down to -1). Thicker: a blend
    with the image grown by a pixel in the four directions. Thinner: the grey edges darkened
    (ink to the power 1 to 3), the stroke's core left as bright as it was."""
    out = np.array(images, dtype=np.float32)
    thicker, thinner = amount > 0, amount < 0
    if thicker.any():
        part = out[thicker]
        grown = part.copy()
        np.maximum(grown[:, 1:], part[:, :-1], out=grown[:, 1:])
        np.maximum(grown[:, :-1], part[:, 1:], out=grown[:, :-1])
        np.maximum(grown[:, :, 1:], part[:, :, :-1], out=grown[:, :, 1:])
        np.maximum(grown[:, :, :-1], part[:, :, 1:], out=grown[:, :, :-1])
        out[thicker] = part + amount[thicker, None, None] * (grown - part)
    if thinner.any():
        out[thinner] = out[thinner] ** (1 - 2 * amount[thinner, None, None])
    return out


def warp(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each image bent by its own smooth random displacement (elastic distortion): random moves
    of a few control points, spread smoothly over every pixel, then bilinear resampling."""
    n, side, _ = images.shape
    spread = _smooth_spread(side, WARP_GRID)
    moves = rng.normal(0, WARP_PIXELS, (2, n, WARP_GRID, WARP_GRID)).astype(np.float32)
    field = np.tensordot(moves @ spread.T, spread, axes=([2], [1]))  # (2, n, side, side)
    field = field.transpose(0, 1, 3, 2)
    grid = np.arange(side, dtype=np.float32)
    rows = np.clip(grid[:, None] + field[0], -1, side)  # outside the image is background
    columns = np.clip(grid[None, :] + field[1], -1, side)
    return _bilinear(images, rows, columns)


def _bilinear(images: np.ndarray, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """Each image read at fractional (row, column) points, in [-1, side], by bilinear
    interpolation; points off the image read the background."""
    n, side, _ = images.shape
    padded = np.pad(images, ((0, 0), (1, 2), (1, 2))).reshape(n, -1)  # a ring of background
    stride = side + 3
    rows, columns = rows + 1, columns + 1  # in the padded image: 0 and up
    r0, c0 = rows.astype(np.int32), columns.astype(np.int32)
    fr, fc = rows - r0, columns - c0
    corner = r0 * stride + c0 + (np.arange(n, dtype=np.int32) * padded.shape[1])[:, None, None]
    flat = padded.ravel()
    top = flat[corner] * (1 - fc) + flat[corner + 1] * fc
    below = flat[corner + stride] * (1 - fc) + flat[corner + stride + 1] * fc
    return top * (1 - fr) + below * fr


def _smooth_spread(side: int, points: int) -> np.ndarray:
    """(side, points): how much each control point moves each pixel, a smooth bump per point
    (weights summing to 1)."""
    centres = np.linspace(0, side - 1, points)
    gap = centres[1] - centres[0]
    bumps = np.exp(-0.5 * ((np.arange(side)[:, None] - centres[None, :]) / gap) ** 2)
    return (bumps / bumps.sum(axis=1, keepdims=True)).astype(np.float32)


def teach_forms(images: np.ndarray, digits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A copy of the ink images with this epoch's forms: up-strokes on a share of the 1s (some
    with a foot), cross bars on a share of the 7s, then other pens and warps on a share of all."""
    out = np.array(images, dtype=np.float32)
    # A few hundred images at a time: their arrays stay in the CPU's cache (all 60,000 at once
    # took 8 times as long to warp here).
    for start in range(0, len(out), CHUNK):
        part = slice(start, start + CHUNK)
        out[part] = _teach_chunk(out[part], digits[part], rng)
    return out


def _teach_chunk(images: np.ndarray, digits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    ones = np.flatnonzero((digits == 1) & (rng.random(len(images)) < UPSTROKE_SHARE))
    if len(ones):
        foot = rng.random(len(ones)) < FOOT_SHARE
        images[ones] = add_upstroke(images[ones], rng, foot)
    sevens = np.flatnonzero((digits == 7) & (rng.random(len(images)) < CROSS_SHARE))
    if len(sevens):
        images[sevens] = cross_sevens(images[sevens], rng)
    pens = np.flatnonzero(rng.random(len(images)) < PEN_SHARE)
    if len(pens):
        thicker = rng.random(len(pens)) < 0.5
        amount = np.where(thicker, 1.0, -1.0) * rng.uniform(0.3, 1.0, len(pens))
        images[pens] = change_pen(images[pens], amount)
    warped = np.flatnonzero(rng.random(len(images)) < WARP_SHARE)
    if len(warped):
        images[warped] = warp(images[warped], rng)
    return np.clip(images, 0.0, 1.0, out=images)


# --- training -------------------------------------------------------------------------------
class FormsEachEpoch:
    """The training images with new forms drawn for every epoch: what `model.fit` trains on,
    in batches (mnist_app/engine/feed.py), when the `forms` setting is on."""

    def __init__(self, x: np.ndarray, y: np.ndarray, config: RunConfig):
        self.x, self.y = x, y
        self.digits = load_mnist()[1][: len(x)]  # the true digits, even with labels_255
        self.low = background_value(config.scaling)
        self.span = 255.0 if config.scaling == "none" else 1.0  # of the scaled pixels
        self.seed = config.seed

    def epoch(self, number: int) -> tuple[np.ndarray, np.ndarray]:
        """Epoch `number`'s images in its own shuffled order, with its forms, and their labels."""
        rng = np.random.default_rng([self.seed, number])
        order = rng.permutation(len(self.x))
        ink = (self.x[order] - self.low) / self.span
        images = teach_forms(ink, self.digits[order], rng) * self.span + self.low
        return images.astype(np.float32, copy=False), self.y[order]
