"""Turning a drawing or a photo of a digit into a 28×28 MNIST image, the way MNIST was made.

The uploaded file or canvas value itself is read, safely, in mnist_app/drawing/uploads.py."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter
from scipy import ndimage

from mnist_app.engine.data import scale_images

MNIST_SIDE = 28
BOX_SIDE = 20  # MNIST digits were scaled so the longer side of the ink fits 20 pixels
WORK_SIDE = 80  # strokes are evened out at 4× the 20-pixel box, then scaled down
STROKE_WIDTH = 0.11  # MNIST's typical stroke width, as a fraction of the box side
INK_THRESHOLD = 0.25  # a pixel at least this bright (0..1) counts as ink
MIN_CONTRAST = 40  # grey levels between paper and ink below which a photo is blank
# A digit is a few strokes. Bounds on its evened ink in the 80-px work box, each at the far tail
# of MNIST's 60,000 training digits: together they keep 99.87% of them, and 99.86% of the 10,000
# test digits, while noise, blots and scribbles break them (python bench/not_a_digit.py).
MIN_INK_SHARE = 0.08  # of the square around the ink: digits 10% and up (99.95%), faint noise 0-7%
MAX_INK_SHARE = 0.38  # digits at most 38% (99.97%); blots and filled squares 54-100%
MAX_PIECES = 4  # digits come in at most 4 pieces (99.99%); uniform noise in 9-30
MIN_PIECE = 16  # pixels: one pixel of the 20-px box
MAX_CROSSINGS = 5  # where strokes meet or cross: digits at most 5 (99.9%), 10-line scribbles ~11


def canvas_to_mnist(image: np.ndarray) -> np.ndarray | None:
    """A 28×28 float32 image in [0, 1], ink bright on dark, as MNIST was made; None if blank."""
    work = evened_ink(image)
    return None if work is None else work_to_mnist(work)


def evened_ink(image: np.ndarray) -> np.ndarray | None:
    """The ink cut out, scaled to the 80-px work box, its strokes evened out; None if blank."""
    ink = cropped_ink(image)
    if ink is None:
        return None
    work = fit(ink, WORK_SIDE)
    return crop_to_ink(even_strokes(work, round(STROKE_WIDTH * WORK_SIDE)))


def work_to_mnist(work: np.ndarray) -> np.ndarray:
    """Evened ink scaled into the 20-px box, centred by mass in a 28×28 image."""
    return center_by_mass(fit(work, BOX_SIDE), MNIST_SIDE)


def ink_image(image: np.ndarray) -> np.ndarray:
    """Ink as float32 in [0, 1] (1 = full ink) from a grey, RGB or RGBA uint8 image."""
    levels = _ink_levels(image)
    return np.zeros(np.shape(image)[:2], np.float32) if levels is None else _scaled(*levels)


def cropped_ink(image: np.ndarray) -> np.ndarray | None:
    """`ink_image` cut to its `ink_box`, or None if there is no ink. Only the box is scaled to
    [0, 1]: on the canvas (280×280, every stroke) that is about half the pixels."""
    levels = _ink_levels(image)
    if levels is None:
        return None
    grey, paper, full = levels
    threshold = paper + INK_THRESHOLD * (full - paper)  # where (grey - paper) / range = 0.25
    box = _box(grey >= (math.ceil(threshold) if grey.dtype == np.uint8 else threshold))
    if box is None:
        return None
    top, bottom, left, right = box
    return _scaled(grey[top:bottom, left:right], paper, full)


def _ink_levels(image: np.ndarray) -> tuple[np.ndarray, float, float] | None:
    """The image's grey levels with ink the brighter, the paper's level and full ink's; None
    for a blank photo (too little contrast to hold any ink)."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] in (2, 4):
        if _transparent(image):  # a transparent background: whatever is painted is ink
            return image[..., -1], 0.0, 255.0
        image = image[..., :-1] if image.shape[2] == 2 else image
    grey = _grey(image)
    background = _background(grey)
    if background > 127:  # dark ink on light paper
        grey = 255 - grey  # exact in uint8, as in float
        background = 255.0 - background
    brightest = float(grey.max())
    if brightest - background < MIN_CONTRAST:
        return None
    return grey, background, brightest


def _scaled(grey: np.ndarray, paper: float, full: float) -> np.ndarray:
    ink = grey.astype(np.float32)
    ink -= paper
    ink *= 1.0 / (full - paper)
    return np.clip(ink, 0.0, 1.0, out=ink)


