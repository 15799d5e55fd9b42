"""Translation catalogues: every user-facing string, in Spanish and English."""

from __future__ import annotations

import functools
import json
from pathlib import Path

LANGUAGES = {"es": "Español", "en": "English"}
DEFAULT_LANGUAGE = "es"  # the course is taught in Spanish
LOCALES_DIR = Path(__file__).with_name("locales")


@functools.cache
def catalogue(language: str) -> dict[str, str]:
    """All strings of one language, merged from locales/<area>.<language>.json."""
    merged: dict[str, str] = {}
    for path in sorted(LOCALES_DIR.glob(f"*.{language}.json")):
        for key, text in json.loads(path.read_text(encoding="utf-8")).items():
            if key in merged:
                raise ValueError(f"{path.name}: key {key!r} is defined twice")
            merged[key] = text
    return merged


def has_text(key: str, language: str = DEFAULT_LANGUAGE) -> bool:
    """Whether the catalogue has a text for `key`."""
    return key in catalogue(language)


def missing_placeholder(key: str) -> str:
    """What a missing key renders as, so tests can spot it."""
    return f"⟦{key}⟧"


def translate(key: str, language: str = DEFAULT_LANGUAGE, **values: object) -> str:
    """The text for `key` in `language`, with {placeholders} filled in."""
    text = catalogue(language).get(key)
    if text is None:
        return missing_placeholder(key)
    return text.format(**values) if values else text


def format_number(value: float, decimals: int = 0, language: str = DEFAULT_LANGUAGE) -> str:
    """A number with the language's separators: 12,345.6 in English, 12.345,6 in Spanish."""
    text = f"{value:,.{decimals}f}"
    return text.translate(str.maketrans(",.", ".,")) if language == "es" else text


def decimal_mark(text: str, language: str = DEFAULT_LANGUAGE) -> str:
    """A number already written with a point (f"{x:g}", f"{x:.3g}") with the language's decimal
    mark instead: 0,25 in Spanish."""
    return text.replace(".", ",") if language == "es" else text


def plotly_separators(language: str = DEFAULT_LANGUAGE) -> str:
    """plotly's `separators` layout setting (its decimal mark, then its thousands mark), so a
    chart's axes and hover labels write numbers as format_number does: 0,5 and 12.345 in Spanish."""
    return ",." if language == "es" else ".,"


def format_percent(fraction: float, decimals: int = 2, language: str = DEFAULT_LANGUAGE) -> str:
    """A fraction as a percentage the language's way: 97.92% in English, 97,92 % in Spanish."""
    text = format_number(fraction * 100, decimals, language)
    return f"{text} %" if language == "es" else f"{text}%"


def format_duration(seconds: float | None) -> str:
    """Seconds as m:ss (or h:mm:ss), '–' when unknown."""
    if seconds is None:
        return "–"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def setting_value_text(name: str, value: object, lang: str) -> str:
    """A setting's value as a page in `lang` writes it: yes or no, the option's own name, 0,001
    and 60.000 in Spanish, 'whole set' for a limit of 0 (every training image), '–' for none."""
    if isinstance(value, bool):
        return translate("value.yes" if value else "value.no", lang)
    if name == "precision" and value == "auto":  # what `auto` chose depends on the machine
        return translate("value.automatic", lang)
    if has_text(key := f"choice.{name}.{value}", lang):
        return translate(key, lang)
    if name == "limit" and value == 0:
        return translate("train.whole_set", lang)
    if isinstance(value, float):
        return decimal_mark(f"{value:g}", lang)
    if isinstance(value, int):
        return format_number(value, 0, lang)
    return str(value) if value not in (None, "") else "–"
