"""What the command line shows: a run's progress on stderr and tables on stdout, with rich.

On a terminal the progress is a bar redrawn in place; into a file or a pipe (CI, nohup) it is one
plain line per finished epoch, so a log does not fill with redrawn bars.
"""

from __future__ import annotations

import sys
import time
from datetime import timedelta
from typing import TYPE_CHECKING

from rich import box
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn
from rich.table import Column, Table

from mnist_app.experiments.challenge import Board, why
from mnist_app.runs.store import Run, UnreadableRun
from mnist_app.text import escape_terminal

if TYPE_CHECKING:
    from mnist_app.engine.progress import Snapshot
    from mnist_app.engine.records import EpochRecord
    from mnist_app.runs.challenges import Challenge

BAR_FIELDS = ("epoch", "batch", "speed", "remaining", "accuracy")  # the words after the bar


def progress_display(quiet: bool) -> QuietProgress:
    if quiet:
        return QuietProgress()
    return ProgressBar() if sys.stderr.isatty() else EpochLines()


class QuietProgress:
    """No progress (--json); notes such as "stopping" still go to stderr."""

    def __enter__(self) -> QuietProgress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def show(self, snap: Snapshot) -> None:
        """Show the run as it is now."""

    def note(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    def start_after(self, epochs: int) -> None:
        """A continued run: its first `epochs` epochs were shown when its parent trained."""


class EpochLines(QuietProgress):
    """Into a file or a pipe (CI, nohup): one plain line per finished epoch, nothing redrawn."""

    def __init__(self) -> None:
        self.written = 0  # epochs already written

    def start_after(self, epochs: int) -> None:
        self.written = epochs

    def show(self, snap: Snapshot) -> None:
        for record in snap.history[self.written :]:
            print(epoch_line(record, snap), file=sys.stderr, flush=True)
        self.written = max(self.written, len(snap.history))


class ProgressBar(QuietProgress):
    """On a terminal: a rich progress bar, redrawn in place."""

    def __init__(self, console: Console | None = None):
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            *(TextColumn(f"{{task.fields[{name}]}}", markup=False) for name in BAR_FIELDS),
            console=console or Console(stderr=True),
            auto_refresh=False,  # redrawn on each look at the run, four times a second
        )
        self.task = self.progress.add_task("queued", total=1.0, **dict.fromkeys(BAR_FIELDS, ""))

    def __enter__(self) -> ProgressBar:
        self.progress.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.progress.stop()

    def show(self, snap: Snapshot) -> None:
        fields = bar_fields(snap)
        self.progress.update(self.task, completed=snap.fraction_done, refresh=True, **fields)

    def note(self, text: str) -> None:
        self.progress.console.print(text, markup=False, highlight=False)


def bar_fields(snap: Snapshot) -> dict[str, str]:
    """The words around the bar: status (or place in the queue), epoch, batch, speed, ..."""
    if snap.queue_position:
        blank = dict.fromkeys(BAR_FIELDS, "")
        return blank | {"description": f"queued: place {snap.queue_position}"}
    eta = snap.eta_seconds
    last = snap.history[-1] if snap.history else None
    return {
        "description": str(snap.status),
        "epoch": f"epoch {min(snap.epoch + 1, snap.epochs)}/{snap.epochs}",
        "batch": f"batch {snap.batch}/{snap.batches_per_epoch}",
        "speed": f"{snap.samples_per_second:,.0f} img/s",
        "remaining": f"{timedelta(seconds=round(eta))} left" if eta is not None else "",
        "accuracy": f"acc {_number(last.accuracy)}" if last else "",
    }


def epoch_line(record: EpochRecord, snap: Snapshot) -> str:
    """One finished epoch as a log line: epoch, loss, accuracies, speed."""
    parts = [
        f"epoch {record.epoch}/{snap.epochs}",
        f"loss {_number(record.loss)}",  # None when the loss blew up
        f"acc {_number(record.accuracy)}",
    ]
    if record.val_accuracy is not None:
        parts.append(f"val_acc {_number(record.val_accuracy)}")
    parts.append(f"{snap.samples_per_second:,.0f} img/s")
    return "  ".join(parts)


def _number(value: float | None) -> str:
    return "nan" if value is None else f"{value:.4f}"


def runs_table(rows: list[Run | UnreadableRun]) -> Table:
    """Stored runs as a table; an unreadable row shows its id and why it does not parse."""
    table = _table("run", "when", "status", "preset", _right("epochs"), _right("test acc"))
    unreadable = any(isinstance(row, UnreadableRun) for row in rows)
    if unreadable:
        table.add_column("why unreadable")
    for row in rows:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(row.created_at))
        if isinstance(row, UnreadableRun):
            table.add_row(*_cells(row.id, when, "unreadable", "", "", "", row.reason))
            continue
        acc = _percent(row.test_accuracy)
        cells = [row.id, when, str(row.status), row.preset or "—", str(len(row.history)), acc]
        table.add_row(*_cells(*cells, *([""] if unreadable else [])))
    return table


