"""Tables of runs: the Runs page's list, and what the Compare page lines up side by side."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from mnist_app.engine.config import RunConfig
from mnist_app.engine.status import RunStatus
from mnist_app.experiments.sweeps import (
    FIELDS,
    LOG_FIELDS,
    MAX_COMPARE,
    differing_fields,
    short_name,
)
from mnist_app.i18n import (
    decimal_mark,
    format_number,
    format_percent,
    setting_value_text,
    translate,
)
from mnist_app.runs.store import ID_PATTERN as RUN_ID
from mnist_app.runs.store import Run, RunStore, UnreadableRunError
from mnist_app.text import isolate

if TYPE_CHECKING:
    import pandas as pd

DIFFERING_STYLE = "background-color: #fff3bf; font-weight: 700"  # a highlighter's yellow
# The Runs table's columns, in order; the page gives each its translated header.
RUN_COLUMNS = (
    "when", "label", "status", "test_accuracy", "architecture", "learning_rate", "batch_size",
    "trained_epochs", "train_seconds", "precision", "preset", "optimizer", "activation",
    "dropout", "epochs", "parent", "id",
)  # fmt: skip


# --- the Runs page ---------------------------------------------------------------------
def architecture_text(config: RunConfig) -> str:
    """The network in a few characters: "MLP 128×1", "CNN 32×2 k3 · 128×1", or its layer plan."""
    if config.layers:
        return f"{config.arch.upper()} · {' '.join(config.layers.split())}"
    dense = f"{config.width}×{config.depth}"
    if config.arch == "cnn":
        return f"CNN {config.filters}×{config.conv_blocks} k{config.kernel_size} · {dense}"
    return f"MLP {dense}"


def status_text(status: RunStatus, lang: str) -> str:
    """A status as one translated word ("terminado", "finished")."""
    return translate(f"runs.status.{status}", lang)


def lineage_text(parent: str | None, labels: dict[str, str]) -> str:
    """The run a run continues: its label and id, or its id; "" for a run of its own."""
    if not parent:
        return ""
    label = labels.get(parent)
    return f"{label} ({parent})" if label else parent


def runs_table_rows(runs: list[Run], lang: str) -> list[dict]:
    """One row per run, keyed by RUN_COLUMNS: typed values, so every column sorts right."""
    labels = {run.id: run.label for run in runs}
    return [
        {
            "when": datetime.fromtimestamp(run.created_at),
            "label": run.label,
            "preset": run.preset or "",
            "architecture": architecture_text(run.config),
            "optimizer": run.config.optimizer,
            "learning_rate": run.config.learning_rate,
            "batch_size": run.config.batch_size,
            "epochs": run.config.epochs,
            "activation": run.config.activation,
            "dropout": run.config.dropout,
            "status": status_text(run.status, lang),
            "test_accuracy": run.test_accuracy,
            "train_seconds": run.train_seconds,
            "trained_epochs": len(run.history),
            "precision": run.precision,
            "parent": lineage_text(run.parent, labels),
            "id": run.id,
        }
        for run in runs
    ]


def filter_runs(
    runs: list[Run], statuses: list[str] = (), preset: str = "", query: str = ""
) -> list[Run]:
    """The runs with one of these statuses (any if none), this preset (any if ""), and the
    query's words in their label, note or id (case does not matter)."""
    words = query.lower().split()
    return [
        run
        for run in runs
        if (not statuses or run.status in statuses)
        and (not preset or run.preset == preset)
        and all(word in f"{run.label}\n{run.note}\n{run.id}".lower() for word in words)
    ]


def keep_selection(previous_ids: list[str], rows: list[int], current_ids: list[str]) -> list[int]:
    """Row numbers, in the current table, of the runs selected in the previous one (the table
    changes under a selection when a run is added, deleted or filtered out)."""
    chosen = {previous_ids[i] for i in rows if 0 <= i < len(previous_ids)}
    return [i for i, run_id in enumerate(current_ids) if run_id in chosen]


# --- the Compare page ------------------------------------------------------------------
@dataclass(frozen=True)
class Selection:
    """The runs a Compare URL names: those found, and what was skipped and why."""

    runs: list[Run]
    skipped: list[tuple[str, str]]  # (what the URL said, reason: malformed/unknown/unreadable)
    too_many: bool = False

    def skipped_by_reason(self) -> dict[str, list[str]]:
        """What was skipped, by reason (in the order the reasons first came): the page says
        each reason once, however many ids the address named."""
        grouped: dict[str, list[str]] = {}
        for text, reason in self.skipped:
            grouped.setdefault(reason, []).append(text)
        return grouped


def parse_run_ids(text: str) -> tuple[list[str], list[str]]:
    """`a,b,c` from a URL as (well-formed run ids, in order and once each; the other parts)."""
    ids, bad = {}, []  # a dict keeps the order and finds a repeat at once, among thousands
    for part in (p.strip() for p in (text or "").split(",")):
        if not part:
            continue
        if RUN_ID.fullmatch(part):
            ids.setdefault(part)
        else:
            bad.append(part)
    return list(ids), bad


