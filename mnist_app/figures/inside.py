"""Pictures of the inside of a network: feature-map mosaics, saliency overlays, first-layer
weights (as RGB arrays for crisp pixels) and plotly charts of dense layers and the learned map."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from mnist_app.figures.charts import RUN_COLORS, TRAIN_COLOR, VALIDATION_COLOR
from mnist_app.i18n import DEFAULT_LANGUAGE, format_number, translate
from mnist_app.inspect.dataset import mosaic
from mnist_app.inspect.inside import LayerActivation, Saliency
from mnist_app.inspect.learned_map import LearnedMap

# Sequential (dark → bright, read on a projector) and diverging (blue − · white · + red) maps.
_SEQUENTIAL = np.array(
    [[13, 8, 35], [59, 15, 112], [140, 41, 129], [222, 73, 104], [254, 159, 109], [252, 253, 191]],
    dtype=np.float64,
)
_DIVERGING = np.array([[33, 102, 172], [247, 247, 247], [178, 24, 43]], dtype=np.float64)
GAP = 1  # px between the tiles of a mosaic (white)


def colorize(values: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Values in [0, 1] (clipped) as uint8 RGB, interpolated along a palette's anchor colours."""
    steps = np.clip(np.asarray(values, dtype=np.float64), 0, 1) * (len(palette) - 1)
    low = np.minimum(steps.astype(int), len(palette) - 2)
    part = (steps - low)[..., None]
    return np.round(palette[low] * (1 - part) + palette[low + 1] * part).astype(np.uint8)


def sequential(values: np.ndarray, top: float | None = None) -> np.ndarray:
    """Non-negative values as colours, `top` (default: their maximum) the brightest."""
    top = float(np.max(values)) if top is None else top
    return colorize(np.asarray(values) / top if top > 0 else np.zeros_like(values), _SEQUENTIAL)


def diverging(values: np.ndarray, top: float | None = None) -> np.ndarray:
    """Signed values as colours: blue below zero, white at zero, red above."""
    top = float(np.max(np.abs(values))) if top is None else top
    scaled = np.asarray(values) / top if top > 0 else np.zeros_like(values)
    return colorize((scaled + 1) / 2, _DIVERGING)


def feature_maps(layer: LayerActivation, columns: int = 8, zoom: int = 3) -> np.ndarray:
    """A convolution or pooling layer's maps as one picture, strongest first, on one scale
    (a map that stays dark really is weak, not just scaled up)."""
    maps = np.moveaxis(layer.values, -1, 0)  # (maps, height, width)
    order = np.argsort(-layer.strengths, kind="stable")
    return mosaic(sequential(maps[order]), min(columns, len(maps)), _zoom_for(maps, zoom))


def _zoom_for(maps: np.ndarray, zoom: int) -> int:
    """Small maps (7×7 after two poolings) get more pixels, so every layer reads alike."""
    return max(zoom, round(zoom * 26 / max(maps.shape[1], 1)))


