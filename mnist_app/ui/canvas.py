"""The Draw page's canvas: streamlit-drawable-canvas, each stroke sent to the app at once."""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from streamlit_drawable_canvas import CanvasResult, st_canvas

from mnist_app.drawing.uploads import (
    MAX_CANVAS_BYTES,
    CanvasDrawing,
    ImageError,
    read_canvas_value,
)
from mnist_app.ui import t

FRONTEND = Path(__file__).parent.parent / "frontend"
_send_strokes = st.components.v2.component(
    "mnist_lab.send_strokes", js=(FRONTEND / "send_strokes.js").read_text(encoding="utf-8")
)


def drawing_canvas(stroke: int, side: int, key: str, hint: str) -> CanvasDrawing | None:
    """A black square to draw on in white, `hint` under it; its image is sent as each stroke ends.
    What it sent, checked (`checked_drawing`); None until then, or if refused.

    The canvas alone sends a drawing 200 ms after the last stroke: bench/draw_latency.py,
    stroke → reading shown, p50 323 ms with that wait and 123 ms without (send_strokes.js).
    """
    canvas = st_canvas(
        stroke_width=stroke,
        stroke_color="#FFFFFF",
        background_color="#000000",
        height=side,
        width=side,
        drawing_mode="freedraw",
        return_image_data=True,
        key=key,
    )
    st.caption(hint)
    _send_strokes(key=f"{key}_send_strokes")  # last: its (empty) element adds a gap
    return checked_drawing(canvas, side)


def checked_drawing(canvas: CanvasResult, side: int) -> CanvasDrawing | None:
    """The canvas's value checked before it is decoded (anyone can send the server any value,
    without a browser); a refused one is said in one plain line, and the page goes on without it.
    """
    # The data URL as it came: CanvasResult.image_data would decode it unchecked.
    try:
        return read_canvas_value(canvas._image_data_url, side)
    except ImageError as error:
        st.error(t(f"draw.canvas_error.{error.reason}", limit=MAX_CANVAS_BYTES // 2**20))
        return None
