"""What the Sweeps page shows of a sweep: its live view (the same JSON as a run's), the result
figures and the sentences that read them out, in the user's language."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go

from mnist_app.engine.config import CHOICES, RANGES, ConfigError, RunConfig
from mnist_app.engine.records import LiveView
from mnist_app.engine.status import RunStatus
from mnist_app.experiments.sweeps import (
    FIELDS,
    MAX_REPEATS,
    Sweep,
    SweepPoint,
    best_point,
    format_value,
    setting_text,
    suggest_values,
    sweep_progress,
)
from mnist_app.figures.charts import (
    AXIS_TITLE_SIZE,
    CELL_TEXT_SIZE,
    TICK_SIZE,
    TITLE_SIZE,
    VALIDATION_COLOR,
    batch_positions,
    downsample,
    ema,
    four_digits,
    json_numbers,
)
from mnist_app.i18n import (
    format_duration,
    format_number,
    format_percent,
    has_text,
    setting_value_text,
    translate,
)

if TYPE_CHECKING:
    from mnist_app.experiments.lessons import Lesson
    from mnist_app.runs.managers import RunManager
    from mnist_app.runs.store import Run

# One colour per combination (Tableau 10): every repeat of a combination shares it.
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
BEST = VALIDATION_COLOR  # the best value, marked


# --- the live view -----------------------------------------------------------------------
def sweep_live_view(manager: RunManager, sweep_id: str, sweep: Sweep, lang: str) -> LiveView:
    """Every member's curves overlaid and one bar for the whole sweep, shaped like a run's view."""
    runs = manager.store.sweep_runs(sweep_id)
    progress = sweep_progress(manager, runs)
    snaps = {run.id: manager.snapshot(run.id) for run in runs}
    statuses = [s.status if s else RunStatus.FINISHED for s in snaps.values()]
    active = progress.ended < progress.runs
    if not active:
        status = RunStatus.FINISHED
    elif any(s in (RunStatus.RUNNING, RunStatus.PAUSED) for s in statuses):
        status = RunStatus.RUNNING
    else:
        status = RunStatus.QUEUED
    if active:
        text = translate(
            "sweep.live.progress",
            lang,
            done=progress.ended,
            runs=progress.runs,
            eta=format_duration(progress.eta_seconds),
        )
    else:
        text = translate("sweep.live.done", lang, runs=progress.runs)
    return LiveView(
        sweep_id=sweep_id,
        lang=lang,
        status=status,
        active=active,
        queue_position=progress.ended,  # a member that ends asks the page for one rerun
        progress=progress.fraction_done,
        text=text,
        charts=tuple(_overlay(sweep, runs, snaps, metric, lang) for metric in ("accuracy", "loss")),
    )


def member_name(sweep: Sweep, run: Run, lang: str) -> str:
    """What tells a member apart in a legend: its varied settings in `lang`, `tasa = 0,02`."""
    return ", ".join(setting_text(f, getattr(run.config, f), lang) for f in sweep.fields)


def _overlay(sweep: Sweep, runs: list[Run], snaps: dict, metric: str, lang: str) -> dict:
    """One chart: per member its smoothed per-batch training curve and, dotted, validation."""
    colours = {values: PALETTE[i % len(PALETTE)] for i, values in enumerate(sweep.combinations())}
    lines = []
    for run in runs:
        snap = snaps[run.id]
        colour = colours.get(tuple(getattr(run.config, f) for f in sweep.fields), PALETTE[0])
        name = member_name(sweep, run, lang)
        history = snap.history if snap else run.history
        epochs = [record.epoch for record in history]
        validation = [record.metric(f"val_{metric}") for record in history]
        if any(v is not None for v in validation):
            lines.append(_line(name, epochs, validation, colour, 2.0, dash=True, markers=True))
        batches = np.asarray(getattr(snap, f"batch_{metric}", []) if snap else [], float)
        if len(batches):
            keep = downsample(len(batches))
            x = batch_positions(snap, keep)
            lines.append(_line(name, x, ema(batches)[keep], colour, 2.5))
        else:  # a run from the store keeps its per-epoch figures only
            training = [record.metric(metric) for record in history]
            lines.append(_line(name, epochs, training, colour, 2.5, markers=True))
    title = "accuracy" if metric == "accuracy" else "loss"
    return {
        "title": translate(f"sweep.live.{title}", lang),
        "x_title": translate("chart.epochs", lang),
        "x_max": max((run.config.epochs for run in runs), default=1),
        "y_range": [0, 1] if metric == "accuracy" else None,
        "lines": lines,
    }


def _line(name, x, y, colour, width, dash=False, markers=False) -> dict:
    return {
        "name": name,
        "x": four_digits(x),
        "y": four_digits(json_numbers(y)),
        "color": colour,
        "width": width,
        "opacity": 1.0,
        "dash": dash,
        "markers": markers,
    }


# --- the result ----------------------------------------------------------------------------
def result_figure(sweep: Sweep, points: list[SweepPoint], lang: str, measure: str) -> go.Figure:
    """Test accuracy (or training time) against the value: mean, spread with repeats, best
    marked; a heatmap of the accuracy for a grid. Each point carries its runs' ids."""
    if len(sweep.vary) == 2:
        return _heatmap(sweep, points, lang)
    vary, best = sweep.vary[0], best_point(points)
    scored = [p for p in points if p.mean_accuracy is not None]
    x = [
        p.values[0] if vary.log_scale else setting_value_text(vary.field, p.values[0], lang)
        for p in scored
    ]
    if measure == "accuracy":
        y = [p.mean_accuracy for p in scored]
        spread = [p.spread for p in scored]
        y_axis = {"title": translate("result.test_accuracy", lang), "tickformat": ".1%"}
    else:
        y = [p.mean_seconds for p in scored]
        spread = [float(np.std(p.seconds, ddof=1)) if len(p.seconds) > 1 else 0 for p in scored]
        y_axis = {"title": translate("sweep.result.seconds", lang), "rangemode": "tozero"}
    colours = [BEST if p is best else PALETTE[0] for p in scored]
    figure = go.Figure(
        go.Scatter(
            x=x,
            y=y,
            mode="lines+markers",
            customdata=[p.run_ids[0] for p in scored],
            error_y={"type": "data", "array": spread, "visible": sweep.repeats > 1},
            marker={
                "size": [18 if p is best else 12 for p in scored],
                "color": colours,
                "symbol": ["star" if p is best else "circle" for p in scored],
            },
            line={"color": PALETTE[0], "width": 2},
            name=translate(f"sweep.result.{measure}", lang),
        )
    )
    if best is not None and measure == "accuracy":
        where = x[scored.index(best)]  # plotly places annotations on a log axis by log10
        figure.add_annotation(
            x=math.log10(where) if vary.log_scale else where,
            y=best.mean_accuracy,
            showarrow=True,
            arrowhead=2,
            ay=-40,
            text=translate("sweep.result.best", lang),
            font={"size": TICK_SIZE, "color": BEST},
        )
    x_axis = {"title": translate(f"field.{vary.field}", lang)}
    if vary.log_scale:  # ticks at the values tried, written as typed: 0.0003, 0.003, 0.03
        x_axis |= {"type": "log", "tickvals": x, "ticktext": [format_value(v) for v in x]}
    else:
        x_axis |= {"type": "category"}
    return _style(figure, translate(f"sweep.result.{measure}_title", lang), x_axis, y_axis)


