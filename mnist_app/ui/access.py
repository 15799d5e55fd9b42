"""Who is looking, on a class server: the browser's owner id, the teacher's code, and the
class's rules as the pages apply them (the rules themselves are mnist_app.runs.owners)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TypeVar

import streamlit as st

from mnist_app.drawing.predict import ModelChoice, model_choices
from mnist_app.engine.config import RunConfig
from mnist_app.engine.presets import PRESETS
from mnist_app.runs import lockout
from mnist_app.runs.managers import RunManager
from mnist_app.runs.owners import (
    MOST_DRAWINGS,
    AccessError,
    ClassRules,
    Visitor,
    check_start,
    cost,
    owner_id,
    shared_server,
    teacher_code_set,
)
from mnist_app.runs.store import RunStore
from mnist_app.ui.words import number_text, t

T = TypeVar("T")
OWNER = "owner"  # the browser's owner id, as its component last reported it
TEACHER = "teacher_mode"  # True once this session gave the teacher's code
REFUSAL = "access_refusal_{}"  # what was just refused ("start" or "change"), shown where asked
COST_UNIT = 1e9  # the rules form gives the cost cap in thousand millions
FRONTEND = Path(__file__).parent.parent / "frontend"
_owner_id_component = st.components.v2.component(
    "mnist_lab.owner_id", js=(FRONTEND / "owner_id.js").read_text(encoding="utf-8")
)


def visitor_panel() -> None:
    """In the sidebar, on every page: the browser's owner id (kept in its localStorage by
    owner_id.js) and, on a class server, the teacher's way in and out."""
    with st.sidebar:
        _owner_id_component(
            key="owner_id",
            data={"owner": st.session_state.get(OWNER)},
            on_owner_change=_owner_reported,
        )
        if not shared_server():
            return
        if st.session_state.get(TEACHER):
            st.success(t("access.teacher_on"), icon=":material/school:")
            st.button(
                t("access.leave"),
                key="access_leave",
                on_click=_leave_teacher_mode,
                icon=":material/logout:",
            )
            return
        st.caption(t("access.shared"))
        with st.expander(t("access.teacher"), icon=":material/school:"):
            if not teacher_code_set():
                st.caption(t("access.no_code_set"))
                return
            with st.form("access_teacher_form", border=False):
                st.text_input(t("access.code"), type="password", key="access_code")
                st.form_submit_button(t("access.enter"), on_click=_enter_teacher_mode)
            if message := st.session_state.pop("access_wrong_code", None):
                st.error(message)


def _owner_reported() -> None:
    state = st.session_state.get("owner_id") or {}
    st.session_state[OWNER] = owner_id(state.get("owner"))


def _enter_teacher_mode() -> None:
    """The code goes through the server's one limiter (mnist_app.runs.lockout): a wrong one, or
    one typed while locked out, is refused with how long to wait; nothing sleeps here."""
    code = st.session_state.pop("access_code", "") or ""
    try:
        lockout.TEACHER_CODE.check(code, owner_id(st.session_state.get(OWNER)))
    except AccessError as error:
        message = access_text(error)
        if error.reason == "wrong_code" and error.values["seconds"]:
            message += " " + t("access.wait", seconds=error.values["seconds"])
        st.session_state["access_wrong_code"] = message
        return
    st.session_state[TEACHER] = True


def _leave_teacher_mode() -> None:
    st.session_state[TEACHER] = False


def visitor() -> Visitor:
    """Who this session is: its browser's owner id, and whether it gave the teacher's code."""
    return Visitor(owner_id(st.session_state.get(OWNER)), bool(st.session_state.get(TEACHER)))


def access_text(error: AccessError) -> str:
    """An AccessError in the user's language, its numbers written their way."""
    values = dict(error.values)
    for name in ("cost", "limit") if error.reason == "too_costly" else ():
        values[name] = number_text(values[name])
    if "times" in values:
        values["times"] = number_text(values["times"], 1)
    return t(f"access.{error.reason}", **values)


# --- what the pages check ----------------------------------------------------------------------
def refuse(error: AccessError, what: str = "change") -> None:
    """Keep a refusal (from a callback: of a "start" or a "change") for show_refusal to show
    where the page wants it."""
    st.session_state[REFUSAL.format(what)] = access_text(error)


def show_refusal(what: str = "change") -> None:
    if message := st.session_state.pop(REFUSAL.format(what), None):
        st.error(message, icon=":material/block:")


def may_start(store: RunStore, configs: Sequence[RunConfig]) -> bool:
    """Whether this visitor may queue these runs now; if not, the reason is kept (refuse)."""
    try:
        check_start(store, visitor(), configs)
    except AccessError as error:
        refuse(error, "start")
        return False
    return True


def may_change(student: str | None) -> bool:
    return visitor().may_change(student)


