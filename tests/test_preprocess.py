"""Drawings become MNIST-like 28×28 images whatever their size, place, stroke or colours."""

import base64
import collections
import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from mnist_app.drawing import uploads
from mnist_app.drawing.preprocess import (
    canvas_to_mnist,
    evened_ink,
    measure_ink,
    model_input,
    prepare,
    thin,
)
from mnist_app.drawing.uploads import MAX_UPLOAD_BYTES, ImageError, read_upload
from mnist_app.engine.data import load_mnist, scale_images

SEVEN = [(0.1, 0.1), (0.9, 0.1), (0.4, 1.0)]  # a 7 as a polyline in a unit box


def draw_seven(box: tuple[int, int, int], width: int, side: int = 280) -> np.ndarray:
    """White ink on black: a 7 of `size` pixels with its corner at (left, top)."""
    left, top, size = box
    picture = Image.new("L", (side, side), 0)
    points = [(left + x * size, top + y * size) for x, y in SEVEN]
    ImageDraw.Draw(picture).line(points, fill=255, width=width, joint="curve")
    return np.asarray(picture)


def draw_zero(width: int) -> np.ndarray:
    """A 0 whose stroke is centred on the same oval whatever its width."""
    picture = Image.new("L", (280, 280), 0)
    half = width // 2
    oval = (90 - half, 40 - half, 190 + half, 240 + half)  # Pillow's outline grows inwards
    ImageDraw.Draw(picture).ellipse(oval, outline=255, width=width)
    return np.asarray(picture)


def as_canvas_rgba(grey: np.ndarray) -> np.ndarray:
    """How the canvas sends white strokes on a transparent background."""
    rgba = np.zeros((*grey.shape, 4), np.uint8)
    rgba[..., :3] = 255
    rgba[..., 3] = grey
    return rgba


