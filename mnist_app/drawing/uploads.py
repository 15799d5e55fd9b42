"""What users send, read safely: an uploaded photo (PNG or JPEG) and the canvas's drawing (a PNG
data URL). Each is checked on its header, before anything is decoded, and refused with an
`ImageError` that names why, so that no file can take the server's memory or crash a page."""

from __future__ import annotations

import base64
import binascii
import collections
import contextlib
import functools
import io
import struct
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from mnist_app.drawing.preprocess import WORK_SIDE, Prepared, prepare

MAX_UPLOAD_BYTES = 10 * 2**20
# Checked on the header, before anything is decoded. A JPEG is decoded at an eighth of its size
# or less (draft), a PNG whole: a 170 kB PNG of 6300×6300 RGBA pixels took 221 MB to read, one
# of 12 MP 104 MB; so PNGs get the smaller bound, and one upload is decoded at a time.
MAX_UPLOAD_PIXELS = 40_000_000
MAX_UPLOAD_PNG_PIXELS = 12_000_000  # a phone screenshot is 2-4 MP, an A4 page at 300 dpi 8.7 MP
_ONE_UPLOAD_AT_A_TIME = threading.Lock()  # a class uploading at once waits, memory stays bounded
UPLOAD_FORMATS = ("PNG", "JPEG")
CANVAS_HEADER = "data:image/png;base64,"  # what the canvas sends: toDataURL("image/png")
MAX_CANVAS_BYTES = 4 * 2**20  # a 280×280 canvas PNG is a few kB, a noisy 440×440 one < 1 MB
# The canvas sends its own size (multiplier 1); a high-density screen or another canvas size
# (projector mode's) may differ, so a side from half the canvas's to 4× it is taken: at most
# 1760×1760 RGBA, 12 MB decoded, where a forged 9000×9000 PNG grew the server by 507 MB.
MAX_CANVAS_SCALE = 4
RECENT_CANVAS_VALUES = 8  # decoded canvas values kept for the next rerun (below)
MAX_KEPT_CANVAS_BYTES = 2**20  # and only drawings this small, sent and decoded (440 px: 0.8 MB)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class ImageError(ValueError):
    """An upload that cannot be read as a digit; `reason` names why (for a translated message)."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        # "too_big", "not_image", "bomb" or "broken"; a canvas value also "not_canvas" or
        # "wrong_size"
        self.reason = reason


def grey_levels_to_8_bits(grey: np.ndarray) -> np.ndarray:
    """16-bit grey levels (0..65535) as uint8 0..255.

    Pillow's convert("L") clips them at 255 instead: every level but the darkest turned white, so
    a dark digit on white paper read as blank paper. Scaling by the file's range, not by the
    picture's own darkest and brightest levels, keeps a blank 16-bit page blank: stretched, its
    faint sensor noise would pass for ink.
    """
    return np.round(np.clip(grey, 0, 65535) / 257.0).astype(np.uint8)  # 65535 / 257 = 255


def read_upload(data: bytes) -> np.ndarray:
    """A PNG or JPEG file as a uint8 grey or RGBA array; ImageError if it is not a safe image."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImageError("too_big", f"{len(data):,} bytes")
    with _ONE_UPLOAD_AT_A_TIME, _decoding():
        picture = Image.open(io.BytesIO(data))  # reads the header only
        if picture.format not in UPLOAD_FORMATS:
            raise ImageError("not_image", str(picture.format))
        most = MAX_UPLOAD_PNG_PIXELS if picture.format == "PNG" else MAX_UPLOAD_PIXELS
        if picture.width * picture.height > most:
            raise ImageError("bomb", f"{picture.width}×{picture.height} pixels, over {most:,}")
        picture.draft("L", (4 * WORK_SIDE, 4 * WORK_SIDE))  # JPEG: decode at a smaller size
        picture = ImageOps.exif_transpose(picture)  # phone photos stand upright
        picture.thumbnail((1024, 1024))
        if picture.mode.startswith("I"):  # a 16-bit grey PNG (its transparency is ignored)
            return grey_levels_to_8_bits(np.asarray(picture))
        mode = "RGBA" if "A" in picture.getbands() or "transparency" in picture.info else "L"
        return np.asarray(picture.convert(mode))


