"""Home: a first class in ten minutes, and every lesson and pitfall one click from running."""

import re

import pytest
from apptest_text import open_page, page_text
from polling import stop_all

from mnist_app.engine.presets import PITFALL_LIST, PRESETS
from mnist_app.experiments.lessons import LESSON_LIST
from mnist_app.i18n import catalogue
from mnist_app.runs.managers import shared_manager

pytestmark = pytest.mark.usefixtures("prepared_server")  # runs start from this page


@pytest.mark.parametrize("lang", ["es", "en"])
def test_home_leads_a_first_class_and_offers_every_lesson_and_pitfall(lang):
    at = open_page("pages/home.py", lang)
    words, text = catalogue(lang), page_text(at)
    assert "⟦" not in text, re.findall(r"⟦[^⟧]*⟧", text)
    sections = [
        "home.first.title",
        "home.lessons.title",
        "home.pitfalls.title",
        "home.places.title",
    ]
    assert [header.value for header in at.header] == [words[key] for key in sections]
    steps = [link.proto for link in at.get("page_link")][:4]
    assert [step.label[:3] for step in steps] == ["1. ", "2. ", "3. ", "4. "]
    assert "preset=chollet-512" in steps[1].query_string  # the course's first network, set
    assert "≈" in steps[1].label and "≈" in steps[3].label  # how long, on this machine
    for lesson in LESSON_LIST:
        assert words[f"lesson.{lesson.slug}.question"] in text
        assert at.button(key=f"home_start_{lesson.slug}").label == words["home.start"]
    for pitfall in PITFALL_LIST:
        assert words[f"home.pitfall.{pitfall.slug}"] in text
        assert at.button(key=f"home_start_{pitfall.slug}").label == words["home.start"]


def test_a_lesson_starts_with_one_click_and_its_sweep_is_followed():
    manager = shared_manager()
    lesson = LESSON_LIST[0]
    at = open_page("pages/home.py", "en")
    at.button(key=f"home_start_{lesson.slug}").click().run()
    try:
        assert not at.exception
        runs = manager.store.sweep_runs(at.query_params["sweep"])
        assert [getattr(run.config, lesson.setting) for run in runs] == list(lesson.values)
        assert at.header[0].value == catalogue("en")[f"lesson.{lesson.slug}.question"]
    finally:
        stop_all(manager)


def test_a_pitfall_starts_with_one_click_and_the_train_page_follows_its_run():
    manager = shared_manager()
    slug = "pitfall-lr-too-high"
    at = open_page("pages/home.py", "es")
    at.button(key=f"home_start_{slug}").click().run()
    try:
        assert not at.exception
        run = manager.store.get(at.query_params["run"])
        assert run.preset == slug and run.config == PRESETS[slug]
        assert at.title[0].value == catalogue("es")["nav.train"]
        assert at.selectbox(key="train_preset").value == slug  # the form holds its settings
    finally:
        stop_all(manager)