def similar(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two images (1 = identical up to brightness)."""
    return float((a * b).sum() / np.linalg.norm(a) / np.linalg.norm(b))


def test_result_is_an_mnist_image():
    digit = canvas_to_mnist(draw_seven((60, 40, 180), 18))
    assert digit.shape == (28, 28) and digit.dtype == np.float32
    assert digit.min() >= 0.0 and digit.max() <= 1.0 and digit.max() > 0.9
    rows, cols = np.flatnonzero(digit.any(axis=1)), np.flatnonzero(digit.any(axis=0))
    assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 in (20, 21, 22)  # 20 px + antialiasing
    mass = digit.sum()
    center = [(digit * np.indices(digit.shape)[axis]).sum() / mass for axis in (0, 1)]
    assert np.allclose(center, 14, atol=0.6)


def test_small_in_a_corner_and_large_in_the_middle_look_the_same():
    small = canvas_to_mnist(draw_seven((5, 5, 60), 5))
    large = canvas_to_mnist(draw_seven((40, 30, 220), 20))
    assert similar(small, large) > 0.9


@pytest.mark.parametrize("draw", [lambda w: draw_seven((40, 30, 200), w), draw_zero])
def test_thin_and_thick_strokes_look_the_same(draw):
    thin, medium, thick = (canvas_to_mnist(draw(width)) for width in (3, 18, 45))
    assert similar(thin, medium) > 0.85
    assert similar(thick, medium) > 0.85
    assert similar(thin, thick) > 0.8


def test_stroke_width_is_evened_out_towards_mnist():
    ink = [canvas_to_mnist(draw_zero(width)).sum() for width in (3, 18, 45)]
    assert max(ink) / min(ink) < 1.6  # the raw strokes differ 15-fold


@pytest.mark.parametrize(
    "blank",
    [
        np.zeros((280, 280, 4), np.uint8),  # transparent canvas
        np.full((280, 280, 4), (0, 0, 0, 255), np.uint8),  # black canvas
        np.full((100, 60), 235, np.uint8),  # blank paper
        np.random.default_rng(0).integers(100, 120, (50, 50, 3), dtype=np.uint8),  # grey noise
    ],
)
def test_no_ink_gives_none(blank):
    assert canvas_to_mnist(blank) is None


def test_transparent_canvas_opaque_canvas_and_paper_agree():
    grey = draw_seven((40, 30, 200), 18)
    on_black = canvas_to_mnist(grey)
    transparent = canvas_to_mnist(as_canvas_rgba(grey))
    black_ink_transparent = as_canvas_rgba(grey)
    black_ink_transparent[..., :3] = 0
    paper = np.stack([235 - grey * 0.8] * 3, axis=-1).astype(np.uint8)  # dark ink, grey paper
    assert np.allclose(on_black, transparent, atol=0.02)
    assert np.allclose(on_black, canvas_to_mnist(black_ink_transparent), atol=0.02)
    assert similar(on_black, canvas_to_mnist(paper)) > 0.97


@pytest.mark.parametrize("scaling", ["unit", "centered", "none"])
def test_model_input_uses_the_training_scaling(scaling):
    digit = canvas_to_mnist(draw_zero(18))
    expected = scale_images(np.round(digit * 255).astype(np.uint8), scaling)
    assert np.allclose(model_input(digit, scaling), expected)


def looks_like_digit(image: np.ndarray) -> bool:
    work = evened_ink(image)
    return work is not None and measure_ink(work).looks_like_digit


def test_real_mnist_digits_look_like_digits():
    _, _, x_test, _ = load_mnist()
    passed = [looks_like_digit(image) for image in x_test[:1000]]
    assert np.mean(passed) >= 0.995  # all 10,000 (99.9%): python bench/not_a_digit.py


@pytest.mark.parametrize("width", [3, 18, 45])
def test_drawn_digits_look_like_digits(width):
    assert looks_like_digit(draw_seven((40, 30, 200), width))
    assert looks_like_digit(draw_zero(width))


def zhang_suen(mask: np.ndarray) -> np.ndarray:
    """Zhang and Suen's thinning as their paper states it, every pixel tested on every step:
    the reference `thin` must match pixel for pixel."""
    skeleton = mask.astype(bool)
    while True:
        before = skeleton.copy()
        for step in (0, 1):
            p = np.pad(skeleton, 1)
            # P2..P9: north, north-east, east, south-east, south, south-west, west, north-west
            n, ne, e, se = p[:-2, 1:-1], p[:-2, 2:], p[1:-1, 2:], p[2:, 2:]
            s, sw, w, nw = p[2:, 1:-1], p[2:, :-2], p[1:-1, :-2], p[:-2, :-2]
            ring = [n, ne, e, se, s, sw, w, nw]
            inked = sum(r.astype(int) for r in ring)  # B(P1)
            turns = zip(ring, ring[1:] + ring[:1], strict=True)
            rises = sum((~a & b).astype(int) for a, b in turns)  # A(P1)
            sides = ~(n & e & s) & ~(e & s & w) if step == 0 else ~(n & e & w) & ~(n & s & w)
            skeleton = skeleton & ~((inked >= 2) & (inked <= 6) & (rises == 1) & sides)
        if (skeleton == before).all():
            return skeleton


def test_thinning_gives_zhang_and_suen_s_skeleton():
    rng = np.random.default_rng(3)
    _, _, x_test, _ = load_mnist()
    masks = [evened_ink(image) >= 0.5 for image in x_test[:40]]
    masks += [evened_ink(draw_seven((40, 30, 200), 45)) >= 0.5, evened_ink(draw_zero(18)) >= 0.5]
    masks += [rng.random(rng.integers(1, 60, 2)) < rng.random() for _ in range(60)]
    masks += [np.ones((1, 9), bool), np.ones((7, 1), bool), np.ones((12, 30), bool)]
    for mask in masks:
        assert (thin(mask) == zhang_suen(mask)).all()
    bar = thin(np.pad(np.ones((9, 40), bool), 2))
    assert bar.any(axis=1).sum() == 1  # a thick bar thins to one line


def random_lines(rng: np.random.Generator, count: int) -> np.ndarray:
    picture = Image.new("L", (280, 280), 0)
    for _ in range(count):
        ends = [tuple(rng.integers(0, 280, 2).tolist()) for _ in range(2)]
        ImageDraw.Draw(picture).line(ends, fill=255, width=int(rng.integers(3, 20)))
    return np.asarray(picture)


def scribble(rng: np.random.Generator, points: int) -> np.ndarray:
    picture = Image.new("L", (280, 280), 0)
    path = [tuple(rng.integers(20, 260, 2).tolist()) for _ in range(points)]
    ImageDraw.Draw(picture).line(path, fill=255, width=int(rng.integers(3, 20)), joint="curve")
    return np.asarray(picture)


def filled_square(rng: np.random.Generator) -> np.ndarray:
    side = int(rng.integers(40, 260))
    top, left = rng.integers(0, 280 - side + 1, 2)
    canvas = np.zeros((280, 280), np.uint8)
    canvas[top : top + side, left : left + side] = 255
    return canvas


def dots(rng: np.random.Generator, share: float, ink: int) -> np.ndarray:
    return np.where(rng.random((280, 280)) < share, ink, 255 - ink).astype(np.uint8)


NOT_DIGITS = {
    "uniform noise": lambda rng: rng.integers(0, 256, (280, 280), dtype=np.uint8),
    "colour noise": lambda rng: rng.integers(0, 256, (280, 280, 3), dtype=np.uint8),
    "salt 2%": lambda rng: dots(rng, 0.02, 255),
    "salt 30%": lambda rng: dots(rng, 0.3, 255),
    "pepper on paper 10%": lambda rng: dots(rng, 0.1, 0),
    "filled square": filled_square,
    "20 random lines": lambda rng: random_lines(rng, 20),
    "scribbled out": lambda rng: scribble(rng, 30),
}


@pytest.mark.parametrize("name", list(NOT_DIGITS))
def test_noise_blots_and_scribbles_do_not_look_like_digits(name):
    rng = np.random.default_rng(0)
    for _ in range(5):  # rates over hundreds of each: python bench/not_a_digit.py
        assert not looks_like_digit(NOT_DIGITS[name](rng))


def png_bytes(picture: Image.Image, format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format=format)
    return buffer.getvalue()


def test_upload_of_dark_ink_on_paper_reads_like_the_canvas():
    paper = Image.fromarray(255 - draw_seven((40, 30, 200), 18)).convert("RGB")
    for format in ("PNG", "JPEG"):
        image = read_upload(png_bytes(paper, format))
        reference = canvas_to_mnist(draw_seven((40, 30, 200), 18))
        assert similar(canvas_to_mnist(image), reference) > 0.97


def paper_scan(digit: np.ndarray, bits: int) -> bytes:
    """An MNIST digit inked dark on white paper, 10× bigger, as an 8- or 16-bit grey PNG."""
    ink = Image.fromarray(digit.astype(np.float32) / 255, mode="F")
    ink = np.asarray(ink.resize((280, 280), Image.Resampling.BICUBIC)).clip(0, 1)
    top = 2**bits - 1
    paper = np.round((1 - ink) * top).astype(np.uint16 if bits == 16 else np.uint8)
    return png_bytes(Image.fromarray(paper))


@pytest.mark.parametrize("index", range(5))
def test_a_16_bit_scan_reads_like_the_8_bit_one(index):
    digit = load_mnist()[2][index]  # real test digits: 7, 2, 1, 0, 4
    deep = read_upload(paper_scan(digit, 16))
    assert deep.dtype == np.uint8 and deep.min() < 5 and deep.max() == 255
    eight_bit = canvas_to_mnist(read_upload(paper_scan(digit, 8)))
    assert np.abs(canvas_to_mnist(deep) - eight_bit).max() < 0.02  # was blank or a thin core
    assert similar(eight_bit, digit / 255) > 0.8  # and both look like the MNIST digit


def test_a_blank_16_bit_page_stays_blank():
    noise = np.random.default_rng(0).normal(50_000, 150, (300, 200))
    page = png_bytes(Image.fromarray(noise.round().astype(np.uint16)))
    assert canvas_to_mnist(read_upload(page)) is None


BAD_UPLOADS = {
    "not_image": lambda: b"%PDF-1.4 not an image at all",
    "gif": lambda: png_bytes(Image.new("L", (20, 20)), "GIF"),
    "truncated": lambda: png_bytes(Image.new("L", (200, 200)))[:60],
    "100_megapixels": lambda: png_bytes(Image.new("1", (10_000, 10_000))),  # a few kB on disk
    "400_megapixels": lambda: png_bytes(Image.new("1", (20_000, 20_000))),  # past Pillow's limit
    "too_many_bytes": lambda: b"\x89PNG" + bytes(MAX_UPLOAD_BYTES),
}
REASONS = {"gif": "not_image", "truncated": "broken", "too_many_bytes": "too_big"}


@pytest.mark.parametrize("name", list(BAD_UPLOADS))
def test_bad_uploads_give_a_reason(name):
    with pytest.raises(ImageError) as caught:
        read_upload(BAD_UPLOADS[name]())
    assert caught.value.reason == REASONS.get(name, "bomb" if "pixels" in name else name)


def test_a_png_is_decoded_whole_so_it_has_the_smaller_pixel_bound():
    """A JPEG is read at an eighth of its size, a PNG whole: 16 MP is fine as a photo, not as a
    PNG (a few kB on disk, ~100 MB to decode); a 9 MP scan still reads."""
    picture = Image.new("L", (4000, 4000), 255)
    assert read_upload(png_bytes(picture, "JPEG")).shape == (500, 500)  # an eighth, decoded
    with pytest.raises(ImageError) as caught:
        read_upload(png_bytes(picture))
    assert caught.value.reason == "bomb" and "12,000,000" in str(caught.value)
    assert read_upload(png_bytes(Image.new("L", (3000, 3000), 255))).shape == (1024, 1024)


def test_one_pixel_less_than_opaque_makes_a_transparent_background():
    from mnist_app.drawing.preprocess import _transparent

    opaque = np.zeros((40, 40, 4), np.uint8)
    opaque[..., 3] = 255
    assert not _transparent(opaque) and not _transparent(opaque[::2, ::3])  # any layout
    for alpha in (0, 254):
        seen = opaque.copy()
        seen[17, 23, 3] = alpha
        assert _transparent(seen) and _transparent(seen[1:, 2:])
    white = np.full((40, 40, 4), 255, np.uint8)
    white[..., :3] = np.arange(40)[:, None, None]  # colours never count as alpha
    assert not _transparent(white)


def _canvas_value(picture: Image.Image) -> str:
    png = io.BytesIO()
    picture.save(png, format="PNG")
    return uploads.CANVAS_HEADER + base64.b64encode(png.getvalue()).decode()


def _drawn(width: int) -> Image.Image:
    picture = Image.new("RGBA", (280, 280), (0, 0, 0, 255))
    ImageDraw.Draw(picture).line([(140, 40), (150, 240)], fill=(255, 255, 255, 255), width=width)
    return picture


@pytest.fixture
def decoded(monkeypatch):
    """The PNGs decoded from now on (the cache of recent canvas values starts empty)."""
    pngs, decode = [], uploads.decode_png
    monkeypatch.setattr(uploads, "decode_png", lambda png: pngs.append(png) or decode(png))
    monkeypatch.setattr(uploads, "_recent", collections.OrderedDict())
    return pngs


def test_a_canvas_value_sent_again_is_not_decoded_again(decoded):
    # Every reset sends the same blank canvas; the live reading, a new stroke width or the
    # class-set form send the last drawing again.
    blank = _canvas_value(Image.new("RGBA", (280, 280), (0, 0, 0, 255)))
    first = uploads.read_canvas_value(blank, 280)
    again = uploads.read_canvas_value(blank, 280)
    assert again is first and len(decoded) == 1
    assert evened_ink(again.image) is None
    with pytest.raises(ValueError, match="read-only"):  # shared: nobody may draw on it
        again.image[0, 0] = 255
    stroke = _canvas_value(_drawn(20))
    read = uploads.read_canvas_value(stroke, 280)
    assert uploads.read_canvas_value(stroke, 280) is read and len(decoded) == 2
    np.testing.assert_array_equal(read.image, np.asarray(_drawn(20)))
    # the same value from a canvas of another size is checked for that size
    with pytest.raises(ImageError, match="wrong_size"):
        uploads.read_canvas_value(blank, 1000)
    # only the last few are kept: the blank one, the oldest, is decoded again
    for width in range(1, uploads.RECENT_CANVAS_VALUES + 1):
        uploads.read_canvas_value(_canvas_value(_drawn(width)), 280)
    assert len(uploads._recent) == uploads.RECENT_CANVAS_VALUES
    assert len(decoded) == 2 + uploads.RECENT_CANVAS_VALUES
    uploads.read_canvas_value(blank, 280)
    assert len(decoded) == 3 + uploads.RECENT_CANVAS_VALUES


def test_a_canvas_value_sent_again_is_not_prepared_again(decoded, monkeypatch):
    """A kept drawing is cut out and centred once: every reset's blank canvas, and the drawing
    a running model reads again every 2 s. What is read of it is what read_digit reads."""
    from mnist_app.drawing import predict, preprocess

    prepared = []
    monkeypatch.setattr(uploads, "prepare", lambda image: prepared.append(image) or prepare(image))
    blank = _canvas_value(Image.new("RGBA", (280, 280), (0, 0, 0, 255)))
    assert uploads.read_canvas_value(blank, 280).prepared is None
    assert uploads.read_canvas_value(blank, 280).prepared is None and len(prepared) == 1
    drawing = uploads.read_canvas_value(_canvas_value(_drawn(20)), 280)
    once = drawing.prepared
    assert drawing.prepared is once and len(prepared) == 2
    with pytest.raises(ValueError, match="read-only"):  # shared by every session that sent it
        once.image[0, 0] = 1.0
    np.testing.assert_array_equal(once.image, preprocess.canvas_to_mnist(drawing.image))
    model = predict.load_reader(predict.DEFAULT_MODEL)
    assert predict.read_prepared(model, once, "unit").digit == 1  # the shipped model's scaling
    for scaling in ("unit", "centered"):
        read, fresh = (
            predict.read_prepared(model, once, scaling),
            predict.read_digit(model, drawing.image, scaling),
        )
        assert read.digit == fresh.digit and read.looks_like_digit and fresh.looks_like_digit
        np.testing.assert_array_equal(read.probabilities, fresh.probabilities)
        np.testing.assert_array_equal(read.image, fresh.image)


def test_refused_and_large_canvas_values_are_not_kept(decoded):
    whole = base64.b64decode(_canvas_value(_drawn(20))[len(uploads.CANVAS_HEADER) :])
    broken = uploads.CANVAS_HEADER + base64.b64encode(whole[:60]).decode()  # cut short
    for _ in range(2):  # refused each time, with its reason
        with pytest.raises(ImageError, match="broken"):
            uploads.read_canvas_value(broken, 280)
    assert len(decoded) == 2
    # a forged 1120×1120 canvas (within 4× the 280-px one's side) decodes to 5 MB: read, not kept
    large = _canvas_value(Image.new("RGBA", (1120, 1120), (0, 0, 0, 255)))
    assert uploads.read_canvas_value(large, 280).image.nbytes > uploads.MAX_KEPT_CANVAS_BYTES
    assert not uploads._recent
