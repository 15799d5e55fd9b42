"""The user's language, and the words and numbers of the pages written in it: what every ui
module needs, and needs nothing else of the ui."""

from __future__ import annotations

import streamlit as st

from mnist_app.i18n import DEFAULT_LANGUAGE, LANGUAGES, format_number, format_percent, translate
from mnist_app.ui.keys import LANGUAGE


def language() -> str:
    """The language chosen in the sidebar (Spanish by default)."""
    lang = st.session_state.get(LANGUAGE) or st.query_params.get("lang") or DEFAULT_LANGUAGE
    return lang if lang in LANGUAGES else DEFAULT_LANGUAGE


def t(key: str, **values: object) -> str:
    """Translate a catalogue key into the user's language."""
    return translate(key, language(), **values)


def number_text(value: float, decimals: int = 0, lang: str | None = None) -> str:
    """A number with the thousands separator of the user's (or the given) language."""
    return format_number(value, decimals, lang or language())


def percent_text(fraction: float, decimals: int = 2) -> str:
    """A fraction as a percentage in the user's language: 97.92% or 97,92 %."""
    return format_percent(fraction, decimals, language())
