"""Runs: every stored run in a table; what can be done with one of them, or with a few."""

from pathlib import Path

import streamlit as st

from mnist_app.engine.status import ACTIVE, RunStatus
from mnist_app.experiments.comparison import (
    RUN_COLUMNS,
    RUNS_TABLE_NUMBERS,
    filter_runs,
    keep_selection,
    runs_table_rows,
    runs_table_style,
    status_text,
)
from mnist_app.experiments.sweeps import MAX_COMPARE
from mnist_app.runs.exports import history_csv
from mnist_app.runs.store import MAX_LABEL, MAX_NOTE, Run, RunInUseError, UnreadableRun
from mnist_app.text import escape_markdown
from mnist_app.ui import code_panel, continue_control, language, number_text, t, training_manager
from mnist_app.ui.access import if_theirs, may_change, show_refusal, visible
from mnist_app.ui.weights import weights_panel

TABLE = "runs_table"
SHOWN = "runs_shown_ids"  # the ids in the table as last drawn: its selection refers to them
FLASH = "runs_flash"  # a message from an action, shown on the next run of the page
manager = training_manager()
store = manager.store


# --- the table -------------------------------------------------------------------------------
def column_config() -> dict:
    """Translated headers, and the kind of each column; the numbers are written in the page's
    language by runs_table_style (a format here would take its place)."""
    headers = {name: t(f"runs.col.{name}") for name in RUN_COLUMNS}
    config = {name: st.column_config.TextColumn(header) for name, header in headers.items()}
    config |= {name: st.column_config.NumberColumn(headers[name]) for name in RUNS_TABLE_NUMBERS}
    config["when"] = st.column_config.DatetimeColumn(headers["when"], format="YYYY-MM-DD HH:mm")
    return config


def filters(runs: list[Run]) -> list[Run]:
    """Status, preset and text filters above the table; the runs they let through."""
    lang, anything = language(), t("runs.filter.any")  # format_funcs run outside the page too
    statuses = [s for s in RunStatus if s != RunStatus.PAUSED]  # the store never says paused
    presets = sorted({run.preset for run in runs if run.preset})
    left, middle, right = st.columns([2, 1, 2])
    chosen = left.multiselect(
        t("runs.filter.status"),
        statuses,
        format_func=lambda s: status_text(s, lang),
        key="runs_status",
        placeholder=anything,
    )
    preset = middle.selectbox(
        t("runs.filter.preset"),
        ["", *presets],
        key="runs_preset",
        format_func=lambda p: p or anything,
    )
    query = right.text_input(
        t("runs.filter.search"), key="runs_search", placeholder=t("runs.filter.search_hint")
    )
    return filter_runs(runs, chosen, preset or "", query)


def runs_table(shown: list[Run]) -> list[Run]:
    """The table, with row selection; the runs selected in it."""
    ids = [run.id for run in shown]
    previous = st.session_state.get(SHOWN)
    if previous is not None and previous != ids and TABLE in st.session_state:
        # Rows were added, deleted or filtered: keep the same runs selected, not the same rows.
        rows = st.session_state[TABLE]["selection"]["rows"]
        kept = keep_selection(previous, rows, ids)
        st.session_state[TABLE] = {"selection": {"rows": kept, "columns": [], "cells": []}}
    st.session_state[SHOWN] = ids
    event = st.dataframe(
        runs_table_style(runs_table_rows(shown, language()), language()),
        column_config=column_config(),
        column_order=RUN_COLUMNS,
        hide_index=True,
        on_select="rerun",
        selection_mode="multi-row",
        key=TABLE,
    )
    return [shown[i] for i in event.selection.rows if 0 <= i < len(shown)]


def unreadable_rows(rows: list[UnreadableRun]) -> None:
    with st.expander(t("runs.unreadable.title", count=number_text(len(rows)))):
        st.caption(t("runs.unreadable.help"))
        for row in rows:
            st.markdown(f"- `{row.id}`: {escape_markdown(row.reason)}")


# --- one run's actions ---------------------------------------------------------------------
def flash(kind: str, text: str) -> None:
    st.session_state[FLASH] = (kind, text)


def save_label(run_id: str) -> None:
    label, note = st.session_state[f"runs_label_{run_id}"], st.session_state[f"runs_note_{run_id}"]
    try:
        store.set_label(run_id, label, note)
    except ValueError:
        flash("error", t("runs.label.too_long", label=MAX_LABEL, note=MAX_NOTE))
        return
    flash("success", t("runs.label.saved"))


def ask_delete(run_id: str | None) -> None:
    """The first step of deleting (a run id), or a change of mind (None)."""
    st.session_state["runs_confirm"] = run_id


def delete_run(run_id: str) -> None:
    st.session_state.pop("runs_confirm", None)
    try:
        store.delete(run_id)
    except RunInUseError:
        flash("error", t("runs.delete.in_use"))
        return
    flash("success", t("runs.delete.done", run=run_id))


