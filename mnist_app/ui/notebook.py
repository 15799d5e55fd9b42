"""The notebooks beside this app's runs on the pages: a lesson's figures value by value (Sweeps),
and report 002's per-epoch table beside a report preset's curve (Train)."""

from __future__ import annotations

import streamlit as st

from mnist_app.engine.progress import Snapshot
from mnist_app.experiments.lessons import Lesson, lesson_results
from mnist_app.experiments.notebook_figures import REPORT_TABLES
from mnist_app.experiments.sweeps import Sweep
from mnist_app.figures import charts
from mnist_app.figures import notebook as view
from mnist_app.runs.store import Run
from mnist_app.text import escape_markdown
from mnist_app.ui import plotly_chart
from mnist_app.ui.words import language, t


def lesson_table(lesson: Lesson, sweep: Sweep, runs: list[Run]) -> None:
    """What the notebook printed for each value, what these runs gave, the difference; its
    caveats, why a value lands more than 1.5 points away, and the lines it printed."""
    lang = language()
    results = lesson_results(lesson, runs)
    st.subheader(t("notebook.title", notebook=lesson.notebook))
    if differ := view.runs_differ_text(lesson, sweep, lang):
        st.caption(f":material/info: {escape_markdown(differ)}")
    st.table(view.comparison_rows(lesson, results, lang), hide_index=True)
    if notes := view.notes(lesson, results, lang):
        st.markdown(f"**{t('notebook.notes_title')}**")
        st.markdown("\n".join(f"- {escape_markdown(note)}" for note in notes))
    title, reasons = view.gap_explanation(lesson, results, lang, differ)
    if reasons:
        st.warning(
            "\n".join(
                [f"**{escape_markdown(title)}**", *(f"- {escape_markdown(r)}" for r in reasons)]
            )
        )
    with st.expander(t("notebook.quotes"), icon=":material/format_quote:"):
        for label, text in view.quoted_lines(lesson, results, lang):
            st.caption(escape_markdown(label))
            st.code(text, language=None, wrap_lines=True)


def accuracy_chart(run: Run, snap: Snapshot, key: str) -> None:
    """The run's accuracy curves; for a report preset, the report's own per-epoch accuracy on
    the same chart and its table (quoted) beside ours."""
    lang = language()
    figure = charts.curves_figure(snap, "accuracy", lang)
    table = REPORT_TABLES.get(run.preset or "")
    if table is None:
        plotly_chart(figure, key=key)
        return
    plotly_chart(view.add_report_curve(figure, table, lang), key=key)
    st.subheader(t("report.title", section=table.title))
    st.caption(t("report.caption", test=table.test_line.split("\t")[-1]))
    st.table(view.report_rows(table, snap.history, lang), hide_index=True)
