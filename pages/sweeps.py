"""Sweeps: train several values of one setting (or a grid of two), watch them side by side,
and see which value won; the course notebooks' exercises as one-click lessons."""

import time

import streamlit as st

from mnist_app.engine.config import ConfigError, RunConfig
from mnist_app.engine.presets import PRESETS
from mnist_app.experiments.lessons import LESSON_LIST, LESSONS
from mnist_app.experiments.sweeps import (
    FIELDS,
    MAX_REPEATS,
    Sweep,
    estimate_sweep_seconds,
    format_value,
    load_sweep,
    make_vary,
    parse_value,
    start_sweep,
    suggest_values,
    sweep_points,
)
from mnist_app.figures import sweeps as view
from mnist_app.figures.live import RUN_ID
from mnist_app.i18n import setting_value_text, translate
from mnist_app.text import escape_markdown
from mnist_app.ui import language, live_run, plotly_chart, t, training_manager
from mnist_app.ui.access import may_change, may_start, show_refusal, visible_sweeps, visitor
from mnist_app.ui.keys import SWEEP_FIELD, SweepRequest, sweep_values, take
from mnist_app.ui.notebook import lesson_table
from mnist_app.ui.train_form import latest_settings

manager = training_manager()
lang = language()


def open_sweep(sweep: Sweep) -> None:
    """Queue the sweep's runs and follow it (the id goes in the URL, so a reload keeps it).
    On a class server, each of its runs counts towards the student's limits."""
    if may_start(manager.store, sweep.configs()):
        st.query_params["sweep"] = start_sweep(manager, sweep, student=visitor().owner)


def setting_name(name: str) -> str:
    """A setting's label (format_func: tests call it outside the run, so the language is fixed)."""
    return translate(f"field.{name}" if name else "sweep.form.no_second", lang)


# --- a new sweep ---------------------------------------------------------------------------
def open_requested_sweep() -> None:
    """Sent by the coach on the Train page: the form opens on its setting and values."""
    if (request := take(SweepRequest)) is not None:
        st.session_state[SWEEP_FIELD] = request.field
        st.session_state[sweep_values(request.field)] = list(request.values)


def base_settings(settings: dict | None) -> tuple[RunConfig, str | None]:
    """The Train page's settings (or its preset from the link, or the defaults after a reload)."""
    preset = st.query_params.get("preset")
    base = view.base_config(settings) if settings else PRESETS.get(preset, RunConfig())
    return base, preset if PRESETS.get(preset) == base else None


def value_picker(column, name: str, base: RunConfig, key: str) -> list:
    """The values to try: suggestions for the setting, or typed ones, parsed to its type."""
    options = [format_value(v) for v in suggest_values(name, base)]
    texts = column.multiselect(
        t("sweep.form.values"),
        options,
        default=view.starting_values(name, base),
        key=key,
        accept_new_options=True,
        help=t("sweep.help.values"),
        format_func=lambda text: setting_value_text(name, text, lang),
    )
    return make_vary(name, [parse_value(name, str(text)) for text in texts])


def sweep_form(settings: dict | None) -> None:
    try:
        base, preset = base_settings(settings)
    except ConfigError as error:
        st.error(view.error_text(error, lang))
        st.page_link("pages/train.py", label=t("sweep.form.fix_on_train"), icon=":material/tune:")
        return
    st.caption(t("sweep.form.base", preset=preset or t("train.custom")))
    st.page_link("pages/train.py", label=t("sweep.form.change_base"), icon=":material/tune:")
    left, right = st.columns(2)
    names = list(FIELDS)
    first = left.selectbox(
        t("sweep.form.setting"),
        names,
        index=names.index("learning_rate"),
        format_func=setting_name,
        key=SWEEP_FIELD,
    )
    second = right.selectbox(
        t("sweep.form.second"),
        ["", *names],
        format_func=setting_name,
        key="sweep_field2",
        help=t("sweep.help.second"),
    )
    repeats = st.slider(
        t("sweep.form.repeats"), 1, MAX_REPEATS, key="sweep_repeats", help=t("sweep.help.repeats")
    )
    sweep = None
    try:
        vary = [value_picker(left, first, base, sweep_values(first))]
        if second:
            vary.append(value_picker(right, second, base, f"sweep_values2_{second}"))
        sweep = Sweep(base, tuple(vary), repeats, preset)
        seconds = estimate_sweep_seconds(sweep)  # checks every run's config first
        manager.store.class_drawings_for(max(sweep.configs(), key=lambda c: c.class_digits))
    except ConfigError as error:
        sweep = None
        st.error(view.error_text(error, lang))
    else:
        runs = view.run_count(sweep)
        st.info(t("sweep.form.summary", runs=runs, estimate=view.estimate_text(seconds, lang)))
    st.button(
        t("sweep.form.start"),
        key="sweep_start",
        type="primary",
        on_click=open_sweep,
        args=(sweep,),
        disabled=sweep is None,
        icon=":material/play_arrow:",
    )


# --- one sweep -----------------------------------------------------------------------------
def show_sweep(sweep_id: str) -> bool:
    """The sweep in the URL, live or with its result; False if there is no such sweep."""
    sweep = load_sweep(manager, sweep_id) if RUN_ID.fullmatch(sweep_id) else None
    if sweep is None or not visible_sweeps(manager.store, [sweep_id]):  # a hidden one: unknown
        st.error(t("sweep.unknown", id=escape_markdown(sweep_id[:40])))
        return False
    lesson = LESSONS.get(sweep.lesson or "")
    st.header(t(f"lesson.{lesson.slug}.question") if lesson else view.sweep_title(sweep, lang))
    st.caption(view.sweep_title(sweep, lang) if lesson else "")
    runs = manager.store.sweep_runs(sweep_id)
    live = view.sweep_live_view(manager, sweep_id, sweep, lang)
    if live.active and all(may_change(run.student) for run in runs):
        st.button(
            t("sweep.stop_all"),
            key="sweep_stop_all",
            type="primary",
            icon=":material/stop:",
            on_click=stop_all,
            args=(runs,),
        )
    live_run(live, key="sweep_live", store=manager.store)
    if not live.active:
        results(sweep, runs, lesson)
    st.page_link("pages/sweeps.py", label=t("sweep.back"), icon=":material/arrow_back:")
    return True