def _transparent(image: np.ndarray) -> bool:
    """Whether any pixel of a grey+alpha or RGBA image is less than opaque."""
    if image.shape[2] == 4 and image.dtype == np.uint8 and image.flags.c_contiguous:
        # Each RGBA pixel as one little-endian number, alpha its top byte: half the time of
        # min() over a strided alpha channel (the canvas sends a 280×280 image every stroke).
        return bool((image.view("<u4") < 0xFF000000).any())
    return bool(image[..., -1].min() < 255)


def _grey(image: np.ndarray) -> np.ndarray:
    """One grey level per pixel: uint8 for a uint8 image, else float32."""
    if image.ndim == 3 and image.shape[2] >= 3:  # (RGBA is read as RGB: alpha is all 255)
        image = np.asarray(Image.fromarray(np.ascontiguousarray(image)).convert("L"))
    grey = image.reshape(image.shape[:2])
    return grey if grey.dtype == np.uint8 else grey.astype(np.float32)


def _background(grey: np.ndarray) -> float:
    """The paper's grey level: the median of the border, where there is rarely any ink."""
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    return float(np.median(border))


def ink_box(ink: np.ndarray) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right) of the pixels that count as ink, or None if there are none."""
    return _box(ink >= INK_THRESHOLD)


def _box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not len(rows):
        return None
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def crop_to_ink(ink: np.ndarray) -> np.ndarray:
    """The smallest rectangle holding all the ink."""
    top, bottom, left, right = ink_box(ink) or (0, ink.shape[0], 0, ink.shape[1])
    return ink[top:bottom, left:right]


def fit(ink: np.ndarray, side: int) -> np.ndarray:
    """Scale so the longer side is `side` pixels, aspect kept, with anti-aliasing."""
    height, width = ink.shape
    scale = side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resample = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
    resized = Image.fromarray(ink.astype(np.float32), mode="F").resize(size, resample)
    return np.clip(np.asarray(resized), 0.0, 1.0)


def stroke_width(ink: np.ndarray) -> float:
    """Typical stroke width in pixels: ink area over half its outline (a strip of w × L)."""
    mask = np.pad(ink >= 0.5, 1)
    inner = mask[1:-1, 1:-1] & mask[:-2, 1:-1] & mask[2:, 1:-1] & mask[1:-1, :-2] & mask[1:-1, 2:]
    area = int(mask.sum())
    outline = area - int(inner.sum())
    return 2.0 * area / outline if outline else 0.0


def even_strokes(ink: np.ndarray, target: int) -> np.ndarray:
    """Thicken thin pen lines and thin fat brush strokes towards `target` pixels wide."""
    width = stroke_width(ink)
    grow = round(target - width)
    if abs(grow) < 2:
        return ink
    size = 2 * (abs(grow) // 2) + 1  # a k×k max (or min) filter adds (or removes) k-1 pixels
    picture = Image.fromarray(np.pad(ink, size), mode="F")  # room to grow
    pick = ImageFilter.MaxFilter if grow > 0 else ImageFilter.MinFilter
    evened = np.asarray(picture.filter(pick(size)))
    # Never thin a stroke away entirely: keep the original where the min filter erased it all.
    return evened if grow > 0 or evened.max() >= INK_THRESHOLD else ink


def center_by_mass(digit: np.ndarray, side: int) -> np.ndarray:
    """Paste into a side×side black square so that the ink's centre of mass is at the centre."""
    height, width = digit.shape
    total = float(digit.sum()) or 1.0
    rows, cols = np.indices(digit.shape)
    center_row, center_col = (digit * rows).sum() / total, (digit * cols).sum() / total
    top = int(np.clip(round(side / 2 - center_row), 0, side - height))
    left = int(np.clip(round(side / 2 - center_col), 0, side - width))
    canvas = np.zeros((side, side), np.float32)
    canvas[top : top + height, left : left + width] = digit
    return canvas


@dataclass(frozen=True)
class InkShape:
    """The numbers that tell a digit (a few strokes) from noise, blots and scribbles."""

    share: float  # of the square around the ink that the ink covers
    pieces: int  # separate pieces of ink
    crossings: int  # places where strokes meet or cross

    @property
    def looks_like_digit(self) -> bool:
        return (
            MIN_INK_SHARE <= self.share <= MAX_INK_SHARE
            and self.pieces <= MAX_PIECES
            and self.crossings <= MAX_CROSSINGS
        )


@dataclass(frozen=True)
class Prepared:
    """A drawing made as MNIST was made, and what its ink looks like: the same whichever model
    reads it."""

    image: np.ndarray  # 28×28 float32 in [0, 1], read-only (it may be shared)
    looks_like_digit: bool


def prepare(image: np.ndarray) -> Prepared | None:
    """A drawing or photo cut out, evened and centred (`evened_ink`, `work_to_mnist`) and its ink
    measured; None if blank."""
    work = evened_ink(image)
    if work is None:
        return None
    digit = work_to_mnist(work)
    digit.flags.writeable = False
    return Prepared(digit, measure_ink(work).looks_like_digit)


