"""Compare: 2 to 10 runs side by side; the selection lives in the URL (?runs=a,b,c)."""

import streamlit as st

from mnist_app.experiments.comparison import (
    Selection,
    choice_label,
    highlight_columns,
    select_runs,
    settings_table,
)
from mnist_app.experiments.sweeps import MAX_COMPARE, differing_fields, run_name
from mnist_app.figures import charts
from mnist_app.text import escape_markdown
from mnist_app.ui import language, number_text, plotly_chart, t, training_manager
from mnist_app.ui.access import visible

PICKED = "compare_runs"  # the multiselect's key
SEEN_URL = "compare_url"  # the ?runs= value the multiselect was last set from
SHOWN_SKIPPED = 5  # ids named in a message about those skipped; the rest are counted
store = training_manager().store


def url_value() -> str:
    return st.query_params.get("runs", "")


def sync_from_url(options: list[str], named: list[str]) -> None:
    """A new ?runs= value (a link, a reload, the back button) sets the multiselect; opened
    from the navigation (no ?runs=), the page keeps this tab's last choice and puts it back
    into the URL."""
    if not url_value() and st.session_state.get(PICKED):
        push_to_url()
    elif st.session_state.get(SEEN_URL) != url_value() or PICKED not in st.session_state:
        st.session_state[PICKED] = [run_id for run_id in named if run_id in options]
        st.session_state[SEEN_URL] = url_value()


def push_to_url() -> None:
    """The multiselect changed: the URL follows, so a reload or a shared link shows the same."""
    value = ",".join(st.session_state[PICKED])
    if value:
        st.query_params["runs"] = value
    else:
        st.query_params.pop("runs", None)
    st.session_state[SEEN_URL] = value


def report_skipped(selection: Selection) -> None:
    """One message per reason, however many ids the address named (the first few shown)."""
    for reason, texts in selection.skipped_by_reason().items():
        shown = [escape_markdown(text[:40]) for text in texts[:SHOWN_SKIPPED]]
        if len(texts) == 1:
            st.warning(t(f"compare.skipped.{reason}", run=shown[0]))
        else:
            more = len(texts) > SHOWN_SKIPPED
            runs = ", ".join(shown) + (", …" if more else "")
            st.warning(
                t(f"compare.skipped_many.{reason}", count=number_text(len(texts)), runs=runs)
            )
    if selection.too_many:
        st.warning(t("compare.too_many", most=MAX_COMPARE))


def show_comparison(runs: list) -> None:
    lang = language()
    differing = differing_fields([run.config for run in runs])
    names = [run_name(run, differing, lang) for run in runs]
    if differing:
        st.caption(t("compare.differing", settings=", ".join(t(f"field.{n}") for n in differing)))
    else:
        st.caption(t("compare.same_settings"))
    st.caption(t("compare.chart.solid_dashed"))
    left, right = st.columns(2)
    with left:
        plotly_chart(charts.compare_curves_figure(runs, "loss", lang), "compare_loss")
    with right:
        plotly_chart(charts.compare_curves_figure(runs, "accuracy", lang), "compare_acc")
    st.header(t("compare.settings"))
    table, marked = settings_table(runs, names, lang)
    accuracy = t("compare.table.accuracy")
    st.dataframe(
        highlight_columns(table, marked, lang, percent=accuracy),
        hide_index=True,
        key="compare_table",
        column_config={accuracy: st.column_config.NumberColumn(accuracy)},
    )
    if marked:
        st.caption(t("compare.highlighted"))
    scored = [run for run in runs if run.test_accuracy is not None]
    if len(scored) >= 2:
        plotly_chart(charts.parallel_figure(runs, lang), "compare_parallel")
        if len(scored) < len(runs):
            st.caption(t("compare.unscored", count=len(runs) - len(scored)))
    else:
        st.info(t("compare.parallel_needs_scores"))


# --- the page ------------------------------------------------------------------------------
st.title(t("nav.compare"))
st.write(t("compare.intro"))
options = {run.id: run for run in visible(store, store.list())}  # as the class's rules allow
selection = select_runs(store, url_value(), lambda run: bool(visible(store, [run])))
options |= {run.id: run for run in selection.runs}  # named, seen, if past the list's newest
report_skipped(selection)
lang = language()
sync_from_url(list(options), [run.id for run in selection.runs])
st.multiselect(
    t("compare.pick"),
    list(options),
    key=PICKED,
    max_selections=MAX_COMPARE,
    format_func=lambda run_id: choice_label(options[run_id], lang),
    on_change=push_to_url,
    placeholder=t("compare.pick_hint"),
)
runs = [options[run_id] for run_id in st.session_state[PICKED] if run_id in options]
if len(runs) < 2:
    st.info(t("compare.need_two"))
    st.page_link("pages/runs.py", label=t("compare.runs_link"), icon=":material/table_rows:")
else:
    show_comparison(runs)
