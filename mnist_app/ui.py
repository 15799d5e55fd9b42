"""The one Streamlit module of the engine: shared widgets for the pages."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import streamlit as st

from mnist_app.i18n import DEFAULT_LANGUAGE, LANGUAGES, format_number, translate

FRONTEND = Path(__file__).with_name("frontend")
REFRESH_SECONDS = 0.5  # how often the live view of a training run asks for news
_live_run_component = st.components.v2.component(
    "mnist_lab.live_run",
    html=(FRONTEND / "live_run.html").read_text(encoding="utf-8"),
    css=(FRONTEND / "live_run.css").read_text(encoding="utf-8"),
    js=(FRONTEND / "live_run.js").read_text(encoding="utf-8"),
)


def keep_keras_between_reruns() -> None:
    """Stop Streamlit from resetting Keras after every script run.

    Streamlit calls keras.backend.clear_session() after each run, fragment runs included (the
    Draw page rereads a drawing every few seconds while a run trains). That drops TensorFlow's
    kernel cache and runs a full gc.collect() while holding the GIL, so the training thread
    stalls: when the Train page still reran twice a second, an epoch took about 6x longer. Our
    models live in caches and jobs, not in the script, so there is nothing for it to clean.
    """
    from streamlit.runtime.scriptrunner import script_runner

    if hasattr(script_runner, "_clean_problem_modules"):
        script_runner._clean_problem_modules = _leave_modules_alone


def _leave_modules_alone() -> None:
    """Replaces Streamlit's after-run cleanup of Keras and pyplot (the app uses neither)."""


def route_through_app() -> None:
    """Make sure a page runs inside app.py's navigation, even when opened by a direct link.

    Until app.py has called st.navigation once, Streamlit treats a pages/ folder as an old-style
    multipage app: a fresh server asked for /train runs pages/train.py on its own, without the
    language switch or the Keras fix above. Switch that mode off and run again, through app.py.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


def language() -> str:
    """The language chosen in the sidebar (Spanish by default)."""
    lang = st.session_state.get("lang") or st.query_params.get("lang") or DEFAULT_LANGUAGE
    return lang if lang in LANGUAGES else DEFAULT_LANGUAGE


def t(key: str, **values: object) -> str:
    """Translate a catalogue key into the user's language."""
    return translate(key, language(), **values)


def language_switch() -> None:
    """The sidebar language picker; the choice also goes into the URL."""
    st.sidebar.selectbox(
        translate("language.label", language()),
        options=list(LANGUAGES),
        format_func=LANGUAGES.get,
        index=list(LANGUAGES).index(language()),
        key="lang",
    )
    st.query_params["lang"] = st.session_state["lang"]


def live_run(view: dict, key: str) -> None:
    """A run's progress bar and learning curves, kept up to date by the browser itself.

    `view` is `mnist_app.live.live_view(...)`. The component draws it on canvases, then fetches
    it again from the live API every REFRESH_SECONDS, and asks for one rerun when the run's
    phase changes (started, ended, moved up the queue). Rerunning a Streamlit fragment twice a
    second instead re-rendered the whole page in the browser: a tenth of a core taken from the
    training, per viewer.
    """
    base = st.get_option("server.baseUrlPath").strip("/")
    url = f"{'/' + base if base else ''}/api/runs/{view['run_id']}/live?lang={view['lang']}"
    data = {"view": view, "url": url, "refresh_ms": round(REFRESH_SECONDS * 1000)}
    _live_run_component(key=key, data=data, on_phase_change=lambda: None)


def log_steps(low: float, high: float, mantissas: tuple[float, ...] = (1, 2, 5)) -> list[float]:
    """Log-spaced slider stops from low to high: 1, 2, 5, 10, 20, 50... (or other mantissas)."""
    steps, decade = [], 10.0 ** math.floor(math.log10(low))
    while decade <= high:
        steps += [float(f"{m * decade:.6g}") for m in mantissas if low <= m * decade <= high]
        decade *= 10
    return steps


def number_text(value: float, decimals: int = 0, lang: str | None = None) -> str:
    """A number with the thousands separator of the user's (or the given) language."""
    return format_number(value, decimals, lang or language())


def percent_text(fraction: float, decimals: int = 2) -> str:
    """A fraction as a percentage in the user's language: 97.92% or 97,92 %."""
    text = number_text(fraction * 100, decimals)
    return f"{text} %" if language() == "es" else f"{text}%"


def digit_gallery(images: np.ndarray, captions: list[str], zoom: int = 4) -> None:
    """MNIST digits in a row that wraps, drawn with crisp big pixels, each with a caption."""
    if len(images):
        big = [np.kron(image, np.ones((zoom, zoom), dtype=image.dtype)) for image in images]
        st.image(big, caption=captions, width=28 * zoom)
