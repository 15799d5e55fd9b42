"""Train: pick a preset or set every hyperparameter, watch the network learn, inspect the result."""

import streamlit as st

from mnist_app.drawing.predict import ModelFileError, load_model
from mnist_app.engine.config import (
    PRESET_INFO,
    PRESETS,
    ConfigError,
    RunConfig,
    model_size,
)
from mnist_app.engine.evaluation import Evaluation, evaluate, images_at
from mnist_app.engine.progress import Snapshot
from mnist_app.engine.status import RunStatus
from mnist_app.experiments.coach import read_curves
from mnist_app.experiments.pitfalls import Mistake, explain, find_mistakes, without_mistakes
from mnist_app.experiments.sweeps import format_value
from mnist_app.figures import charts
from mnist_app.figures.live import live_view
from mnist_app.i18n import format_duration, has_text
from mnist_app.runs.continuation import CONTINUABLE
from mnist_app.runs.store import Run, UnreadableRunError
from mnist_app.text import escape_markdown
from mnist_app.ui import (
    coach_panel,
    code_panel,
    continue_control,
    digit_gallery,
    language,
    live_run,
    number_text,
    percent_text,
    plotly_chart,
    presenting,
    t,
    training_manager,
)
from mnist_app.ui.access import if_theirs, may_change, may_start, show_refusal, visible, visitor
from mnist_app.ui.challenge import challenge_picker, challenge_refused, enter_chosen
from mnist_app.ui.keys import TRAIN_PRESET, TRAIN_SETTINGS, SweepRequest, hand_off, train_field
from mnist_app.ui.notebook import accuracy_chart
from mnist_app.ui.train_form import (
    LEARNING_RATES,
    build_config,
    config_error_text,
    demo_widgets,
    fill_form,
    keep_setup_in_url,
    link_refusals,
    open_shared_setup,
    refusal_text,
    restore_settings,
    settings_widgets,
    share_link,
    show_summary,
    take_run_settings,
)
from mnist_app.ui.weights import weights_panel

manager = training_manager()


# --- the run -----------------------------------------------------------------------------
def start_run(config: RunConfig, preset: str | None) -> None:
    if not may_start(manager.store, [config]):  # a class's limits (shown by show_refusal)
        return
    if challenge_refused(manager.store):  # it closed meanwhile (shown by challenge_picker)
        return
    try:
        run_id = manager.submit(
            config,
            preset,
            settle=1.0,  # so the page shows it running
            student=visitor().owner,
        )
    except ConfigError as problem:  # the class set shrank since the form checked it
        st.error(config_error_text(problem))  # a callback's message: at the page's top
        return
    enter_chosen(manager.store, run_id)
    st.session_state["train_run"] = run_id
    st.session_state.pop("train_live_lr", None)
    st.query_params["run"] = run_id


def watched_run() -> Run | None:
    """The run this tab follows: from the URL (reload) or the session (back from another page)."""
    linked = st.query_params.get("run")
    run_id = linked or st.session_state.get("train_run")
    if not run_id:
        return None
    try:
        run = manager.store.get(run_id)
    except UnreadableRunError as error:
        st.error(t("train.unreadable", run=escape_markdown(error.run_id)))
        st.code(error.reason, language=None)
        return None
    if run is None or not visible(manager.store, [run]):  # hidden reads as unknown: no hint
        st.session_state.pop("train_run", None)
        if linked:  # the URL is anyone's: shown as text, cut short
            st.error(
                t("train.unknown", run=escape_markdown(linked[:40])), icon=":material/link_off:"
            )
        return None
    if st.session_state.get("train_run") != run_id:  # another run (continued on the Runs page)
        st.session_state.pop("train_live_lr", None)
    st.query_params["run"] = st.session_state["train_run"] = run_id
    return run


def live_controls(run: Run, status: RunStatus) -> None:
    """Pause or Continue, Stop, and a live learning-rate slider while the run trains; on a
    class server, for the student who started it and the teacher."""
    run_id, student = run.id, run.student
    controls = manager.controls(run_id)  # None: not a run this server steers (the CLI's)
    buttons = st.container(horizontal=True)
    mine = may_change(student)
    stopping = controls is None or controls.stopping or not mine
    if controls is not None and controls.paused:
        buttons.button(
            t("train.resume"),
            key="train_resume",
            on_click=if_theirs,
            args=(student, manager.resume, run_id),
            disabled=stopping,
            icon=":material/play_arrow:",
        )
    else:
        buttons.button(
            t("train.pause"),
            key="train_pause",
            on_click=if_theirs,
            args=(student, manager.pause, run_id),
            disabled=stopping,
            icon=":material/pause:",
            help=t("help.pause"),
        )
    buttons.button(
        t("train.stop"),
        key="train_stop",
        on_click=if_theirs,
        args=(student, manager.stop, run_id),
        disabled=stopping,
        type="primary",
        icon=":material/stop:",
    )
    show_refusal()
    if not mine:
        st.caption(t("access.not_yours_run"))
    elif controls is not None and status in (RunStatus.RUNNING, RunStatus.PAUSED):
        live_learning_rate(run_id)


