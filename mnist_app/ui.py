"""The one Streamlit module of the engine: shared widgets for the pages."""

from __future__ import annotations

import math

import numpy as np
import streamlit as st

from mnist_app.i18n import DEFAULT_LANGUAGE, LANGUAGES, translate


def keep_keras_between_reruns() -> None:
    """Stop Streamlit from resetting Keras after every script run.

    Streamlit calls keras.backend.clear_session() after each run, fragment runs included (the
    live panel reruns twice a second). That drops TensorFlow's kernel cache and runs a full
    gc.collect() while holding the GIL, so the training thread stalls: with the Train page open
    an epoch took about 6x longer. Our models live in caches and jobs, not in the script, so
    there is nothing for it to clean.
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


def log_steps(low: float, high: float, mantissas: tuple[float, ...] = (1, 2, 5)) -> list[float]:
    """Log-spaced slider stops from low to high: 1, 2, 5, 10, 20, 50... (or other mantissas)."""
    steps, decade = [], 10.0 ** math.floor(math.log10(low))
    while decade <= high:
        steps += [float(f"{m * decade:.6g}") for m in mantissas if low <= m * decade <= high]
        decade *= 10
    return steps


def number_text(value: float, decimals: int = 0, lang: str | None = None) -> str:
    """A number with the thousands separator of the user's (or the given) language."""
    text = f"{value:,.{decimals}f}"
    return text.translate(str.maketrans(",.", ".,")) if (lang or language()) == "es" else text


def percent_text(fraction: float, decimals: int = 2) -> str:
    """A fraction as a percentage in the user's language: 97.92% or 97,92 %."""
    text = number_text(fraction * 100, decimals)
    return f"{text} %" if language() == "es" else f"{text}%"


def duration_text(seconds: float | None) -> str:
    """Seconds as m:ss (or h:mm:ss), '–' when unknown."""
    if seconds is None:
        return "–"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def digit_gallery(images: np.ndarray, captions: list[str], zoom: int = 4) -> None:
    """MNIST digits in a row that wraps, drawn with crisp big pixels, each with a caption."""
    if len(images):
        big = [np.kron(image, np.ones((zoom, zoom), dtype=image.dtype)) for image in images]
        st.image(big, caption=captions, width=28 * zoom)