def model_file(run: Run) -> Path | None:
    return store.model_file(run.id)


def actions(run: Run) -> None:
    """What can be done with one selected run."""
    st.header(t("runs.selected", run=escape_markdown(run.label or run.id)))
    active = run.status in ACTIVE or manager.is_active(run.id)
    model = model_file(run)
    links = st.container(horizontal=True)
    links.page_link(
        "pages/train.py",
        label=t("runs.open"),
        icon=":material/show_chart:",
        query_params={"run": run.id},
    )
    if model is not None:
        links.page_link(
            "pages/draw.py",
            label=t("runs.draw"),
            icon=":material/draw:",
            query_params={"model": run.id},
        )
        links.download_button(
            t("runs.download.model"),
            data=model.read_bytes,
            file_name=f"mnist-{run.id}.keras",
            mime="application/octet-stream",
            on_click="ignore",
            icon=":material/download:",
            key=f"runs_download_model_{run.id}",
        )
    elif not active:
        links.caption(t("runs.no_model"))
    links.download_button(
        t("runs.download.history"),
        data=history_csv(run),
        file_name=f"mnist-{run.id}.csv",
        mime="text/csv",
        on_click="ignore",
        icon=":material/table_view:",
        key=f"runs_download_csv_{run.id}",
    )
    mine = may_change(run.student)
    show_refusal()
    if not mine:
        st.caption(t("access.not_yours_run"))
    label_form(run, mine)
    code_panel(run.config, f"runs_code_{run.id}", run.id)
    weights_panel(store, run, key=f"runs_weights_{run.id}")
    continue_control(manager, run, key=f"runs_continue_{run.id}")
    if mine:
        delete_controls(run, active)


def label_form(run: Run, mine: bool) -> None:
    with st.form(f"runs_label_form_{run.id}", border=False):
        st.text_input(
            t("runs.label"),
            value=run.label,
            max_chars=MAX_LABEL,
            key=f"runs_label_{run.id}",
            disabled=not mine,
        )
        st.text_area(
            t("runs.note"),
            value=run.note,
            max_chars=MAX_NOTE,
            height=90,
            key=f"runs_note_{run.id}",
            disabled=not mine,
        )
        st.form_submit_button(
            t("runs.label.save"),
            on_click=if_theirs,
            args=(run.student, save_label, run.id),
            disabled=not mine,
            key=f"runs_save_{run.id}",
            icon=":material/save:",
        )


def delete_controls(run: Run, active: bool) -> None:
    if st.session_state.get("runs_confirm") == run.id:
        st.warning(t("runs.delete.confirm", run=escape_markdown(run.label or run.id)))
        row = st.container(horizontal=True)
        row.button(
            t("runs.delete.yes"),
            key=f"runs_delete_yes_{run.id}",
            type="primary",
            on_click=if_theirs,
            args=(run.student, delete_run, run.id),
            icon=":material/delete_forever:",
        )
        row.button(
            t("runs.delete.cancel"),
            key=f"runs_delete_cancel_{run.id}",
            on_click=ask_delete,
            args=(None,),
        )
        return
    st.button(
        t("runs.delete.button"),
        key=f"runs_delete_{run.id}",
        disabled=active,
        on_click=ask_delete,
        args=(run.id,),
        icon=":material/delete:",
        help=t("runs.delete.training") if active else None,
    )
    if active:
        st.caption(t("runs.delete.training"))


# --- the page ------------------------------------------------------------------------------
st.title(t("nav.runs"))
if message := st.session_state.pop(FLASH, None):
    {"success": st.success, "error": st.error}[message[0]](message[1])
rows = visible(store, store.rows())  # on a class server, as the teacher's rules allow
runs = [row for row in rows if isinstance(row, Run)]
broken = [row for row in rows if isinstance(row, UnreadableRun)]
if not rows:
    st.info(t("runs.empty"))
    st.page_link("pages/train.py", label=t("runs.empty_link"), icon=":material/show_chart:")
    st.stop()
st.write(t("runs.intro"))
shown = filters(runs)
st.caption(t("runs.count", shown=number_text(len(shown)), total=number_text(len(runs))))
selected = runs_table(shown)
if broken:
    unreadable_rows(broken)
if len(selected) == 1:
    actions(selected[0])
elif 2 <= len(selected) <= MAX_COMPARE:
    st.page_link(
        "pages/compare.py",
        label=t("runs.compare", count=len(selected)),
        icon=":material/compare_arrows:",
        query_params={"runs": ",".join(run.id for run in selected)},
    )
elif len(selected) > MAX_COMPARE:
    st.warning(t("runs.too_many", most=MAX_COMPARE, count=len(selected)))
else:
    st.caption(t("runs.hint"))