def live_learning_rate(run_id: str) -> None:
    """A learning-rate slider that changes the rate of the running optimizer."""
    if "train_live_lr" not in st.session_state:
        snap, run = manager.snapshot(run_id), manager.store.get(run_id)
        current = (snap and snap.learning_rate) or run.config.learning_rate
        st.session_state["train_live_lr"] = min(LEARNING_RATES, key=lambda v: abs(v - current))
    st.select_slider(
        t("train.live_lr"),
        options=LEARNING_RATES,
        format_func="{:g}".format,
        key="train_live_lr",
        on_change=lambda: if_theirs(
            manager.store.get(run_id).student,
            manager.set_learning_rate,
            run_id,
            st.session_state["train_live_lr"],
        ),
        help=t("help.live_lr"),
    )


def curves(run: Run, snap: Snapshot) -> None:
    """Loss above accuracy, each the column's full width (as the live view draws them); a
    report preset's run has the report's own per-epoch accuracy and table with them."""
    plotly_chart(charts.curves_figure(snap, "loss", language()), key="train_loss_chart")
    accuracy_chart(run, snap, key="train_acc_chart")


# --- the result ------------------------------------------------------------------------------
@st.cache_data(max_entries=16, show_spinner=False)
def test_set_evaluation(path: str, scaling: str) -> Evaluation:
    """Confusion matrix, per-digit accuracy and mistakes of a saved model, computed once."""
    return evaluate(load_model(path), scaling)


def results(run: Run) -> None:
    """Everything a finished (or stopped) run produced, beside the notebook's figure."""
    status = run.status
    box = {RunStatus.FINISHED: st.success, RunStatus.STOPPED: st.info}.get(status, st.error)
    reason_key = f"status.{status}.{run.reason}"
    box(t(reason_key) if run.reason and has_text(reason_key) else t(f"status.{status}"))
    if status == RunStatus.FAILED:
        st.code(run.message, language=None)
    if mistakes := find_mistakes(run):
        mistakes_panel(run, mistakes)
    if run.test_accuracy is not None:
        preset = PRESET_INFO.get(run.preset or "")
        reported = preset.reported_accuracy if preset else None
        cols = [*st.columns(2), *st.columns(2)]
        cols[0].metric(t("result.test_accuracy"), percent_text(run.test_accuracy))
        cols[1].metric(t("result.test_loss"), number_text(run.test_loss, 4))
        cols[2].metric(
            t("result.reported"),
            percent_text(reported) if reported else "–",
            help=t("help.reported", preset=escape_markdown(run.preset or "–")),
        )
        cols[3].metric(
            t("result.time"),
            format_duration(run.train_seconds),
            help=t("result.precision", precision=run.precision or "–"),
        )
    if run.class_drawings:
        st.caption(class_digits_text(run), help=t("help.class_digits"))
    snap = manager.snapshot(run.id)
    curves(run, snap)
    coach(run, snap)
    with st.expander(t("train.run_code"), icon=":material/code:"):
        code_panel(run.config, "train_run_code", run.id)
    weights_panel(manager.store, run, key="train_weights")
    # An interrupted run has no final model, but its last checkpoint continues it.
    if status in CONTINUABLE and manager.store.model_file(run.id) is not None:
        continue_control(manager, run, key="train_continue")
    if run.model_path:
        model_file = manager.store.model_file(run.id)
        try:
            if model_file is None:
                raise ModelFileError("missing", run.id)
            evaluation = test_set_evaluation(str(model_file), run.config.scaling)
        except ModelFileError as error:
            st.error(t(f"draw.model_error.{error.reason}"))
            return
        show_evaluation(evaluation)
        st.page_link(
            "pages/draw.py",
            label=t("result.draw_link"),
            icon=":material/draw:",
            query_params={"model": run.id},
        )


def class_digits_text(run: Run) -> str:
    """'Trained with K class drawings ×N', and how many images that added to MNIST's."""
    k, n = len(run.class_drawings), run.config.class_digits
    images, mnist = number_text(k * n), number_text(run.config.train_size)
    return t("result.class_digits", k=number_text(k), n=n, images=images, mnist=mnist)


def coach(run: Run, snap: Snapshot) -> None:
    """The coach's reading of the curves, and the next experiment as a button."""
    advice = read_curves(run.config, snap.history, snap.batch_loss, snap.status, language())
    if advice is not None:
        coach_panel(advice, "train_coach", lambda suggestion: try_next(run.config, suggestion))


@st.fragment
def live_coach(run_id: str) -> None:
    """While a run trains: the coach reads its curves when asked (no rerun on its own)."""
    run = manager.store.get(run_id)
    if run is not None and st.toggle(t("coach.live"), key="train_live_coach"):
        coach(run, manager.snapshot(run_id))
        st.button(t("coach.again"), key="train_coach_again", icon=":material/refresh:")


