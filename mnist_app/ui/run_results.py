"""What the Train page shows of a run's outcome: its curves, the coach, the test set's verdict
(confusion matrix, accuracy per digit, the mistakes) and, for a run that went wrong, what the
mistake was and a button that fixes it."""

import streamlit as st

from mnist_app.drawing.predict import ModelFileError, load_model
from mnist_app.engine.config import RunConfig
from mnist_app.engine.evaluation import Evaluation, evaluate, images_at
from mnist_app.engine.presets import PRESET_INFO, PRESETS
from mnist_app.engine.progress import Snapshot
from mnist_app.engine.status import RunStatus
from mnist_app.experiments.coach import read_curves
from mnist_app.experiments.pitfalls import Mistake, explain, find_mistakes, without_mistakes
from mnist_app.experiments.sweeps import format_value
from mnist_app.figures import charts
from mnist_app.i18n import format_duration, has_text
from mnist_app.runs.continuation import CONTINUABLE
from mnist_app.runs.store import Run
from mnist_app.text import escape_markdown
from mnist_app.ui import (
    coach_panel,
    code_panel,
    continue_control,
    digit_gallery,
    language,
    number_text,
    percent_text,
    plotly_chart,
    t,
    training_manager,
)
from mnist_app.ui.keys import TRAIN_PRESET, TRAIN_SETTINGS, SweepRequest, hand_off, train_field
from mnist_app.ui.notebook import accuracy_chart
from mnist_app.ui.train_form import fill_form
from mnist_app.ui.train_run import start_run
from mnist_app.ui.weights import weights_panel


def curves(run: Run, snap: Snapshot) -> None:
    """Loss above accuracy, each the column's full width (as the live view draws them); a
    report preset's run has the report's own per-epoch accuracy and table with them."""
    plotly_chart(charts.curves_figure(snap, "loss", language()), key="train_loss_chart")
    accuracy_chart(run, snap, key="train_acc_chart")


@st.cache_data(max_entries=16, show_spinner=False)
def test_set_evaluation(path: str, scaling: str) -> Evaluation:
    """Confusion matrix, per-digit accuracy and mistakes of a saved model, computed once."""
    return evaluate(load_model(path), scaling)


def results(run: Run) -> None:
    """Everything a finished (or stopped) run produced, beside the notebook's figure."""
    manager = training_manager()
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
    manager = training_manager()
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


def open_sweep_if_asked() -> None:
    """On the page's next run after the coach's sweep button: open the Sweeps page on the sweep
    (`try_next` left it a hand-off; a button's callback cannot switch pages)."""
    if st.session_state.pop("train_open_sweep", False):
        st.switch_page("pages/sweeps.py", query_params={"new": "1"})


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
