"""Text that someone typed (a label, a note, a name, a URL value): cleaned once where it enters,
escaped for each place it is shown (Markdown, plotly's HTML labels, the terminal).

Cleaning alone is not enough: a row stored before the cleaning existed, or written by hand into
the database, reaches the renderers raw; so every renderer escapes as well.
"""

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
# Marks, embeddings, overrides and isolates that reorder the text around them: a label holding
# U+202E (right-to-left override) would show the run id and date after it backwards.
BIDI_CONTROLS = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_BIDI = re.compile(f"[{BIDI_CONTROLS}]")
# What never belongs in typed text: C0 and C1 controls (NUL, ESC, BEL...), DEL, bidi controls
# and lone surrogates. Whitespace among them (tab, newlines, U+2028/U+2029) is kept as a space.
_CONTROLS = re.compile(f"[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f{BIDI_CONTROLS}\ud800-\udfff]")
_NEWLINES = re.compile(r"\r\n?|[\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
FIRST_STRONG_ISOLATE, POP_DIRECTIONAL_ISOLATE = "\u2068", "\u2069"
# plotly.js reads a subset of HTML in every name, title, hover text and annotation (<a href>,
# <b>, <br>, <span style>...), fills hovertemplates' %{...}, and decodes entities after it has
# found the tags: so these as entities show as themselves. "$...$" would be LaTeX where
# MathJax is loaded (a figure saved as HTML).
_PLOTLY = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "%": "&#37;", "$": "&#36;"}
_PLOTLY_SPECIAL = re.compile("[&<>%$]")


def clean_user_text(text: str, lines: bool = False) -> str:
    """Typed text as it is stored: no control character or bidi control, and on one line with
    single spaces; or, with `lines` (a note), its lines kept, each with its spaces."""
    text = _NEWLINES.sub("\n", str(text))
    if not lines:
        return " ".join(_CONTROLS.sub("", text).split())
    kept = (_CONTROLS.sub("", line).replace("\t", " ").rstrip() for line in text.split("\n"))
    return "\n".join(kept).strip()


def isolate(text: str) -> str:
    """`text` as one piece in a line of other text: its bidi controls removed and the rest
    wrapped in first-strong isolate..pop isolate, so right-to-left text inside it cannot
    reorder what comes after it (an id, a date)."""
    return f"{FIRST_STRONG_ISOLATE}{_BIDI.sub('', str(text))}{POP_DIRECTIONAL_ISOLATE}"


def escape_plotly(text: str) -> str:
    """`text` for a plotly name, title, hover text or annotation: shown as these characters,
    never as a tag, a link, a hovertemplate field or a formula; on one line, no bidi control."""
    return _PLOTLY_SPECIAL.sub(lambda match: _PLOTLY[match.group()], _one_line(text))


def escape_terminal(text: str) -> str:
    """`text` for a line or a table cell on a terminal: every control character (ESC, BEL,
    NUL, line breaks...) and bidi control shown as a visible code, so none acts."""
    return _TERMINAL_CONTROLS.sub(_visible, str(text))


_TERMINAL_CONTROLS = re.compile(f"[\x00-\x1f\x7f-\x9f\u2028\u2029{BIDI_CONTROLS}]")


def _visible(match: re.Match) -> str:
    """A control character as what a reader can see: ␛ for ESC (Unicode's control pictures
    for C0 and DEL), \\u202e for the rest."""
    char = match.group()
    if char < " ":
        return chr(0x2400 + ord(char))
    return "\u2421" if char == "\x7f" else f"\\u{ord(char):04x}"


def escape_markdown(text: str) -> str:
    """`text` as Markdown that shows exactly these characters: no link, image, format or HTML."""
    text = _BARE_LINK_TRIGGERS.sub(WORD_JOINER, _one_line(text))
    return _PUNCTUATION.sub(r"\\\g<0>", text)


def _one_line(text: str) -> str:
    """`text` on one line (controls and line breaks as spaces), without bidi controls: what
    every renderer of a value inside a line of other text needs first."""
    return _BIDI.sub("", _LINE_BREAKS.sub(" ", str(text)))