def if_theirs(student: str | None, action: Callable[..., object], *args: object) -> None:
    """A callback that runs `action(*args)` only for whoever may change what `student` owns.

    The pages disable what a visitor may not use, and this checks again on the server: a
    disabled button is only a hint to the browser.
    """
    try:
        visitor().check_change("it", student)
    except AccessError as error:
        refuse(error)
        return
    action(*args)


def visible(store: RunStore, items: Iterable[T]) -> list[T]:
    """Those runs (or anything with a `student`) this visitor may see, by the class's rules."""
    items = list(items)
    if visitor().manages_all():
        return items
    return store.class_rules().visible(visitor(), items)


def visible_sweeps(store: RunStore, sweep_ids: Iterable[str]) -> set[str]:
    """Those of these sweeps this visitor may see: a sweep is its runs' student's."""
    ids = list(sweep_ids)
    rules = None if visitor().manages_all() else store.class_rules()
    if rules is None or rules.everyone_sees_all:
        return set(ids)
    students = store.sweep_students(ids)  # a sweep with no runs: nobody's, so hidden
    return {i for i in ids if any(rules.may_see(visitor(), who) for who in students[i])}


def seen_model_choices(manager: RunManager) -> list[ModelChoice]:
    """predict.model_choices, of the runs this visitor may see."""
    return model_choices(manager.store, manager, lambda runs: visible(manager.store, runs))


# --- the teacher's rules -------------------------------------------------------------------------
def class_rules_panel(store: RunStore) -> None:
    """The class's rules: a form for the teacher, one line for a student; nothing on a laptop."""
    if not shared_server():
        return
    rules = store.class_rules()
    if not visitor().teacher:
        st.caption(rules_summary(rules))
        return
    st.header(t("access.rules"))
    st.write(t("access.rules.intro"))
    if st.session_state.pop("access_rules_saved", False):
        st.success(t("access.rules.saved"))
    with st.form("access_rules_form"):
        st.toggle(t("access.rules.sees_all"), value=rules.everyone_sees_all, key="rules_sees_all")
        st.number_input(
            t("access.rules.max_active"),
            min_value=0,
            max_value=1000,
            step=1,
            value=rules.max_active or 0,
            key="rules_max_active",
        )
        st.number_input(
            t("access.rules.max_cost"),
            min_value=0.0,
            max_value=1e6,
            step=10.0,
            value=(rules.max_cost or 0) / COST_UNIT,
            format="%g",
            key="rules_max_cost",
        )
        st.caption(t("access.rules.costs", costs=preset_costs()))
        st.number_input(
            t("access.rules.max_drawings"),
            min_value=1,
            max_value=MOST_DRAWINGS,
            value=rules.max_drawings,
            step=10,
            key="rules_max_drawings",
        )
        st.number_input(
            t("access.rules.max_class_drawings"),
            min_value=1,
            step=100,
            max_value=MOST_DRAWINGS,
            value=rules.max_class_drawings,
            key="rules_max_class_drawings",
        )
        st.form_submit_button(
            t("access.rules.save"), on_click=_save_rules, args=(store,), icon=":material/save:"
        )


def _save_rules(store: RunStore) -> None:
    if not visitor().teacher:  # the form is only drawn for the teacher; checked again here
        refuse(AccessError("not_yours", "only the teacher sets the class's rules"))
        return
    active, most = st.session_state["rules_max_active"], st.session_state["rules_max_cost"]
    store.set_class_rules(
        ClassRules(
            everyone_sees_all=bool(st.session_state["rules_sees_all"]),
            max_active=int(active) or None,
            max_cost=most * COST_UNIT if most > 0 else None,
            max_drawings=int(st.session_state["rules_max_drawings"]),
            max_class_drawings=int(st.session_state["rules_max_class_drawings"]),
        )
    )
    st.session_state["access_rules_saved"] = True


def preset_costs() -> str:
    shown = ("slides-sigmoid", "fast-cnn", "chollet-512", "lab-default", "report-v3")
    return ", ".join(f"{slug} {number_text(cost(PRESETS[slug]) / COST_UNIT)}" for slug in shown)


def rules_summary(rules: ClassRules) -> str:
    sees = t("access.rules.sees_yes" if rules.everyone_sees_all else "access.rules.sees_no")
    active = (
        t("access.rules.active", limit=rules.max_active)
        if rules.max_active
        else t("access.rules.active_none")
    )
    most = (
        t("access.rules.cost", limit=number_text(rules.max_cost / COST_UNIT))
        if rules.max_cost
        else t("access.rules.cost_none")
    )
    drawings = t(
        "access.rules.drawings",
        each=number_text(rules.max_drawings),
        all=number_text(rules.max_class_drawings),
    )
    return t("access.rules.summary", sees=sees, active=active, cost=most, drawings=drawings)