def reproduce_table(rows: list[dict]) -> Table:
    """Each preset's accuracy as the course reported it next to ours."""
    table = _table(
        "preset", _right("reported"), _right("ours"), _right("epochs"), _right("seconds"), "status"
    )
    for row in rows:
        reported, ours = row["reported_accuracy"], row["test_accuracy"]
        table.add_row(
            row["preset"],
            _percent(reported),
            _percent(ours),
            str(row["epochs"]),
            f"{row['seconds'] or 0:.1f}",
            row["status"],
        )
    return table


def lessons_table(lessons: list[dict]) -> Table:
    """Each lesson's values: what the notebook printed, what these runs gave, the difference
    in points ("—" where the notebook printed nothing)."""
    table = _table(
        "lesson", "value", _right("notebook val"), _right("here val"), _right("diff"),
        _right("notebook test"), _right("here test"), _right("diff"),
    )  # fmt: skip
    for lesson in lessons:
        for row in lesson["values"]:
            cells = []
            for metric in ("val_accuracy", "test_accuracy"):
                theirs, ours = row["notebook"][metric], row["here"][metric]
                gap = f"{(ours - theirs) * 100:+.1f} pt" if None not in (theirs, ours) else ""
                cells += [_percent(theirs), _percent(ours), gap]
            value = f"{lesson['field']} = {row['value']}"
            table.add_row(*_cells(lesson["lesson"], value, *cells))
    return table


def _percent(fraction: float | None) -> str:
    """An accuracy as the terminal writes it, 97.92%; "—" for none."""
    return f"{fraction:.2%}" if fraction is not None else "—"


def compare_table(runs: list[Run], differing: list[str]) -> Table:
    """Runs side by side: the settings that differ between them, then how each did."""
    from mnist_app.experiments.sweeps import format_value, short_name

    names = [short_name(name) for name in differing]
    table = _table(
        "run", "label", *names, "status", _right("epochs"), _right("test acc"), _right("seconds")
    )
    for run in runs:
        settings = [format_value(getattr(run.config, name)) for name in differing]
        table.add_row(*_cells(run.id, run.label or "—", *settings, *_scores(run)))
    return table


def sweep_table(runs: list[Run], fields: list[str]) -> Table:
    """A sweep's runs: the values they tried, then how each did."""
    return compare_table(runs, fields)


def challenges_table(challenges: list[Challenge]) -> Table:
    """Challenges: their ids, titles, rules and deadlines."""
    table = _table("challenge", "title", "metric", "rules", "deadline", "state")
    for challenge in challenges:
        rules = [
            f"{name} ≤ {limit:,g}"
            for name, limit in (
                ("params", challenge.max_params),
                ("seconds", challenge.max_seconds),
                ("epochs", challenge.max_epochs),
            )
            if limit is not None
        ]
        deadline = challenge.deadline
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(deadline)) if deadline else "—"
        state = "open" if challenge.is_open() else "closed"
        table.add_row(
            *_cells(challenge.id, challenge.title, challenge.metric, ", ".join(rules) or "—"),
            when,
            state,
        )
    return table


def challenge_table(board: Board) -> Table:
    """A challenge's leaderboard: each student's best entry, best first; why one is not
    eligible."""
    to_target = board.challenge.target is not None
    extra = [_right("epochs to target")] if to_target else []
    table = _table(
        _right("#"), "student", *extra, _right("test acc"), _right("params"), _right("seconds"),
        _right("epochs"), "changes", "not eligible because", "run",
    )  # fmt: skip
    for entry in board.entries:
        rank = board.rank(entry)
        reached = [str(entry.epochs_to_target or "—")] if to_target else []
        table.add_row(
            "—" if rank is None else str(rank),
            *_cells(entry.student),
            *reached,
            f"{entry.test_accuracy:.2%}",
            f"{entry.params:,}",
            f"{entry.seconds:.1f}",
            str(entry.epochs),
            *_cells(entry.changes, why(entry) or "—", entry.run_id),
        )
    return table


def _scores(run: Run) -> list[str]:
    acc = _percent(run.test_accuracy)
    return [str(run.status), str(len(run.history)), acc, f"{run.train_seconds or 0:.1f}"]


def _cells(*values: str) -> list[str]:
    """A table row's text as the terminal shows it: what a database row holds (a label, a
    preset) may carry escape sequences; each control character is shown, never obeyed."""
    return [escape_terminal(value) for value in values]


def _table(*columns: str | Column) -> Table:
    """A plain table: a rule under the header, no frame around it."""
    return Table(*columns, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)


def _right(header: str) -> Column:
    """A column of figures, right-aligned."""
    return Column(header, justify="right")


def table_console() -> Console:
    """Stdout for tables: colours only on a terminal; a file or a pipe is not cut at 80 columns."""
    width = None if sys.stdout.isatty() else 1000
    return Console(width=width, markup=False, emoji=False)
