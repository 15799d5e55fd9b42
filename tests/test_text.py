"""One rule for what someone typed: cleaned where it enters, escaped for each place it is shown.

plotly's part is judged by plotly.js's own rules, read from the bundle Streamlit serves
(svg_text_utils: split on tags `(<[^<>]*>)`, then decode these entities in the text between
them; hovertemplates fill `%{...}` first): `plotly_shows` below follows them step by step.
"""

from __future__ import annotations

import re

import pytest

from mnist_app.engine.config import RunConfig
from mnist_app.runs.store import RunStore
from mnist_app.text import (
    FIRST_STRONG_ISOLATE,
    POP_DIRECTIONAL_ISOLATE,
    clean_user_text,
    escape_markdown,
    escape_plotly,
    escape_terminal,
    isolate,
)

# plotly.js (src/lib/svg_text_utils.js, as bundled in Streamlit 1.67's PlotlyChart chunk)
PLOTLY_TAG = re.compile(r"<[^<>]*>")
PLOTLY_ENTITY = re.compile(r"&(#\d+|#x[\da-fA-F]+|[a-z]+);")
PLOTLY_NAMED = {"mu": "μ", "amp": "&", "lt": "<", "gt": ">", "nbsp": "\xa0", "times": "×",
                "plusmn": "±", "deg": "°"}  # fmt: skip
PLOTLY_TEMPLATE_FIELD = re.compile(r"%{([^\s%{}:]*)([:|\|][^}]*)?}")


def _entity(match: re.Match) -> str:
    name = match.group(1)
    if name.startswith("#x"):
        return chr(int(name[2:], 16))
    if name.startswith("#"):
        return chr(int(name[1:]))
    return PLOTLY_NAMED.get(name, match.group())


def plotly_tags(text: str) -> list[str]:
    """The pieces of `text` plotly.js takes for tags (markup: <a>, <b>, <br>, <span>...)."""
    return PLOTLY_TAG.findall(text)


def plotly_shows(text: str) -> str:
    """What plotly.js shows for a name or title without tags: its entities decoded."""
    assert not plotly_tags(text), text
    return PLOTLY_ENTITY.sub(_entity, text)


ISSUE_LABEL = '<a href="https://e.vil/">lnk</a><b>B</b><span style="font-size:90px">BIG</span>'
HOSTILE_HTML = ISSUE_LABEL + " &lt;i&gt; 100% %{y} $x$ R&D"  # longer than a label may be
TERMINAL_ESCAPES = "\x1b]0;pwned\x07\x1b[31mred\x00"


def test_plotly_shows_a_label_of_html_as_these_characters():
    escaped = escape_plotly(HOSTILE_HTML)
    assert plotly_tags(escaped) == []
    assert PLOTLY_TEMPLATE_FIELD.search(escaped) is None  # not a hovertemplate field either
    assert "$" not in escaped  # nor a formula where MathJax is loaded
    assert plotly_shows(escaped) == HOSTILE_HTML  # nothing lost or changed
    assert escape_plotly("lr = 0.02, width = 128") == "lr = 0.02, width = 128"


def test_plotly_text_stays_on_one_line_without_bidi_controls():
    assert escape_plotly("a\nb\x1bc\u202ed") == "a b cd"


def test_a_label_is_cleaned_where_it_enters():
    assert clean_user_text(f"  my {TERMINAL_ESCAPES} run\u202e \u2066x\u2069 ") == (
        "my ]0;pwned[31mred run x"
    )
    assert clean_user_text("a\tb\r\nc\u2028d\x85e") == "a b c d e"
    assert clean_user_text("Ünïcödé 数字 🙂 عربي") == "Ünïcödé 数字 🙂 عربي"  # kept as typed
    assert clean_user_text('<b>x</b> [y](http://z) "q"') == '<b>x</b> [y](http://z) "q"'


def test_a_note_keeps_its_lines_and_loses_its_controls():
    note = "  first\x1b[2J line  \r\nsecond\u202e\tline\n\n\nlast\x00 "
    assert clean_user_text(note, lines=True) == "first[2J line\nsecond line\n\n\nlast"


def test_the_terminal_shows_every_control_character_and_obeys_none():
    shown = escape_terminal(f"old{TERMINAL_ESCAPES}\u202e\x9b\x7f")
    assert shown == "old␛]0;pwned␇␛[31mred␀\\u202e\\u009b␡"
    assert not re.search(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", shown)
    assert escape_terminal("[bold]lr = 0.02 ü[/bold]") == "[bold]lr = 0.02 ü[/bold]"


def test_isolate_keeps_a_right_to_left_label_from_turning_what_follows():
    assert (
        isolate("abc\u202eevil\u2066") == f"{FIRST_STRONG_ISOLATE}abcevil{POP_DIRECTIONAL_ISOLATE}"
    )
    assert isolate("عربي") == f"{FIRST_STRONG_ISOLATE}عربي{POP_DIRECTIONAL_ISOLATE}"


def test_markdown_drops_bidi_controls():
    assert escape_markdown("run\u202e 1") == "run 1"


@pytest.mark.parametrize("typed", [f"x{TERMINAL_ESCAPES}\u202e", "x" * 80])
def test_the_store_keeps_a_cleaned_label_and_note(lab_home, typed):
    store = RunStore(lab_home)
    run_id = store.create(RunConfig())
    store.set_label(run_id, typed, f"line one\x1b[31m\n{typed}")
    run = store.get(run_id)
    assert run.label == clean_user_text(typed) and len(run.label) <= 80
    assert run.note == f"line one[31m\n{clean_user_text(typed)}"


def test_a_label_too_long_after_cleaning_is_refused_and_the_old_one_kept(lab_home):
    store = RunStore(lab_home)
    run_id = store.create(RunConfig())
    store.set_label(run_id, "kept", "")
    with pytest.raises(ValueError, match="at most 80 characters"):
        store.set_label(run_id, "\x1b" + "x" * 81, "")
    assert store.get(run_id).label == "kept"
