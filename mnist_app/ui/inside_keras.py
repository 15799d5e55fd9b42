"""The inside view's four parts (Draw page): every layer's activations, where the network
looked, what its first layer looks for, and the map of what it learned, for one image.

They run the Keras model, so they need TensorFlow; mnist_app/ui/inside.py imports this module
only once the view is opened."""

from __future__ import annotations

from typing import TYPE_CHECKING

import keras
import numpy as np
import streamlit as st

from mnist_app.drawing.predict import keras_model
from mnist_app.engine.data import load_mnist
from mnist_app.figures.inside import (
    feature_maps,
    map_figure,
    saliency_images,
    units_figure,
    weight_images,
)
from mnist_app.inspect.inside import (
    activations,
    as_batch,
    first_layer,
    hidden_features,
    runners_up,
    saliency,
)
from mnist_app.inspect.learned_map import METHODS, cached_map, tsne_available
from mnist_app.ui import language, number_text, percent_text, plotly_chart, t

if TYPE_CHECKING:
    from mnist_app.drawing.predict import Reader

FIRST_UNITS = 32  # dense units drawn: those this image excites most
LIVE_MAP_SECONDS = 15  # a run still training: its map is made again at most this often


def show(
    view: str,
    reader: Reader,
    image: np.ndarray,
    probabilities: np.ndarray,
    scaling: str,
    key: str,
    live: bool,
) -> None:
    """One part of the inside view, for the model behind `reader`."""
    model = keras_model(reader)
    batch = as_batch(model, image, scaling)
    if view == "layers":
        layers_view(model, batch, key)
    elif view == "saliency":
        saliency_view(model, image, batch, probabilities, scaling, key)
    elif view == "first":
        first_layer_view(model, batch)
    elif view == "map":
        map_view(model, batch, scaling, int(np.argmax(probabilities)), live, key)


def layers_view(model: keras.Model, batch: np.ndarray, key: str) -> None:
    st.caption(t("inside.layers_intro"))
    shown = activations(model, batch)[:-1]  # the output layer is the probabilities chart
    for i, layer in enumerate(shown):
        if layer.is_maps:
            height, width, count = layer.values.shape
            st.markdown(
                t(
                    "inside.maps_title",
                    layer=layer.name,
                    type=layer.type,
                    count=count,
                    height=height,
                    width=width,
                )
            )
            maps = t("alt.maps", layer=layer.name, count=count)
            st.image(feature_maps(layer), clamp=True, alt=maps)
        else:
            plotly_chart(units_figure(layer, language()), key=f"{key}_units_{i}")
    if not shown:
        st.info(t("inside.no_hidden"))


def saliency_view(model, image, batch, probabilities, scaling: str, key: str) -> None:
    answer = int(np.argmax(probabilities))
    others = runners_up(probabilities)
    items = [t("inside.runner_up", digit=d, percent=percent_text(p, 1)) for d, p in others]
    st.markdown(t("inside.runners_up", items=", ".join(items)))
    digit = st.segmented_control(
        t("inside.why_digit"),
        [answer] + [d for d, _ in others],
        default=answer,
        key=f"{key}_saliency_digit",
    )
    digit = answer if digit is None else digit
    found = saliency(model, batch, digit, scaling)
    pictures = saliency_images(image, found)
    columns = st.columns(3)
    for column, name in zip(columns, ("digit", "attribution", "sensitivity"), strict=True):
        caption = t(f"inside.saliency.{name}", digit=digit)
        column.image(pictures[name], caption=caption, alt=caption)
    st.caption(
        t(
            "inside.saliency_note",
            digit=digit,
            score=number_text(found.score, 2),
            blank=number_text(found.blank_score, 2),
            total=number_text(float(found.attribution.sum()), 2),
        )
    )


def first_layer_view(model: keras.Model, batch: np.ndarray) -> None:
    first = first_layer(model)
    if first is None:
        st.info(t("inside.no_first_layer"))
        return
    images = first.images
    if first.type == "Dense":  # hundreds of units: the ones this image excites most
        strengths = activations(model, batch)[0].strengths
        order = np.argsort(-strengths, kind="stable")[:FIRST_UNITS]
        images = images[order]
        st.markdown(
            t("inside.first_dense", layer=first.name, shown=len(order), count=len(first.images))
        )
        st.image(
            weight_images(images),
            caption=t("inside.first_dense_caption", units=", ".join(str(u) for u in order[:8])),
            alt=t("alt.first_dense", layer=first.name, shown=len(order)),
        )
    else:
        side = images.shape[1]
        st.markdown(t("inside.first_conv", layer=first.name, count=len(images), side=side))
        caption = t("inside.first_conv_caption")
        st.image(weight_images(images, zoom=12), caption=caption, alt=caption)
    st.caption(t("inside.weights_colours"))


def map_view(model, batch, scaling: str, answer: int, live: bool, key: str) -> None:
    method = "pca"
    if tsne_available() and not live:  # t-SNE takes seconds: once per finished model
        labels = {name: t(f"inside.map_method.{name}") for name in METHODS}
        method = (
            st.segmented_control(
                t("inside.map_method"),
                METHODS,
                format_func=labels.get,
                default="pca",
                key=f"{key}_map_method",
                help=t("inside.map_method_help"),
            )
            or "pca"
        )
    with st.spinner(t(f"inside.map_making.{method}")):
        learned = cached_map(model, scaling, LIVE_MAP_SECONDS if live else None, method)
    star = learned.place(hidden_features(model, batch))[0]
    images = load_mnist()[2][learned.indices] / 255.0
    figure = map_figure(learned, images, star, answer, language())
    plotly_chart(figure, key=f"{key}_map")
    note = t(f"inside.map_note.{method}", count=number_text(len(learned.points)))
    st.caption(note + (" " + t("inside.map_live", seconds=LIVE_MAP_SECONDS) if live else ""))
