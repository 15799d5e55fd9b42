"""Robustness: models' test accuracy under noise, rotation, shift, scale, stroke thickness and
inversion, at increasing strengths; measured once per model file, then shown at once."""

import streamlit as st

from mnist_app.drawing.predict import ModelChoice, ModelFileError, ModelKind
from mnist_app.experiments.comparison import architecture_text
from mnist_app.figures.robustness import examples, robustness_figure, strength_text
from mnist_app.inspect.robustness import FAMILIES, Robustness, cached, measure_file
from mnist_app.text import escape_markdown, isolate
from mnist_app.ui import (
    digit_gallery,
    language,
    percent_text,
    plotly_chart,
    presenting,
    t,
    training_manager,
)
from mnist_app.ui.access import seen_model_choices

PICKED = "robustness_models"  # the multiselect's key
MOST = 10  # models on one chart: one colour each


def saved_models() -> dict[str, ModelChoice]:
    """The shipped model and every finished run with a model file (not a run still training:
    its weights change while it is measured)."""
    manager = training_manager()
    return {c.key: c for c in seen_model_choices(manager) if c.path is not None}


def long_name(choice: ModelChoice) -> str:
    accuracy = percent_text(choice.accuracy) if choice.accuracy is not None else "–"
    if choice.kind is ModelKind.DEFAULT:
        return t("robustness.model.default", accuracy=accuracy)
    return f"{short_name(choice)} · {accuracy}"


def short_name(choice: ModelChoice) -> str:
    """A model in the chart's legend: what it is, and the run's id."""
    if choice.kind is ModelKind.DEFAULT:
        return t("robustness.model.default_short")
    run = runs.get(choice.key)
    name = (run.label or run.preset or architecture_text(run.config)) if run else choice.key
    return f"{isolate(name)} · {choice.key[:6]}"  # a right-to-left label keeps the id after it


def measure_missing(choices: list[ModelChoice], results: dict) -> None:
    """Measure each chosen model not yet measured, a progress bar following the points."""
    home = training_manager().store.directory
    bar = st.progress(0.0)
    for choice in choices:
        show = progress_of(bar, short_name(choice))
        try:
            results[choice.key] = measure_file(home, choice.path, choice.scaling, on_point=show)
        except ModelFileError:
            st.error(t("robustness.failed", model=escape_markdown(short_name(choice))))
    bar.empty()


def progress_of(bar, name: str):
    """What the measure calls after each point: the bar moves and says where it is."""
    return lambda done, total: bar.progress(
        done / total,
        text=t("robustness.measuring", model=escape_markdown(name), done=done, total=total),
    )


def show_families() -> None:
    """What each family changes, with one digit at its six strengths."""
    st.header(t("robustness.families_title"))
    st.caption(t("robustness.examples"))
    for family in FAMILIES:
        left, right = st.columns([2, 3], vertical_alignment="center")
        left.markdown(
            f"**{t(f'robustness.family.{family.name}')}** · {t(f'robustness.about.{family.name}')}"
        )
        with right:
            strengths = [strength_text(s, language()) for s in family.strengths]
            name = t(f"robustness.family.{family.name}")
            digit_gallery(
                examples(family.name),
                strengths,
                [t("alt.robustness", family=name, strength=s) for s in strengths],
                zoom=3,
            )


# --- the page ------------------------------------------------------------------------------
st.title(t("nav.robustness"))
st.write(t("robustness.intro"))
choices = saved_models()
runs = {run.id: run for run in training_manager().store.list()}  # for the models' names
if not choices:
    st.info(t("robustness.no_models"))
    st.stop()
st.session_state.setdefault(PICKED, [next(iter(choices))])
st.session_state[PICKED] = [key for key in st.session_state[PICKED] if key in choices]
st.multiselect(
    t("robustness.pick"),
    list(choices),
    key=PICKED,
    max_selections=MOST,
    format_func=lambda key: long_name(choices[key]),
    placeholder=t("robustness.pick_hint"),
)
picked = [choices[key] for key in st.session_state[PICKED]]
home = training_manager().store.directory
# Whatever sample a model was measured on (the command line can take all 10,000): the chart says.
results: dict[str, Robustness | None] = {
    c.key: cached(home, c.path, c.scaling, sample=None) for c in picked
}
waiting = [choice for choice in picked if results[choice.key] is None]
if waiting:
    names = ", ".join(short_name(choice) for choice in waiting)
    st.caption(t("robustness.pending", models=escape_markdown(names)))
    if st.button(
        t("robustness.measure"), key="robustness_measure", type="primary", icon=":material/speed:"
    ):
        measure_missing(waiting, results)
shown = [(short_name(c), results[c.key]) for c in picked if results[c.key] is not None]
if shown:
    figure = robustness_figure(shown, language(), large=presenting())
    plotly_chart(figure, key="robustness_chart")
elif not picked:
    st.info(t("robustness.pick_some"))
st.header(t("robustness.lessons_title"))
st.markdown(t("robustness.lessons"))
show_families()
