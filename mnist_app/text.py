"""Putting values that came from outside (a URL, a file, the run store) into Markdown safely."""

from __future__ import annotations

import re

# CommonMark lets a backslash escape any ASCII punctuation, and then shows it as itself: no
# link, image, emphasis, HTML, Streamlit ":red[...]" colour or "$...$" formula can start.
_PUNCTUATION = re.compile(r"[!-/:-@\[-`{-~]")
# GitHub's bare links ("http://x.org", "www.x.org", "a@x.org") are found in the text after the
# escapes are undone (Streamlit 1.67 links an escaped "http\:\/\/x.org"); an invisible word
# joiner inside each trigger stops that.
_BARE_LINK_TRIGGERS = re.compile(r"(?<=:)(?=//)|(?<=www)(?=\.)|(?=@)", re.IGNORECASE)
WORD_JOINER = "\u2060"
_LINE_BREAKS = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")  # a value stays on one line


def escape_markdown(text: str) -> str:
    """`text` as Markdown that shows exactly these characters: no link, image, format or HTML."""
    text = _LINE_BREAKS.sub(" ", str(text))
    text = _BARE_LINK_TRIGGERS.sub(WORD_JOINER, text)
    return _PUNCTUATION.sub(r"\\\g<0>", text)
