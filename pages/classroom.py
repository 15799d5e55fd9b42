"""Class digits: the teacher's view of the digits the class drew, and how the models read them."""

import datetime

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from mnist_app.drawing.class_scores import Standing, leaderboard
from mnist_app.drawing.classset import ClassDigit, ClassSet
from mnist_app.drawing.predict import ModelKind
from mnist_app.runs.store import StoreError
from mnist_app.text import escape_markdown
from mnist_app.ui import digit_gallery, percent_text, plotly_chart, t, training_manager
from mnist_app.ui.access import class_rules_panel, may_change, seen_model_choices, visitor

GALLERY_LIMIT = 120  # the newest drawings shown (and offered for removal) at once
LEADERBOARD_RUNS = 12  # newest finished runs scored: each costs a model load when the set changes
ALL = "all"
manager = training_manager()


def open_class_set() -> ClassSet:
    try:
        return ClassSet(manager.store.directory)
    except StoreError as error:
        st.error(t("classroom.store_error"))
        st.code(str(error), language=None)
        st.stop()


def counts_chart(counts: list[int]) -> None:
    st.header(t("classroom.counts"))
    figure = go.Figure(go.Bar(x=[str(d) for d in range(10)], y=counts, text=counts))
    figure.update_layout(
        xaxis={"title": t("classroom.counts.axis_digit"), "type": "category"},
        yaxis={"title": t("classroom.counts.axis_count")},
        height=280,
        margin={"t": 10, "b": 40, "l": 50, "r": 10},
    )
    plotly_chart(figure, "classroom_counts")
    st.caption(t("classroom.counts.total", n=sum(counts)))


def caption(entry: ClassDigit, markdown: bool = True) -> str:
    name = escape_markdown(entry.name) if markdown else entry.name
    key = "classroom.gallery.caption_named" if entry.name else "classroom.gallery.caption"
    return t(key, id=entry.id, digit=entry.digit, name=name)


def gallery(class_set: ClassSet, counts: list[int]) -> None:
    """The newest drawings, of one digit or all, with a way to remove bad ones."""
    st.header(t("classroom.gallery"))
    chosen = st.segmented_control(
        t("classroom.gallery.filter"),
        [ALL, *range(10)],
        default=ALL,
        key="classroom_filter",
        format_func=lambda d: t("classroom.gallery.all") if d == ALL else str(d),
    )
    digit = None if chosen in (None, ALL) else int(chosen)
    entries = class_set.entries(digit, limit=GALLERY_LIMIT)
    total = sum(counts) if digit is None else counts[digit]
    if total > len(entries):
        st.caption(t("classroom.gallery.more", shown=len(entries), total=total))
    digit_gallery(
        np.stack([e.image for e in entries]) if entries else np.zeros((0, 28, 28)),
        [caption(e) for e in entries],
        [t("alt.class_digit", caption=caption(e, markdown=False)) for e in entries],
    )
    # On a class server a student may remove only their own drawings; the teacher, any.
    labels = {e.id: caption(e, markdown=False) for e in entries if may_change(e.student)}
    st.multiselect(
        t("classroom.delete.pick"),
        list(labels),
        format_func=labels.get,
        key="classroom_delete_pick",
    )
    st.button(
        t("classroom.delete.button"),
        key="classroom_delete",
        icon=":material/delete:",
        on_click=delete_chosen,
        args=(class_set,),
        disabled=not st.session_state.get("classroom_delete_pick"),
    )


def delete_chosen(class_set: ClassSet) -> None:
    removed = class_set.delete(st.session_state.get("classroom_delete_pick", []), visitor())
    st.session_state["classroom_delete_pick"] = []
    st.session_state["classroom_removed"] = removed


def model_label(standing: Standing) -> str:
    choice = standing.choice
    if choice.kind is ModelKind.DEFAULT:
        return t("classroom.leaderboard.default")
    name = choice.preset or "custom"
    if choice.trained_on:
        return t(
            "classroom.leaderboard.run_class", run=choice.key, name=name, k=len(choice.trained_on)
        )
    return t("classroom.leaderboard.run", run=choice.key, name=name)


def percent_or_dash(fraction: float | None) -> str:
    return "–" if fraction is None else percent_text(fraction)


def gap_text(standing: Standing) -> str:
    mnist, own = standing.choice.accuracy, standing.class_accuracy
    if mnist is None or own is None:
        return "–"
    return ("+" if own >= mnist else "−") + percent_text(abs(own - mnist))


def leaderboard_table(class_set: ClassSet, total: int) -> None:
    st.header(t("classroom.leaderboard"))
    held = len(class_set.split().held_out)
    st.markdown(t("classroom.leaderboard.intro", held=held, total=total))
    saved = [c for c in seen_model_choices(manager) if c.path is not None]
    runs = [c for c in saved if c.kind is ModelKind.FINISHED]
    chosen = [c for c in saved if c.kind is ModelKind.DEFAULT] + runs[:LEADERBOARD_RUNS]
    if not chosen:
        st.info(t("classroom.leaderboard.no_models"))
        return
    if not held:
        st.info(t("classroom.leaderboard.empty"))
    if len(runs) > LEADERBOARD_RUNS:
        st.caption(
            t(
                "classroom.leaderboard.left_out",
                shown=LEADERBOARD_RUNS,
                left=len(runs) - LEADERBOARD_RUNS,
            )
        )
    with st.spinner(t("classroom.leaderboard.scoring")):
        board = leaderboard(class_set, chosen)
    problem = t("classroom.leaderboard.problem")
    rows = [
        {
            t("classroom.leaderboard.model"): model_label(s),
            t("classroom.leaderboard.mnist"): percent_or_dash(s.choice.accuracy),
            t("classroom.leaderboard.class"): problem
            if s.problem
            else percent_or_dash(s.class_accuracy),
            t("classroom.leaderboard.gap"): gap_text(s),
        }
        for s in board
    ]
    st.dataframe(rows, hide_index=True, key="classroom_leaderboard")


def export_button(class_set: ClassSet) -> None:
    st.download_button(
        t("classroom.export"),
        data=class_set.export_npz(),
        on_click="ignore",
        file_name=f"class-digits-{datetime.date.today():%Y-%m-%d}.npz",
        mime="application/octet-stream",
        icon=":material/download:",
        key="classroom_export",
        help=t("classroom.export.help"),
    )


st.title(t("nav.classroom"))
st.write(t("classroom.intro"))
class_rules_panel(manager.store)  # on a class server: the teacher's form, a student's summary
class_set = open_class_set()
if "classroom_removed" in st.session_state:
    st.success(t("classroom.delete.done", n=st.session_state.pop("classroom_removed")))
counts = class_set.counts()
if not sum(counts):
    st.info(t("classroom.empty"))
else:
    left, right = st.columns([1, 1])
    with left:
        counts_chart(counts)
        export_button(class_set)
    with right:
        gallery(class_set, counts)
leaderboard_table(class_set, total=sum(counts))