def select_runs(
    store: RunStore, text: str, may_see: Callable[[Run], bool] = lambda run: True
) -> Selection:
    """The stored runs a `?runs=` value names, the first MAX_COMPARE ids only; the rest
    reported. A run this visitor may not see (`may_see`) is reported as unknown, in its place,
    so the answer does not tell that it exists."""
    ids, bad = parse_run_ids(text)
    skipped = [(part, "malformed") for part in bad]
    runs = []
    for run_id in ids[:MAX_COMPARE]:
        try:
            run = store.get(run_id)
        except UnreadableRunError:
            skipped.append((run_id, "unreadable"))
            continue
        if run is None or not may_see(run):
            skipped.append((run_id, "unknown"))
        else:
            runs.append(run)
    return Selection(runs, skipped, too_many=len(ids) > MAX_COMPARE)


def choice_label(run: Run, lang: str) -> str:
    """A run in a list to pick from: its name, test accuracy, when it was made and its id (two
    runs of one preset would otherwise read the same). The name is isolated: a right-to-left
    label, or one holding U+202E, cannot turn round the id and date after it."""
    name = isolate(run.label or run.preset or architecture_text(run.config))
    accuracy = (
        "–"
        if run.test_accuracy is None
        else format_number(run.test_accuracy * 100, 1, lang) + (" %" if lang == "es" else "%")
    )
    when = datetime.fromtimestamp(run.created_at).strftime("%Y-%m-%d %H:%M")
    return f"{name} · {accuracy} · {when} · {run.id}"


def settings_table(runs: list[Run], names: list[str], lang: str) -> tuple[pd.DataFrame, list[str]]:
    """Each run's settings, one row per run: its name, test accuracy, then every setting, those
    that differ first; and the columns of the settings that differ."""
    import pandas as pd  # only here: charts imports this module, and the Draw page needs no pandas

    differing = differing_fields([run.config for run in runs])
    order = differing + [name for name in FIELDS if name not in differing]
    run_header, accuracy_header = (
        translate("compare.table.run", lang),
        translate("compare.table.accuracy", lang),
    )
    headers = {field: translate(f"field.{field}", lang) for field in order}
    rows = []
    for run, name in zip(runs, names, strict=True):
        row = {run_header: name, accuracy_header: run.test_accuracy}
        row |= {headers[f]: setting_value_text(f, getattr(run.config, f), lang) for f in order}
        rows.append(row)
    return pd.DataFrame(rows), [headers[f] for f in differing]


def highlight_columns(table: pd.DataFrame, columns: list[str], lang: str, percent: str = ""):
    """The table as a pandas Styler with these columns highlighted and its numbers written the
    language's way; the column named `percent` (if any) as a percentage, 93,59 %."""
    style = table.style.map(lambda _: DIFFERING_STYLE, subset=columns) if columns else table.style
    formats = {percent: lambda value: format_percent(value, 2, lang)} if percent else {}
    decimal = "," if lang == "es" else "."
    return style.format(formats, precision=4, na_rep="–", decimal=decimal)


# How the Runs table writes each number column (its values stay numbers, so it sorts by them):
# a format_number decimals count, or "percent" / "rate" / "seconds".
RUNS_TABLE_NUMBERS = {
    "learning_rate": "rate", "batch_size": 0, "epochs": 0, "dropout": 2,
    "test_accuracy": "percent", "train_seconds": "seconds", "trained_epochs": 0,
}  # fmt: skip


def runs_table_style(rows: list[dict], lang: str):
    """The Runs table (runs_table_rows) as a pandas Styler that writes its numbers in `lang`:
    0,001, 60.000, 93,59 % and 12,3 s in Spanish; '–' where a run has none (not scored yet)."""
    import pandas as pd

    def writer(kind):
        if kind == "percent":
            return lambda value: format_percent(value, 2, lang)
        if kind == "rate":
            return lambda value: decimal_mark(f"{value:g}", lang)
        if kind == "seconds":
            return lambda value: f"{format_number(value, 1, lang)} s"
        return lambda value: format_number(value, kind, lang)

    table = pd.DataFrame(rows, columns=RUN_COLUMNS)
    formats = {name: writer(kind) for name, kind in RUNS_TABLE_NUMBERS.items()}
    return table.style.format(formats, na_rep="–")


@dataclass(frozen=True)
class Axis:
    """One axis of a parallel-coordinates chart: a value per run, and where its ticks go."""

    label: str
    values: list[float]
    tick_values: list[float]
    tick_text: list[str]


def parallel_axes(runs: list[Run], differing: list[str], lang: str) -> list[Axis]:
    """One axis per differing setting (log-spaced for rates and sizes, names for choices),
    named and ticked in `lang`."""
    axes = []
    for name in differing:
        raw = [getattr(run.config, name) for run in runs]
        distinct = sorted(set(raw), key=lambda v: (isinstance(v, str), v))
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in raw)
        if numeric and name in LOG_FIELDS and all(v > 0 for v in raw):
            place = math.log10
        elif numeric:
            place = float
        else:  # choices and switches: evenly spaced, named
            position = {value: float(i) for i, value in enumerate(distinct)}
            place = position.__getitem__
        axes.append(
            Axis(
                short_name(name, lang),
                [place(v) for v in raw],
                [place(v) for v in distinct],
                [setting_value_text(name, v, lang) for v in distinct],
            )
        )
    return axes
