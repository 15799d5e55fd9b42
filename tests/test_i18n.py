"""Both languages are complete, and no page shows a missing-key placeholder in either."""

import json
import re

import pytest
from apptest_text import open_page, page_text

from mnist_app.i18n import LANGUAGES, LOCALES_DIR, catalogue, format_duration, format_number

PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _areas() -> set[str]:
    return {path.name.split(".")[0] for path in LOCALES_DIR.glob("*.json")}


def test_every_area_file_has_the_same_keys_in_every_language():
    for area in sorted(_areas()):
        keys = {}
        for lang in LANGUAGES:
            path = LOCALES_DIR / f"{area}.{lang}.json"
            assert path.exists(), f"{path.name} is missing"
            keys[lang] = set(json.loads(path.read_text(encoding="utf-8")))
        first, *others = keys.values()
        for lang, other in keys.items():
            assert other == first, f"{area}.{lang}.json differs: {sorted(other ^ first)}"


def test_translations_are_filled_in_with_the_same_placeholders():
    english, spanish = catalogue("en"), catalogue("es")
    assert set(english) == set(spanish)
    for key, text in english.items():
        assert text.strip() and spanish[key].strip(), key
        assert set(PLACEHOLDER.findall(text)) == set(PLACEHOLDER.findall(spanish[key])), key


@pytest.mark.parametrize("lang", list(LANGUAGES))
@pytest.mark.parametrize(
    "page", ["pages/home.py", "pages/data.py", "pages/train.py", "pages/runs.py",
             "pages/compare.py", "pages/sweeps.py", "pages/classroom.py", "pages/challenge.py"],
)  # fmt: skip
def test_pages_render_without_missing_keys(page, lang):
    at = open_page(page, lang)
    text = page_text(at)
    assert "⟦" not in text, re.findall(r"⟦[^⟧]*⟧", text)
    titles = {"pages/home.py": "app.title", "pages/data.py": "nav.data",
              "pages/train.py": "nav.train", "pages/runs.py": "nav.runs",
              "pages/compare.py": "nav.compare", "pages/sweeps.py": "nav.sweeps",
              "pages/classroom.py": "nav.classroom",
              "pages/challenge.py": "nav.challenge"}  # fmt: skip
    assert at.title[0].value == catalogue(lang)[titles[page]]


def test_numbers_and_durations_are_written_the_language_s_way():
    assert format_number(60_000.5, 1, "en") == "60,000.5"
    assert format_number(60_000.5, 1, "es") == "60.000,5"
    assert format_number(0.25, 2, "es") == "0,25"
    assert format_duration(None) == "–"
    assert format_duration(59.6) == "1:00"
    assert format_duration(3 * 3600 + 62) == "3:01:02"