def weight_images(images: np.ndarray, columns: int = 8, zoom: int = 3) -> np.ndarray:
    """First-layer weights as a mosaic: red where ink excites the unit, blue where it inhibits.

    Each tile on its own scale: the pattern is the point, and some units have small weights.
    """
    tiles = np.stack([diverging(image) for image in images])
    zoom = _zoom_for(images, zoom)
    gap = max(GAP, zoom * images.shape[1] // 8)  # tiny filters need room to be told apart
    return mosaic(tiles, min(columns, len(images)), zoom, gap)


def saliency_images(image: np.ndarray, found: Saliency, zoom: int = 8) -> dict[str, np.ndarray]:
    """The digit, its attribution (red for, blue against) and its sensitivity, one scale each."""
    grey = np.repeat((np.clip(image, 0, 1) * 255).astype(np.uint8)[..., None], 3, axis=2)
    pictures = {
        "digit": grey,
        "attribution": diverging(found.attribution),
        "sensitivity": sequential(found.sensitivity),
    }
    return {name: picture.repeat(zoom, 0).repeat(zoom, 1) for name, picture in pictures.items()}


def units_figure(layer: LayerActivation, language: str = DEFAULT_LANGUAGE) -> go.Figure:
    """A dense layer as a strip of bars, one per unit, the strongest marked."""
    values = np.asarray(layer.values, dtype=np.float64)
    strongest = set(layer.strongest().tolist())
    colors = [VALIDATION_COLOR if i in strongest else TRAIN_COLOR for i in range(len(values))]
    figure = go.Figure(
        go.Bar(
            x=np.arange(len(values)),
            y=values,
            marker_color=colors,
            marker_line_width=0,
            hovertemplate=translate("inside.unit_hover", language) + "<extra></extra>",
        )
    )
    for unit in layer.strongest():
        figure.add_annotation(
            x=int(unit),
            y=values[unit],
            text=str(unit),
            showarrow=False,
            yshift=10,
            font={"color": VALIDATION_COLOR},
        )
    figure.update_layout(
        title=translate("inside.units_title", language, layer=layer.name, units=len(values)),
        xaxis={"title": translate("inside.unit", language)},
        yaxis={"title": translate("inside.activation", language)},
        bargap=0.05,
        height=240,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
    )
    return figure


_SHADES = " ░▒▓█"


def block_art(image: np.ndarray) -> str:
    """A 28×28 digit as 14 lines of shaded blocks, for a hover label (plotly shows no images)."""
    halves = np.asarray(image, dtype=np.float64).reshape(14, 2, 14, 2).mean(axis=(1, 3))
    levels = np.clip(np.round(halves * (len(_SHADES) - 1)), 0, len(_SHADES) - 1).astype(int)
    return "<br>".join("".join(_SHADES[v] for v in row) for row in levels)


def map_figure(
    learned: LearnedMap,
    images: np.ndarray,
    star: np.ndarray | None = None,
    star_digit: int | None = None,
    language: str = DEFAULT_LANGUAGE,
) -> go.Figure:
    """The test digits as dots coloured by their true digit; the drawing as a star.

    `images` are the map's digits in [0, 1] (for the hover's picture).
    """
    figure = go.Figure()
    art = np.array([block_art(image) for image in images])
    for digit in range(10):
        chosen = learned.labels == digit
        wrong = learned.predictions[chosen] != digit
        hover = [
            translate("inside.map_hover", language, digit=digit, read=int(read), index=int(index))
            + ("  ✗" if miss else "")
            + "<br>"
            + picture
            for read, index, miss, picture in zip(
                learned.predictions[chosen],
                learned.indices[chosen],
                wrong,
                art[chosen],
                strict=True,
            )
        ]
        figure.add_trace(
            go.Scattergl(
                x=learned.points[chosen, 0],
                y=learned.points[chosen, 1],
                mode="markers",
                name=str(digit),
                text=hover,
                hovertemplate="%{text}<extra></extra>",
                marker={"color": RUN_COLORS[digit % len(RUN_COLORS)], "size": 6, "opacity": 0.75},
            )
        )
    if star is not None:
        figure.add_trace(
            go.Scatter(
                x=[star[0]],
                y=[star[1]],
                mode="markers+text",
                name=translate("inside.map_star", language),
                text=[str(star_digit)],
                textposition="top center",
                hoverinfo="name",
                marker={
                    "symbol": "star",
                    "size": 24,
                    "color": "#111827",
                    "line": {"color": "#ffffff", "width": 2},
                },
            )
        )
    if learned.method == "pca":
        share = [f"{100 * s:.0f}%" for s in learned.explained]
        titles = [translate("inside.map_axis", language, n=n, share=share[n - 1]) for n in (1, 2)]
    else:  # t-SNE's axes mean nothing by themselves: only who is near whom
        titles = [f"t-SNE {n}" for n in (1, 2)]
    figure.update_layout(
        title=translate(
            "inside.map_title", language, count=format_number(len(learned.points), 0, language)
        ),
        xaxis={"title": titles[0], "zeroline": False},
        yaxis={"title": titles[1], "zeroline": False},
        hoverlabel={"font": {"family": "DejaVu Sans Mono, Consolas, monospace"}},
        legend={"title": {"text": translate("inside.map_legend", language)}},
        height=520,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
    )
    return figure