def measure_ink(work: np.ndarray) -> InkShape:
    """How much of its box the evened ink (from `evened_ink`) covers, in how many pieces, how
    often its strokes cross."""
    ink = work >= 0.5
    pieces = sum(size >= MIN_PIECE for size in piece_sizes(ink))
    crossings = len(piece_sizes(forks(thin(ink))))  # a crossing is a few fork pixels together
    return InkShape(float(ink.sum()) / max(ink.shape) ** 2, pieces, crossings)


def piece_sizes(mask: np.ndarray) -> list[int]:
    """The size in pixels of each piece of a boolean image (pixels touching at corners join)."""
    pieces, count = ndimage.label(mask, structure=np.ones((3, 3), bool))
    return np.bincount(pieces.ravel(), minlength=count + 1)[1:].tolist()


def thin(mask: np.ndarray) -> np.ndarray:
    """The strokes' centre lines, one pixel wide (Zhang and Suen's thinning, 1984).

    Only the ink is looked at: the image is kept flat with a border of paper, and each step
    reads the ring of neighbours of the pixels still inked (a gather at fixed offsets) rather
    than of the whole image; peeled pixels leave that list. The same skeleton as the rules
    applied to every pixel (tests/test_preprocess.py), in less than half the time (a stroke's
    drawing: 0.78 -> 0.32 ms), which every stroke's reading pays.
    """
    height, width = mask.shape
    padded = np.zeros((height + 2, width + 2), np.uint8)
    padded[1:-1, 1:-1] = mask
    flat = padded.ravel()
    row = width + 2
    ring = np.array([-row, 1 - row, 1, row + 1, row, row - 1, -1, -row - 1])  # as _neighbours
    inked = np.flatnonzero(flat)
    peeled = True
    while peeled:
        peeled = False
        for step in (0, 1):  # peel the south-east sides, then the north-west ones
            codes = np.packbits(flat[inked[:, None] + ring], axis=1, bitorder="little")[:, 0]
            edge = _PEELED[step][codes]  # decided on the step's start, then peeled at once
            if edge.any():
                flat[inked[edge]] = 0
                inked = inked[~edge]
                peeled = True
    return padded[1:-1, 1:-1].astype(bool)


def _peeled(step: int) -> np.ndarray:
    """For each of the 256 rings of neighbours (bit i = neighbour i, clockwise from north):
    whether Zhang and Suen's step `step` peels the pixel in its middle. Looking the rules up in
    this table made thinning a drawing ~4× faster than testing them on the whole image."""
    codes = np.arange(256)
    ring = [(codes >> i) & 1 == 1 for i in range(8)]
    north, east, south, west = ring[0], ring[2], ring[4], ring[6]
    if step == 0:  # Zhang and Suen's rule: keep pixels not on the side being peeled
        kept = (north & east & south) | (east & south & west)
    else:
        kept = (north & east & west) | (north & south & west)
    count = np.sum(ring, axis=0)  # 2-6: neither a line's end nor inside the ink
    return (count >= 2) & (count <= 6) & (_turns(ring) == 1) & ~kept


def forks(skeleton: np.ndarray) -> np.ndarray:
    """The pixels of a one-pixel-wide skeleton where three or more lines meet."""
    return skeleton & (_turns(_neighbours(skeleton)) >= 3)


def _neighbours(mask: np.ndarray) -> list[np.ndarray]:
    """Each pixel's 8 neighbours, clockwise from north (outside the image counts as empty)."""
    p = np.pad(mask, 1)
    return [
        p[:-2, 1:-1],
        p[:-2, 2:],
        p[1:-1, 2:],
        p[2:, 2:],
        p[2:, 1:-1],
        p[2:, :-2],
        p[1:-1, :-2],
        p[:-2, :-2],
    ]


def _turns(ring: list[np.ndarray]) -> np.ndarray:
    """How often the neighbours go from empty to ink, once round: 1 at an edge or a line's end
    (peeling it keeps the line whole), 2 along a one-pixel line, 3 or more where lines fork."""
    return np.sum([~a & b for a, b in zip(ring, ring[1:] + ring[:1], strict=True)], axis=0)


_PEELED = (_peeled(0), _peeled(1))


def naive_resize(image: np.ndarray) -> np.ndarray:
    """The whole picture squeezed to 28×28, no cropping or centring: the baseline we beat."""
    return fit(ink_image(image), MNIST_SIDE)


def model_input(digit: np.ndarray, scaling: str) -> np.ndarray:
    """A [0, 1] 28×28 digit in the input scaling the model was trained with."""
    return scale_images(np.round(digit * 255.0), scaling)
