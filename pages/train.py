"""Train: pick a preset or set every hyperparameter, watch the network learn, inspect the result."""

import streamlit as st

from mnist_app.engine.config import ConfigError, model_size
from mnist_app.engine.presets import PRESETS
from mnist_app.engine.status import RunStatus
from mnist_app.figures.live import live_view
from mnist_app.runs.store import Run
from mnist_app.ui import code_panel, language, live_run, presenting, t, training_manager
from mnist_app.ui.access import show_refusal
from mnist_app.ui.challenge import challenge_picker
from mnist_app.ui.keys import TRAIN_PRESET
from mnist_app.ui.run_results import live_coach, open_sweep_if_asked, results
from mnist_app.ui.train_form import (
    build_config,
    config_error_text,
    demo_widgets,
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
from mnist_app.ui.train_run import live_controls, start_run, watched_run

manager = training_manager()


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
open_sweep_if_asked()
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