def try_next(config: RunConfig, suggestion) -> None:
    """Put the suggested settings in the sliders; a suggested sweep opens the sweep form."""
    changed = config.replace(**suggestion.changes)
    for name, value in changed.to_dict().items():
        st.session_state[train_field(name)] = value
    st.session_state[TRAIN_PRESET] = ""
    st.session_state[TRAIN_SETTINGS] = changed.to_dict()  # the sweep form's base
    if suggestion.vary is not None:
        vary = suggestion.vary
        hand_off(SweepRequest(vary.field, tuple(format_value(v) for v in vary.values)))
        st.session_state["train_open_sweep"] = True  # a callback cannot switch pages


def mistakes_panel(run: Run, mistakes: list[Mistake]) -> None:
    """What went wrong, in plain words with the numbers that show it, and 'fix it'."""
    with st.container(border=True):
        st.header(t("mistake.title"))
        for mistake in mistakes:
            st.markdown(explain(mistake, language()))
        st.button(
            t("mistake.fix"),
            key="train_fix",
            on_click=fix_mistakes,
            args=(run, mistakes),
            type="primary",
            icon=":material/build:",
            help=t("mistake.fix_help"),
        )


def fix_mistakes(run: Run, mistakes: list[Mistake]) -> None:
    """Undo the mistakes: the fixed settings go into the sliders, and the fixed run starts."""
    fixed = without_mistakes(run.config, mistakes)
    preset = next((slug for slug, config in PRESETS.items() if config == fixed), None)
    fill_form(fixed, preset)
    start_run(fixed, preset)


def show_evaluation(evaluation: Evaluation) -> None:
    lang = language()  # the confusion matrix gets the column's full width: readable on a projector
    plotly_chart(charts.confusion_figure(evaluation.confusion, lang), key="train_confusion")
    plotly_chart(
        charts.per_class_figure(evaluation.per_class_accuracy, lang), key="train_per_class"
    )
    st.header(t("result.mistakes", count=number_text(len(evaluation.mistakes))))
    shown = evaluation.mistakes[:40]
    images, labels = images_at(shown)
    captions, alts = [], []
    for i, y in zip(shown, labels, strict=True):
        said = {"true": int(y), "predicted": int(evaluation.predicted[i])}
        confidence = percent_text(evaluation.confidence[i], 0)
        captions.append(t("result.mistake", **said, confidence=confidence))
        alts.append(t("alt.mistake", **said, confidence=confidence))
    digit_gallery(images, captions, alts)


def setup_panel(values: dict, active: bool, run: Run | None) -> None:
    """Beside the settings: what they build, their code, Start, Sweep and the share link."""
    has_run, config, ready = run is not None, None, False
    try:
        config = build_config(values)
        manager.store.class_drawings_for(config)  # with the class's digits: enough to split?
        ready = True
    except ConfigError as problem:
        st.error(config_error_text(problem))
    if config is not None and not presenting():  # on a projector: the settings and the run
        with st.expander(t("summary.title"), expanded=not has_run):
            show_summary(model_size(config))
        with st.expander(t("train.code"), icon=":material/code:"):
            code_panel(config, "train_code")
    preset = st.session_state[TRAIN_PRESET] or None
    query = keep_setup_in_url(config, preset) if config is not None else None
    if run is not None and config == run.config:
        st.caption(t("train.from_run", run=run.id), help=t("help.from_run"))
    if preset and config != PRESETS[preset]:
        st.caption(t("train.modified", preset=preset))
        preset = None
    challenge_picker(manager.store, config)
    actions = st.container(horizontal=True, vertical_alignment="center")
    actions.button(
        t("train.start"),
        key="train_start",
        type="primary",
        on_click=start_run,
        args=(config, preset),
        disabled=not ready or active,
    )
    # The Sweeps page starts from these settings (saved in the session by settings_widgets).
    actions.page_link(
        "pages/sweeps.py",
        label=t("train.sweep"),
        icon=":material/tune:",
        query_params={"new": "1"} | ({"preset": preset} if preset else {}),
        help=t("help.sweep"),
        disabled=config is None,
    )
    if query is not None and not presenting():
        with actions:
            share_link(query)
    show_refusal("start")  # a class's limit the last Start ran into


# --- the page ------------------------------------------------------------------------------
if st.session_state.pop("train_open_sweep", False):
    st.switch_page("pages/sweeps.py", query_params={"new": "1"})
st.title(t("nav.train"))
st.write(t("train.intro"))
open_shared_setup()
restore_settings()
run = watched_run()
if run is not None:
    take_run_settings(run.id, run.config, run.preset)
active = run is not None and manager.is_active(run.id)
if presenting():  # projector mode: the settings a demo moves, large, beside the run
    settings, outcome = st.columns([1, 2], gap="large")
    with settings:
        values = demo_widgets()
else:
    settings, outcome = st.columns([2, 3], gap="large")
    with settings:
        for refusal in link_refusals():
            st.warning(refusal_text(refusal), icon=":material/link_off:")
        values = settings_widgets()
with outcome:
    setup_panel(values, active, run)
    if run is not None:
        st.divider()
        if active:
            view = live_view(manager, run.id, language())
            if view.status == RunStatus.QUEUED:
                st.info(view.text)
            live_controls(run, view.status)
            live_run(view, key="train_live", store=manager.store)
            live_coach(run.id)
        else:
            results(run)
