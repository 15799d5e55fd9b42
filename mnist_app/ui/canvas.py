"""The Draw page's canvas: streamlit-drawable-canvas, each stroke sent to the app at once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st
from streamlit_drawable_canvas import CanvasResult, st_canvas

from mnist_app.drawing.predict import Reading, read_prepared
from mnist_app.drawing.uploads import (
    MAX_CANVAS_BYTES,
    CanvasDrawing,
    ImageError,
    read_canvas_value,
)
from mnist_app.ui import t

if TYPE_CHECKING:
    from mnist_app.drawing.predict import Reader

FRONTEND = Path(__file__).parent.parent / "frontend"
_send_strokes = st.components.v2.component(
    "mnist_lab.send_strokes", js=(FRONTEND / "send_strokes.js").read_text(encoding="utf-8")
)


# One drawing's reading at a time in this server: its preprocessing, the network and the elements
# that show it (not the inside view, which can take seconds). A class drawing at once asks for
# dozens of readings a second; run side by side, their script threads took turns on Python's
# GIL every few ms and each ran longer (server CPU per stroke 21 -> 38 ms), until a burst of
# strokes snowballed. bench/class_load.py --students 60, p95 over separate runs: 84 ms to 2.3 s
# side by side (3 of 8 under 500 ms); in turn, 63 to 322 ms (5 of 5).
READING_TURN = threading.Semaphore(1)


def read_in_turn(
    reader: Reader, drawing: CanvasDrawing, scaling: str, show: Callable[[Reading], None]
) -> Reading | None:
    """The drawing read, and shown by `show`, in this server's turn for readings (above); None,
    with nothing shown, when it holds no ink."""
    with READING_TURN:
        reading = read_prepared(reader, drawing.prepared, scaling)
        if reading is not None:
            show(reading)
    return reading


def drawing_canvas(stroke: int, side: int, key: str) -> CanvasDrawing | None:
    """A black square to draw on in white; its image is sent as each stroke ends. What it sent,
    checked (`checked_drawing`); None until then, or if refused.

    The canvas alone sends a drawing 200 ms after the last stroke: call `send_strokes_at_once`
    once on the page, too.
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
    return checked_drawing(canvas, side)


def send_strokes_at_once(key: str) -> None:
    """Every canvas on the page sends its drawing the moment a stroke ends, not 200 ms later
    (send_strokes.js): bench/draw_latency.py, stroke → reading shown, p50 323 ms with that wait
    and 123 ms without. It listens on the whole page, so it sits outside the fragment a stroke
    reruns and is not sent again with every stroke; its (empty) element adds a gap: put it last.
    """
    _send_strokes(key=key)


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
