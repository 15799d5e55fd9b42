"""The inside view's switch (Draw page): off, it costs nothing; on, one of its four parts
(mnist_app/ui/inside_keras.py) for the image read."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import streamlit as st

from mnist_app.ui import t

if TYPE_CHECKING:
    from mnist_app.drawing.predict import Reader

VIEWS = ("layers", "saliency", "first", "map")


def inside_panel(
    reader: Reader,
    image: np.ndarray,
    probabilities: np.ndarray,
    scaling: str,
    key: str,
    live: bool = False,
) -> None:
    """A switch that opens the inside view, then one of its four parts at a time."""
    if not st.toggle(t("inside.toggle"), key=f"{key}_inside", help=t("inside.toggle_help")):
        return
    labels = {view: t(f"inside.view.{view}") for view in VIEWS}  # looked up now, in this run
    chosen = f"{key}_inside_chosen"  # outlives the control while the view is closed
    view = st.segmented_control(
        t("inside.view"),
        VIEWS,
        format_func=labels.get,
        default=st.session_state.get(chosen, VIEWS[0]),
        key=f"{key}_inside_view",
        on_change=_remember,
        args=(f"{key}_inside_view", chosen),
    )
    view = view or st.session_state.get(chosen, VIEWS[0])  # a click on the chosen one clears it
    from mnist_app.ui import inside_keras  # TensorFlow: loaded once the view is opened

    with st.container(key=f"{key}_inside_{view}"):
        inside_keras.show(view, reader, image, probabilities, scaling, key, live)


def _remember(widget: str, chosen: str) -> None:
    if st.session_state[widget] is not None:
        st.session_state[chosen] = st.session_state[widget]
