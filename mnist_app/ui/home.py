"""The home page's parts: a first class in ten minutes, the course's lessons and pitfalls as
cards that start with one click, and the other places to go."""

from __future__ import annotations

import streamlit as st

from mnist_app.engine.presets import PITFALL_LIST, PRESETS
from mnist_app.experiments.lessons import LESSON_LIST, Lesson
from mnist_app.experiments.sweeps import estimate_seconds, estimate_sweep_seconds, start_sweep
from mnist_app.figures.sweeps import estimate_text
from mnist_app.runs.managers import RunManager
from mnist_app.ui import language, t
from mnist_app.ui.access import may_start, visitor

OPEN = "home_open"  # (page, query) a card's Start asked for: a callback cannot switch pages
FIRST_PRESET = "chollet-512"  # the course's first example: a first run that learns in a minute
CARD_COLUMNS = 3


def follow_started() -> None:
    """On to the page that follows what a card just started (its sweep, its run)."""
    if (target := st.session_state.pop(OPEN, None)) is not None:
        page, query = target
        st.switch_page(page, query_params=query)


def first_class() -> None:
    """Four steps a teacher can show in ten minutes, each a link to where it happens."""
    st.header(t("home.first.title"))
    st.caption(t("home.first.intro"))
    lang = language()
    train = estimate_text(estimate_seconds(PRESETS[FIRST_PRESET]), lang)
    lesson = estimate_text(estimate_sweep_seconds(LESSON_LIST[0].sweep()), lang)
    steps = [
        ("pages/data.py", {}, t("home.first.data"), ":material/grid_on:"),
        ("pages/train.py", {"preset": FIRST_PRESET},
         t("home.first.train", preset=FIRST_PRESET, estimate=train), ":material/show_chart:"),
        ("pages/draw.py", {}, t("home.first.draw"), ":material/draw:"),
        ("pages/sweeps.py", {},
         t("home.first.lesson", question=t(f"lesson.{LESSON_LIST[0].slug}.question"),
           estimate=lesson), ":material/tune:"),
    ]  # fmt: skip
    for number, (page, query, label, icon) in enumerate(steps, 1):
        st.page_link(page, label=f"{number}. {label}", icon=icon, query_params=query)


def lesson_cards(manager: RunManager) -> None:
    """Each exercise of the course's notebooks: its question, how long here, Start."""
    lang = language()
    cards = []
    for lesson in LESSON_LIST:
        estimate = estimate_text(estimate_sweep_seconds(lesson.sweep()), lang)
        about = [t("home.lesson.about", notebook=lesson.notebook, estimate=estimate)]
        question = t(f"lesson.{lesson.slug}.question")
        cards.append((lesson.slug, question, about, start_lesson, (manager, lesson)))
    card_section("lessons", cards)


def pitfall_cards(manager: RunManager) -> None:
    """The notebooks' mistakes, made on purpose: what goes wrong, how long, Start."""
    lang = language()
    cards = []
    for preset in PITFALL_LIST:
        estimate = estimate_text(estimate_seconds(preset.config), lang)
        about = [t(f"preset.{preset.slug}"), t("home.pitfall.about", estimate=estimate)]
        question = t(f"home.pitfall.{preset.slug}")
        cards.append((preset.slug, question, about, start_pitfall, (manager, preset.slug)))
    card_section("pitfalls", cards)


def card_section(name: str, cards: list[tuple]) -> None:
    """A section of cards, CARD_COLUMNS a row: each (slug, question, about, start, args) is the
    question in bold, what it is, and Start, which calls start(*args)."""
    st.header(t(f"home.{name}.title"))
    st.caption(t(f"home.{name}.intro"))
    columns = st.columns(CARD_COLUMNS)
    for i, (slug, question, about, start, args) in enumerate(cards):
        with columns[i % CARD_COLUMNS].container(border=True, key=f"home_card_{slug}"):
            st.markdown(f"**{question}**")
            for line in about:
                st.caption(line)
            st.button(
                t("home.start"),
                key=f"home_start_{slug}",
                on_click=start,
                args=args,
                icon=":material/play_arrow:",
            )


def places() -> None:
    """The pages a class comes back to, one sentence each."""
    st.header(t("home.places.title"))
    columns = st.columns(CARD_COLUMNS)
    for column, (page, name, icon) in zip(
        columns,
        [("pages/draw.py", "draw", ":material/draw:"),
         ("pages/data.py", "data", ":material/grid_on:"),
         ("pages/classroom.py", "classroom", ":material/groups:")],
        strict=True,
    ):  # fmt: skip
        with column.container(border=True):
            st.page_link(page, label=t(f"nav.{name}"), icon=icon)
            st.caption(t(f"home.places.{name}"))


def start_lesson(manager: RunManager, lesson: Lesson) -> None:
    """Queue the lesson's runs (the visitor's, within a class's limits) and follow them."""
    sweep = lesson.sweep()
    if may_start(manager.store, sweep.configs()):
        sweep_id = start_sweep(manager, sweep, student=visitor().owner)
        st.session_state[OPEN] = ("pages/sweeps.py", {"sweep": sweep_id})


def start_pitfall(manager: RunManager, slug: str) -> None:
    """Start the pitfall's run and follow it on the Train page, which explains the mistake."""
    config = PRESETS[slug]
    if may_start(manager.store, [config]):
        run_id = manager.submit(config, slug, settle=1.0, student=visitor().owner)
        st.session_state[OPEN] = ("pages/train.py", {"run": run_id})