def _heatmap(sweep: Sweep, points: list[SweepPoint], lang: str) -> go.Figure:
    rows, cols = sweep.vary
    grid = {p.values: p for p in points}
    z = [[grid[(r, c)].mean_accuracy for c in cols.values] for r in rows.values]
    text = [["–" if v is None else f"{v:.1%}" for v in row] for row in z]
    ids = [[(grid[(r, c)].run_ids or ("",))[0] for c in cols.values] for r in rows.values]
    figure = go.Figure(
        go.Heatmap(
            z=z,
            text=text,
            texttemplate="%{text}",
            customdata=ids,
            colorscale="Blues",
            x=[setting_value_text(cols.field, v, lang) for v in cols.values],
            y=[setting_value_text(rows.field, v, lang) for v in rows.values],
            textfont={"size": CELL_TEXT_SIZE},
            xgap=2,
            ygap=2,
            colorbar={"tickformat": ".0%"},
        )
    )
    best = best_point(points)
    if best is not None:
        figure.add_scatter(
            x=[setting_value_text(cols.field, best.values[1], lang)],
            y=[setting_value_text(rows.field, best.values[0], lang)],
            mode="markers",
            marker={"symbol": "star-open", "size": 34, "color": BEST, "line": {"width": 3}},
            name=translate("sweep.result.best", lang),
            customdata=[best.run_ids[0]],
        )
    return _style(
        figure,
        translate("sweep.result.accuracy_title", lang),
        {"title": translate(f"field.{cols.field}", lang), "type": "category"},
        {"title": translate(f"field.{rows.field}", lang), "type": "category"},
    )


def _style(figure: go.Figure, title: str, x_axis: dict, y_axis: dict) -> go.Figure:
    """Big fonts for a projector, the title clear of the plot."""
    for axis in (x_axis, y_axis):
        axis["title"] = {"text": axis["title"], "font": {"size": AXIS_TITLE_SIZE}}
        axis["tickfont"] = {"size": TICK_SIZE}
    figure.update_layout(
        title={"text": title, "font": {"size": TITLE_SIZE}, "x": 0, "xref": "paper"},
        xaxis=x_axis,
        yaxis=y_axis,
        height=440,
        showlegend=False,
        margin={"l": 10, "r": 10, "t": 70, "b": 10},
    )
    return figure


