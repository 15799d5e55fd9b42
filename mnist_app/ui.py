"""The one Streamlit module of the engine: shared widgets for the pages."""

from __future__ import annotations

import streamlit as st

from mnist_app.i18n import DEFAULT_LANGUAGE, LANGUAGES, translate


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
