"""The notebooks' figures beside this app's, as the pages write them: a lesson's table value by
value with its notes and the lines quoted, and report 002's per-epoch table and curve."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mnist_app.experiments.lessons import FLOOR, METRICS, Lesson, ValueResult
from mnist_app.figures.sweeps import shortened_text
from mnist_app.i18n import (
    decimal_mark,
    format_number,
    format_percent,
    has_text,
    setting_value_text,
    translate,
)

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from mnist_app.engine.records import EpochRecord
    from mnist_app.experiments.notebook_figures import ReportTable
    from mnist_app.experiments.sweeps import Sweep

REPORT_COLOR = "#2f9e44"  # the report's curve, apart from ours (blue) and validation (orange)
_SHORT = {"val_accuracy": "val", "test_accuracy": "test"}
# The caveats that set a figure of the notebook apart from ours, and the figure each concerns.
GAP_CAVEATS = {"unscaled_test": "test_accuracy", "relu_then_tanh": "val_accuracy"}


def where_setting(name: str, value: object, lang: str) -> tuple[str, str]:
    """A setting's name and a value as the page writes them: 'Learning rate', '0,001'."""
    return translate(f"field.{name}", lang), setting_value_text(name, value, lang)


def where(lesson: Lesson, value: object, lang: str) -> tuple[str, str]:
    """The lesson's setting and one of its values as the page writes them."""
    return where_setting(lesson.setting, value, lang)


def points_text(gap: float | None, lang: str) -> str:
    """A difference in percentage points, signed: '+0,4 pt', '−2,1 pt'; '–' if there is none."""
    if gap is None:
        return translate("notebook.pending", lang)
    sign = "+" if gap > 0 else "−" if gap < 0 else "±"
    return translate(
        "notebook.points", lang, sign=sign, points=format_number(abs(gap) * 100, 1, lang)
    )


def comparison_rows(lesson: Lesson, results: list[ValueResult], lang: str) -> list[dict]:
    """One row per value: the notebook's figure, ours and the difference, for validation and
    test ("printed nothing" where the notebook printed no figure for the value)."""
    rows = []
    for result in results:
        setting, value = where(lesson, result.value, lang)
        row = {setting: value}
        for metric in METRICS:
            short = _SHORT[metric]
            theirs, ours = result.notebook(metric), result.here[metric]
            if result.printed is None:
                said = translate("notebook.nothing", lang)
            elif theirs is None:
                said = translate("notebook.not_printed", lang)
            else:
                said = format_percent(theirs, 2, lang)
            row[translate(f"notebook.col.notebook_{short}", lang)] = said
            here = (
                translate("notebook.pending", lang)
                if ours is None
                else format_percent(ours, 2, lang)
            )
            row[translate(f"notebook.col.here_{short}", lang)] = here
            row[translate(f"notebook.col.gap_{short}", lang)] = points_text(
                result.gap(metric), lang
            )
        rows.append(row)
    return rows


def notes(lesson: Lesson, results: list[ValueResult], lang: str) -> list[str]:
    """What to know about the notebook's figures: each value's caveats, and where it printed
    nothing."""
    lines = []
    for result in results:
        setting, value = where(lesson, result.value, lang)
        if result.printed is None:
            lines.append(translate("notebook.nothing_note", lang, setting=setting, value=value))
            continue
        for caveat in result.printed.caveats:
            text = translate(f"notebook.caveat.{caveat}", lang)
            lines.append(translate("notebook.note", lang, setting=setting, value=value, text=text))
    return lines


def gap_explanation(
    lesson: Lesson, results: list[ValueResult], lang: str, differ: str | None = None
) -> tuple[str, list[str]]:
    """Where ours lands more than 1.5 points from the notebook's figure, and why: the lesson's
    own explanation, the caveats that set the figures apart, how these runs or the lesson train
    less (`differ`). ('', []) if nowhere."""
    beyond = [result for result in results if result.beyond_floor]
    if not beyond:
        return "", []
    values = ", ".join(" ".join(where(lesson, result.value, lang)) for result in beyond)
    reasons = [translate(key, lang)] if has_text(key := f"lesson.{lesson.slug}.gap", lang) else []
    for result in beyond:
        for caveat, metric in GAP_CAVEATS.items():
            gap = (
                result.gap(metric) if result.printed and caveat in result.printed.caveats else None
            )
            text = translate(f"notebook.caveat.{caveat}", lang)
            if gap is not None and abs(gap) > FLOOR and text not in reasons:
                reasons.append(text)
    reasons += [text for text in (differ, shortened_text(lesson, lang)) if text]
    if not reasons:
        reasons.append(translate("notebook.gap.chance", lang))
    return translate("notebook.gaps_title", lang, values=values), reasons


def quoted_lines(lesson: Lesson, results: list[ValueResult], lang: str) -> list[tuple[str, str]]:
    """(which value, the lines exactly as the notebook printed them) for every printed value."""
    return [
        (" ".join(where(lesson, r.value, lang)), "\n".join(r.printed.quotes))
        for r in results
        if r.printed is not None
    ]


def runs_differ_text(lesson: Lesson, sweep: Sweep, lang: str) -> str | None:
    """Said when a stored sweep of the lesson trained otherwise than the lesson does now (an
    older version of it, or `reproduce --lessons --limit`); None when they are the same."""
    expected = lesson.sweep().base
    if sweep.base == expected:
        return None
    changed = [
        " ".join(where_setting(name, getattr(sweep.base, name), lang))
        for name in sweep.base.to_dict()
        if getattr(sweep.base, name) != getattr(expected, name) and has_text(f"field.{name}", lang)
    ]
    return translate("notebook.shortened_runs", lang, changes=", ".join(changed) or "–")


# --- report 002 ------------------------------------------------------------------------------
def report_rows(table: ReportTable, history: list[EpochRecord], lang: str) -> list[dict]:
    """The report's per-epoch loss and accuracy as it printed them, ours beside them."""
    ours = {record.epoch: record for record in history}
    rows = []
    for epoch, loss, accuracy in table.epochs():
        mine = ours.get(epoch)
        here_loss = mine.loss if mine else None
        here_accuracy = mine.accuracy if mine else None
        rows.append(
            {
                translate("report.col.epoch", lang): str(epoch),
                translate("report.col.loss", lang): decimal_mark(f"{loss:.4f}", lang),
                translate("report.col.here_loss", lang): "–"
                if here_loss is None
                else decimal_mark(f"{here_loss:.4f}", lang),
                translate("report.col.accuracy", lang): decimal_mark(f"{accuracy:.4f}", lang),
                translate("report.col.here_accuracy", lang): "–"
                if here_accuracy is None
                else decimal_mark(f"{here_accuracy:.4f}", lang),
            }
        )
    return rows


def add_report_curve(figure: go.Figure, table: ReportTable, lang: str) -> go.Figure:
    """The report's per-epoch training accuracy on a run's accuracy chart, as a second curve."""
    epochs = table.epochs()
    figure.add_scatter(
        x=[epoch for epoch, _, _ in epochs],
        y=[accuracy for _, _, accuracy in epochs],
        name=translate("report.trace", lang),
        mode="lines+markers",
        line={"color": REPORT_COLOR, "width": 2, "dash": "dash"},
        marker={"size": 8, "color": REPORT_COLOR, "symbol": "diamond"},
    )
    return figure