def answer_text(sweep: Sweep, points: list[SweepPoint], lang: str) -> str:
    """What these runs say, in words: the best value and every value's accuracy."""
    best = best_point(points)
    if best is None:
        return translate("sweep.answer.none", lang)
    names = [translate(f"field.{f}", lang) for f in sweep.fields]

    def where(point: SweepPoint) -> str:
        return ", ".join(
            f"{n} {setting_value_text(f, v, lang)}"
            for n, f, v in zip(names, sweep.fields, point.values, strict=True)
        )

    others = [
        f"{where(p)}: {percent(p.mean_accuracy, lang)}"
        for p in points
        if p.mean_accuracy is not None
    ]
    return translate(
        "sweep.answer.best",
        lang,
        where=where(best),
        accuracy=percent(best.mean_accuracy, lang),
        all="; ".join(others),
    )


def percent(fraction: float, lang: str, decimals: int = 1) -> str:
    return format_percent(fraction, decimals, lang)


# --- the form and the lessons -------------------------------------------------------------
def base_config(settings: dict) -> RunConfig:
    """The Train page's saved widget values as a config (batch 0 = every training image)."""
    known = {k: v for k, v in settings.items() if k in FIELDS}
    config = RunConfig(**(known | {"batch_size": 1}))
    return config.replace(batch_size=known.get("batch_size") or config.train_size)


def starting_values(field: str, base: RunConfig) -> list[str]:
    """The values a new sweep of `field` starts with: three around the base where it can."""
    options = [format_value(v) for v in suggest_values(field, base)]
    current = format_value(getattr(base, field))
    if field in CHOICES or len(options) <= 3 or current not in options:
        return options[:3]
    i = options.index(current)
    step = 2 if FIELDS[field] == "float" else 1  # 0.0001, 0.001, 0.01: a decade apart
    picked = [options[j] for j in (i - step, i, i + step) if 0 <= j < len(options)]
    return picked if len(picked) == 3 else options[:3]


def estimate_text(seconds: float, lang: str) -> str:
    """'≈ 40 s', '≈ 3 min', '≈ 1 h 10 min'."""
    if seconds < 60:
        return translate("sweep.estimate.seconds", lang, n=max(10, int(round(seconds, -1))))
    minutes = round(seconds / 60)
    if minutes < 60:
        return translate("sweep.estimate.minutes", lang, n=minutes)
    return translate("sweep.estimate.hours", lang, h=minutes // 60, m=minutes % 60)


def error_text(error: ConfigError, lang: str) -> str:
    """A sweep that cannot start, explained in the user's language, naming the setting."""
    field = error.field
    setting = translate(f"field.{field}", lang) if has_text(f"field.{field}", lang) else field
    values = {
        k: format_number(v, 0, lang) if isinstance(v, int) else v for k, v in error.values.items()
    }
    if error.reason == "bad_value":
        kind = "choice" if field in CHOICES else FIELDS.get(field, "str")
        options = ", ".join(CHOICES.get(field, ()))
        hint = translate(f"sweep.invalid.bad_{kind}", lang, options=options, **values)
    elif has_text(f"sweep.invalid.{error.reason}", lang):
        hint = translate(f"sweep.invalid.{error.reason}", lang, **values)
    elif error.reason and has_text(f"invalid.{error.reason}", lang):
        hint = translate(f"invalid.{error.reason}", lang, **values)
    elif field in ("repeats", "vary"):
        hint = translate(f"sweep.invalid.{field}", lang, max=MAX_REPEATS)
    elif field in RANGES:
        low, high = RANGES[field]
        hint = translate(
            "sweep.invalid.range", lang, low=format_value(low), high=format_value(high)
        )
    else:
        hint = translate("invalid.generic", lang)
    return translate("sweep.invalid.message", lang, setting=setting, hint=hint)


def shortened_text(lesson: Lesson, lang: str) -> str | None:
    """How a lesson trains less than its notebook, or None if it does not."""
    if not lesson.shortened:
        return None
    notebook, here = lesson.notebook_base, lesson.sweep().base
    if here.train_size != notebook.train_size:
        return translate(
            "sweep.lesson.fewer_images",
            lang,
            here=format_number(here.train_size, 0, lang),
            notebook=format_number(notebook.train_size, 0, lang),
        )
    changed = [f for f in FIELDS if getattr(here, f) != getattr(notebook, f)]
    parts = [f"{translate(f'field.{f}', lang)} {format_value(getattr(here, f))}" for f in changed]
    return translate("sweep.lesson.changed", lang, changes=", ".join(parts))


def sweep_title(sweep: Sweep, lang: str) -> str:
    """'Learning rate: 0.0001, 0.001, 0.01' (× the second setting's values for a grid)."""
    parts = [
        f"{translate(f'field.{v.field}', lang)}: "
        + ", ".join(setting_value_text(v.field, x, lang) for x in v.values)
        for v in sweep.vary
    ]
    repeats = translate("sweep.repeats_note", lang, n=sweep.repeats) if sweep.repeats > 1 else ""
    return " × ".join(parts) + repeats


def run_count(sweep: Sweep) -> int:
    return len(sweep.combinations()) * sweep.repeats