@contextlib.contextmanager
def _decoding() -> Iterator[None]:
    """Pillow's complaints about a picture as ImageError; its bomb warning counts as a bomb."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageError("bomb", str(error)) from error
    except UnidentifiedImageError as error:
        raise ImageError("not_image", str(error)) from error
    except (OSError, SyntaxError, ValueError) as error:  # truncated or corrupt data
        raise ImageError("broken", str(error)) from error


@dataclass(frozen=True)
class CanvasDrawing:
    """What the canvas sent, checked: its PNG file and that PNG as a uint8 array."""

    png: bytes
    image: np.ndarray

    @functools.cached_property
    def prepared(self) -> Prepared | None:
        """The drawing made as MNIST was made (`preprocess.prepare`), once per drawing: a
        drawing kept decoded (below) is not cut out again either. Every reset sends the same
        blank canvas (~0.6 ms to find it empty on the Draw page's server), and the live reading
        of a run in training reads the same drawing again every 2 s (~1.3 ms to prepare)."""
        return prepare(self.image)


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's header, read without decoding; ImageError("not_image")."""
    # The signature, then the IHDR chunk first: length 13, "IHDR", width, height (big-endian).
    if len(data) < 24 or not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        raise ImageError("not_image", "not a PNG file")
    return struct.unpack(">II", data[16:24])


def read_canvas_value(data_url: object, side: int) -> CanvasDrawing | None:
    """The canvas's value (a PNG data URL) checked before anything is decoded: the header says
    PNG in base64, the bytes stay under MAX_CANVAS_BYTES, the PNG's declared size is the
    canvas's (`side` pixels square, see MAX_CANVAS_SCALE). None if nothing was sent yet.

    ImageError otherwise: "not_canvas" (not a PNG data URL), "too_big", "not_image",
    "wrong_size" (not the canvas's size) or "broken" (it does not decode).
    """
    if data_url is None:
        return None
    if not isinstance(data_url, str) or not data_url.startswith(CANVAS_HEADER):
        raise ImageError("not_canvas", "not a data:image/png;base64 URL")
    with _RECENT_LOCK:
        drawing = _recent.get((data_url, side))
        if drawing is not None:
            _recent.move_to_end((data_url, side))
            return drawing
    drawing = _canvas_drawing(data_url, side)
    if len(data_url) <= MAX_KEPT_CANVAS_BYTES and drawing.image.nbytes <= MAX_KEPT_CANVAS_BYTES:
        with _RECENT_LOCK:
            _recent[data_url, side] = drawing
            while len(_recent) > RECENT_CANVAS_VALUES:
                _recent.popitem(last=False)
    return drawing


def _canvas_drawing(data_url: str, side: int) -> CanvasDrawing:
    """`read_canvas_value` past its first check; the array is read-only (it may be shared)."""
    if len(data_url) - len(CANVAS_HEADER) > (MAX_CANVAS_BYTES + 2) // 3 * 4:  # 4 chars: 3 bytes
        raise ImageError("too_big", f"more than {MAX_CANVAS_BYTES:,} bytes")
    try:
        png = base64.b64decode(data_url[len(CANVAS_HEADER) :], validate=True)
    except (binascii.Error, ValueError) as error:
        raise ImageError("not_canvas", f"not base64: {error}") from error
    width, height = png_size(png)
    if not all(side // 2 <= length <= MAX_CANVAS_SCALE * side for length in (width, height)):
        raise ImageError("wrong_size", f"{width}×{height} pixels, not a {side}-pixel canvas")
    image = decode_png(png)
    image.flags.writeable = False
    return CanvasDrawing(png, image)


# The same canvas value comes back often: every reset sends the same blank canvas (from every
# student of a class), and a rerun that is not a stroke (the live reading, a new stroke width,
# the class-set form) sends the last drawing again. The last few are not decoded again: a decode
# is ~0.7 ms of a Draw-page event's ~11 ms of server CPU (bench/stroke_cpu.py). Refusals are not
# kept, nor drawings over MAX_KEPT_CANVAS_BYTES sent or decoded, so whatever anyone sends, the
# cache holds at most RECENT_CANVAS_VALUES × 2 MB.
_recent: collections.OrderedDict[tuple[str, int], CanvasDrawing] = collections.OrderedDict()
_RECENT_LOCK = threading.Lock()


def decode_png(png: bytes) -> np.ndarray:
    """A PNG whose size was checked, as a grey, RGB or RGBA uint8 array; ImageError if not."""
    with _decoding():
        picture = Image.open(io.BytesIO(png), formats=["PNG"])
        if picture.mode not in ("L", "RGB", "RGBA"):
            picture = picture.convert("RGBA")
        return np.asarray(picture)
