"""MNIST as the Data page shows it: the splits and the digits in each, the pixels, what each
input scaling does to them and what augmentation does to a digit; the numbers and their figures."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from mnist_app import charts
from mnist_app.config import TRAIN_IMAGES, RunConfig
from mnist_app.data import background_value, load_mnist, scale_images
from mnist_app.i18n import DEFAULT_LANGUAGE, format_number, translate
from mnist_app.plan import IMAGE_SIDE

SPLITS = ("train", "validation", "test")
SPLIT_COLORS = {"train": charts.TRAIN_COLOR, "validation": charts.VALIDATION_COLOR,
                "test": "#5f6b7a"}  # fmt: skip
INK_SCALE = [[0.0, "black"], [1.0, "white"]]  # MNIST's own look: white ink on black
MATRIX_TEXT_SIZE = 9  # px: 784 numbers fit their cells at 9 px on a page, 13 px on a projector
MATRIX_PROJECTOR_TEXT_SIZE = 13


# --- the numbers -----------------------------------------------------------------------------
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
        return {"black": black, "middle": middle, "white": white, "mean": self.mean,
                "std": self.std}  # fmt: skip


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
    from mnist_app.models import augmentation  # Keras takes seconds: only for augmentation

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
    from mnist_app.models import augmentation

    config = RunConfig(augment=True, seed=seed, scaling=scaling)
    image = scale_images(load_mnist()[0][index], scaling)
    batch = np.repeat(image[None, :, :, None], count, axis=0)
    variants = np.asarray(augmentation(config)(batch, training=True))[..., 0]
    grey = variants if scaling == "none" else (variants - background_value(scaling)) * 255
    return np.clip(grey, 0, 255).round().astype(np.uint8)


# --- the figures -----------------------------------------------------------------------------
def split_figure(validation_size: int, language: str = DEFAULT_LANGUAGE) -> go.Figure:
    """MNIST's two files as bars of image numbers; the training file's end cut for validation."""
    text = _texts(language)
    cut, test_images = validation_cut(validation_size), len(load_mnist()[2])
    rows = {"train": text["file_train"], "test": text["file_test"]}
    parts = (("train", rows["train"], 0, cut), ("validation", rows["train"], cut, TRAIN_IMAGES),
             ("test", rows["test"], 0, test_images))  # fmt: skip
    figure = go.Figure()
    for split, row, start, end in parts:
        if end > start:
            size = format_number(end - start, 0, language)
            figure.add_bar(
                y=[row], x=[end - start], base=[start], orientation="h", name=text[split],
                marker_color=SPLIT_COLORS[split], text=[f"{text[split]}: {size}"],
                textposition="inside", insidetextanchor="middle", textfont={"size": 16},
                hovertemplate=f"{text[split]}: {size}<extra></extra>",
            )  # fmt: skip
    if 0 < cut < TRAIN_IMAGES:
        figure.add_annotation(
            x=cut, y=rows["train"], yshift=34, showarrow=False, font={"size": 15},
            text=translate("data.chart.cut", language, n=format_number(cut, 0, language)),
        )  # fmt: skip
    figure.update_layout(
        barmode="overlay", showlegend=False, height=230,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        xaxis={"title": text["image_number"], "range": [0, TRAIN_IMAGES], "tickformat": ","},
        yaxis={"autorange": "reversed", "tickfont": {"size": charts.TICK_SIZE}},
        separators=",." if language == "es" else ".,",
    )  # fmt: skip
    return figure


def counts_figure(counts: dict[str, np.ndarray], language: str = DEFAULT_LANGUAGE) -> go.Figure:
    """Grouped bars: how many of each digit each split holds."""
    text = _texts(language)
    figure = go.Figure()
    for split in SPLITS:
        figure.add_bar(
            x=[str(d) for d in range(10)], y=counts[split].tolist(), name=text[split],
            marker_color=SPLIT_COLORS[split],
            hovertemplate=f"{text[split]} · %{{x}}: %{{y:,}}<extra></extra>",
        )  # fmt: skip
    figure.update_layout(
        barmode="group", height=380, margin={"l": 10, "r": 10, "t": 10, "b": 10},
        xaxis={"title": text["digit"], "type": "category"}, yaxis={"title": text["images"]},
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0},
        separators=",." if language == "es" else ".,",
    )  # fmt: skip
    return figure


def matrix_figure(image: np.ndarray, language: str = DEFAULT_LANGUAGE) -> go.Figure:
    """One digit as its 28 × 28 grey levels: each cell coloured and its number written in."""
    text = _texts(language)
    figure = go.Figure(
        go.Heatmap(
            z=image, text=image, texttemplate="%{text}", textfont={"size": MATRIX_TEXT_SIZE},
            colorscale=INK_SCALE, zmin=0, zmax=255, xgap=1, ygap=1, name="matrix",
            colorbar={"title": {"text": text["grey_level"]}, "tickvals": [0, 64, 128, 192, 255]},
            hovertemplate=text["matrix_hover"] + "<extra></extra>",
        )
    )  # fmt: skip
    figure.update_layout(
        height=760, margin={"l": 10, "r": 10, "t": 30, "b": 10},
        xaxis={"title": text["column"], "dtick": 3, "side": "top", "constrain": "domain"},
        yaxis={"title": text["row"], "dtick": 3, "autorange": "reversed", "scaleanchor": "x",
               "constrain": "domain"},
    )  # fmt: skip
    return figure


def means_figure(means: np.ndarray, language: str = DEFAULT_LANGUAGE) -> go.Figure:
    """The ten mean images side by side, on one grey scale."""
    text = _texts(language)
    figure = make_subplots(rows=2, cols=5, subplot_titles=[str(d) for d in range(10)],
                           horizontal_spacing=0.02, vertical_spacing=0.08)  # fmt: skip
    for digit, mean in enumerate(means):
        figure.add_trace(
            go.Heatmap(z=mean.round(1), coloraxis="coloraxis",
                       hovertemplate=text["mean_hover"] + "<extra></extra>"),
            row=digit // 5 + 1, col=digit % 5 + 1,
        )  # fmt: skip
    figure.update_xaxes(visible=False, constrain="domain")
    figure.update_yaxes(visible=False, autorange="reversed", scaleanchor="x", constrain="domain")
    for axis in range(2, 11):  # each picture square, keeping to its own x axis
        figure.update_yaxes(scaleanchor=f"x{axis}", row=(axis - 1) // 5 + 1, col=(axis - 1) % 5 + 1)
    figure.update_layout(
        height=440, margin={"l": 10, "r": 10, "t": 30, "b": 10},
        coloraxis={"colorscale": INK_SCALE, "cmin": 0, "cmax": 255,
                   "colorbar": {"title": {"text": text["grey_level"]}}},
    )  # fmt: skip
    return figure


def histogram_figure(scalings: tuple[str, ...], language: str = DEFAULT_LANGUAGE) -> go.Figure:
    """The training set's pixel values, once per scaling, each under the scaling's name (on a
    log axis: most pixels are 0)."""
    text = _texts(language)
    names = [translate(f"choice.scaling.{scaling}", language) for scaling in scalings]
    height = 60 + 250 * len(scalings)
    figure = make_subplots(rows=len(scalings), cols=1, subplot_titles=names,
                           vertical_spacing=80 / height)  # fmt: skip
    hover = text["histogram_hover"] + "<extra></extra>"
    for row, (scaling, name) in enumerate(zip(scalings, names, strict=True), start=1):
        figure.add_bar(
            x=scaled_levels(scaling).levels, y=pixel_counts(), name=name, row=row, col=1,
            marker_color=charts.TRAIN_COLOR, hovertemplate=hover,
        )  # fmt: skip
    figure.update_yaxes(type="log", title={"text": text["pixels"]})
    figure.update_layout(
        height=height, showlegend=False, bargap=0, margin={"l": 10, "r": 10, "t": 40, "b": 10},
        separators=",." if language == "es" else ".,",
    )  # fmt: skip
    return figure


def for_projector(figure: go.Figure) -> go.Figure:
    """charts.for_projector, except that a digit's 784 numbers keep a size that fits their cells."""
    figure = charts.for_projector(figure)
    big = {"size": charts.PROJECTOR_FONT}
    figure.update_annotations(font=big)  # the cut's label, the subplots' titles
    figure.update_coloraxes(colorbar={"tickfont": big, "title": {"font": big}})
    figure.update_traces(textfont={"size": MATRIX_PROJECTOR_TEXT_SIZE}, selector={"name": "matrix"})
    if any(trace.name == "matrix" for trace in figure.data):
        figure.update_layout(height=1000)
        figure.update_xaxes(dtick=4)
        figure.update_yaxes(dtick=4)
    return figure


def _texts(language: str) -> dict[str, str]:
    names = (
        "train", "validation", "test", "file_train", "file_test", "image_number", "digit",
        "images", "grey_level", "column", "row", "matrix_hover", "mean_hover", "histogram_hover",
        "pixels",
    )  # fmt: skip
    return {name: translate(f"data.chart.{name}", language) for name in names}