def stop_all(runs) -> None:
    for run in runs:
        if may_change(run.student):  # the button is only drawn for them; checked again here
            manager.stop(run.id)


def results(sweep: Sweep, runs, lesson) -> None:
    """Accuracy against the value (or a heatmap), the answer in words, a link to every run."""
    points = sweep_points(sweep, runs)
    answer = view.answer_text(sweep, points, lang)
    if lesson:
        here, notebook = st.columns(2)
        here.markdown(f"**{t('sweep.answer.here')}**  \n{answer}")
        notebook.markdown(
            f"**{t('sweep.answer.notebook')}**  \n{t(f'lesson.{lesson.slug}.notebook')}"
        )
        lesson_table(lesson, sweep, runs)
    else:
        st.success(answer)
    figure = view.result_figure(sweep, points, lang, "accuracy")
    chosen = plotly_chart(figure, "sweep_result", on_select="rerun", selection_mode="points")
    for point in chosen.selection.points if chosen else []:  # a click on a point opens its run
        run_id = figure.data[point["curve_number"]].customdata[point["point_index"]]
        st.switch_page("pages/train.py", query_params={"run": run_id})
    if len(sweep.vary) == 1:
        plotly_chart(view.result_figure(sweep, points, lang, "time"), "sweep_time")
    st.header(t("sweep.runs_title"))
    for point in points:
        row = st.container(horizontal=True, vertical_alignment="center")
        where = ", ".join(
            f"{t(f'field.{f}')} {setting_value_text(f, v, lang)}"
            for f, v in zip(sweep.fields, point.values, strict=True)
        )
        score = "–" if point.mean_accuracy is None else view.percent(point.mean_accuracy, lang, 2)
        row.markdown(f"**{escape_markdown(where)}** · {score}")
        for i, run_id in enumerate(point.run_ids, start=1):
            row.page_link(
                "pages/train.py",
                label=t("sweep.run_link", n=i),
                query_params={"run": run_id},
                icon=":material/open_in_new:",
            )


# --- the landing: past sweeps and the lessons ----------------------------------------------
def past_sweeps() -> dict[str, str]:
    """A link to each stored sweep, newest first; the latest sweep id of each lesson."""
    stored = manager.store.sweeps()
    seen = visible_sweeps(manager.store, [sweep_id for sweep_id, _, _ in stored])
    stored = [sweep for sweep in stored if sweep[0] in seen]
    latest = {}
    st.header(t("sweep.past_title"))
    if not stored:
        st.caption(t("sweep.past_none"))
    for sweep_id, created, spec in stored:
        try:
            sweep = Sweep.from_dict(spec)
        except (ConfigError, KeyError, TypeError, ValueError):
            continue
        if sweep.lesson:
            latest.setdefault(sweep.lesson, sweep_id)
        title = t(f"lesson.{sweep.lesson}.question") if sweep.lesson in LESSONS else None
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(created))
        label = f"{when} · {title or view.sweep_title(sweep, lang)}"
        st.page_link(
            "pages/sweeps.py",
            label=label,
            query_params={"sweep": sweep_id},
            icon=":material/insights:",
        )
    return latest


def lesson_cards(latest: dict[str, str]) -> None:
    st.header(t("sweep.lessons_title"))
    st.caption(t("sweep.lessons_intro"))
    columns = st.columns(2)
    for i, lesson in enumerate(LESSON_LIST):
        sweep = lesson.sweep()
        with columns[i % 2].container(border=True):
            st.markdown(f"**{t(f'lesson.{lesson.slug}.question')}**")
            estimate = view.estimate_text(estimate_sweep_seconds(sweep), lang)
            st.caption(
                t(
                    "sweep.lesson.about",
                    varies=view.sweep_title(sweep, lang),
                    preset=lesson.preset,
                    notebook=lesson.notebook,
                    estimate=estimate,
                )
            )
            if shortened := view.shortened_text(lesson, lang):
                st.caption(f":material/info: {shortened}")
            buttons = st.container(horizontal=True)
            buttons.button(
                t("sweep.lesson.start"),
                key=f"lesson_{lesson.slug}",
                on_click=open_sweep,
                args=(sweep,),
                icon=":material/play_arrow:",
            )
            if lesson.slug in latest:
                buttons.page_link(
                    "pages/sweeps.py",
                    label=t("sweep.lesson.last"),
                    query_params={"sweep": latest[lesson.slug]},
                )


# --- the page ------------------------------------------------------------------------------
open_requested_sweep()
train_settings = latest_settings()  # read now: on a later run the Train form's widgets are gone
st.title(t("nav.sweeps"))
show_refusal("start")  # a class's limit the last sweep or lesson ran into
sweep_id = st.query_params.get("sweep")
if not sweep_id or not show_sweep(sweep_id):
    st.write(t("sweep.intro"))
    with st.expander(t("sweep.new_title"), expanded=bool(st.query_params.get("new"))):
        sweep_form(train_settings)
    lesson_cards(past_sweeps())
