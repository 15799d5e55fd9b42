"""A run on the Train page: starting it, finding the run a tab follows, and steering it while it
trains (Pause or Continue, Stop, the live learning rate)."""

import streamlit as st

from mnist_app.engine.config import ConfigError, RunConfig
from mnist_app.engine.status import RunStatus
from mnist_app.runs.store import Run, UnreadableRunError
from mnist_app.text import escape_markdown
from mnist_app.ui import t, training_manager
from mnist_app.ui.access import if_theirs, may_change, may_start, show_refusal, visible, visitor
from mnist_app.ui.challenge import challenge_refused, enter_chosen
from mnist_app.ui.train_form import LEARNING_RATES, config_error_text, decimal_format


def start_run(config: RunConfig, preset: str | None) -> None:
    """Start a run of `config` for this visitor (within the class's limits and the challenge
    chosen, if any), and follow it on this page: in the session and in the URL."""
    manager = training_manager()
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
    manager = training_manager()
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
    manager = training_manager()
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
    manager = training_manager()
    if "train_live_lr" not in st.session_state:
        snap, run = manager.snapshot(run_id), manager.store.get(run_id)
        current = (snap and snap.learning_rate) or run.config.learning_rate
        st.session_state["train_live_lr"] = min(LEARNING_RATES, key=lambda v: abs(v - current))
    st.select_slider(
        t("train.live_lr"),
        options=LEARNING_RATES,
        format_func=decimal_format(),  # 0,001 on a Spanish page, as the form's slider writes it
        key="train_live_lr",
        on_change=lambda: if_theirs(
            manager.store.get(run_id).student,
            manager.set_learning_rate,
            run_id,
            st.session_state["train_live_lr"],
        ),
        help=t("help.live_lr"),
    )
