"""A class challenge's leaderboard: which entries keep the rules (and by how much the others
break them), each student's best entry, the ranking, what each changed from its preset, and the
board as CSV. Plain functions on stored runs; the store keeps challenges (runs/challenges.py).

What counts, for a run that named the challenge:
- only a finished run enters (queued, training, stopped, failed or diverged ones do not), and
  only if it finished before the deadline (or before the teacher closed the challenge);
- its parameters are the network's parameter count (the layer plan's arithmetic, which equals
  Keras' own count), its seconds the training time the run recorded (pauses not counted), its
  epochs the epochs it trained (only Start enters a challenge, so no entry continues another);
- "epochs-to:T" counts the epochs until the validation accuracy, measured at the end of each
  epoch on the held-out validation images, first reached T: the test set is scored once, at the
  end, so it cannot say when. A run that never reached T, or had no validation set, is not
  eligible.
Each student's best entry stands for them: the best eligible one, else the best of the others
(listed as not eligible, saying why). Eligible entries come first, best first; ties go to fewer
seconds, then to the earlier finish.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from mnist_app.engine.config import RunConfig, model_size
from mnist_app.engine.presets import PRESETS
from mnist_app.engine.status import RunStatus
from mnist_app.experiments.sweeps import differing_fields, setting_text
from mnist_app.i18n import format_number, format_percent, translate
from mnist_app.runs.challenges import Challenge, Entered
from mnist_app.runs.run import Run

NEAREST = "≈"  # before a preset a custom run is closest to (it started from no preset)
SPREADSHEET_FORMULA = ("=", "+", "-", "@", "\t", "\r")  # a cell starting so is a formula


@dataclass(frozen=True)
class Broken:
    """One rule an entry breaks: "params", "seconds", "epochs" (value over limit), "target" (the
    best validation accuracy, short of the target) or "no_validation"."""

    rule: str
    value: float | None = None
    limit: float | None = None


@dataclass(frozen=True)
class Entry:
    """A finished run in a challenge, measured against its rules."""

    run_id: str
    student_key: str  # who it counts for: the owner id on a class server, else the name
    student: str  # the name shown
    test_accuracy: float
    params: int
    seconds: float
    epochs: int
    epochs_to_target: int | None  # with an "epochs-to" metric: when it first reached it
    finished_at: float
    changes: str  # what differs from its preset ("dnn-50-50: lr = 0.02")
    broken: tuple[Broken, ...] = ()

    @property
    def eligible(self) -> bool:
        return not self.broken


@dataclass(frozen=True)
class Board:
    """A challenge's leaderboard: each student's best entry, ranked; and how many of its runs
    are still queued or training."""

    challenge: Challenge
    entries: list[Entry]
    training: int = 0

    def rank(self, entry: Entry) -> int | None:
        """An eligible entry's place (1 for the best); None for one that is not eligible."""
        if not entry.eligible:
            return None
        return [e for e in self.entries if e.eligible].index(entry) + 1


def leaderboard(
    challenge: Challenge, entered: list[Entered], by_owner: bool, lang: str | None = None
) -> Board:
    """The board of these entries. `by_owner` (a class server): a student is their owner id,
    whatever name they type; else (a laptop, where students take turns) their name. What each
    changed from its preset is told in a page's language `lang`, else as the command line
    writes settings."""
    entries, training = [], 0
    for item in entered:
        run = item.run
        if run.status.active:
            training += 1
        elif run.status is RunStatus.FINISHED and run.updated_at <= challenge.ends_at:
            entries.append(measure(challenge, run, item.nickname, by_owner, lang))
    best: dict[str, Entry] = {}  # each student's first entry in ranked order: their best
    for entry in sorted(entries, key=lambda e: ranking_key(challenge, e)):
        best.setdefault(entry.student_key, entry)
    return Board(challenge, _distinct_names(list(best.values())), training)


def ranking_key(challenge: Challenge, entry: Entry) -> tuple:
    """Eligible first; then the metric (higher accuracy, or fewer epochs to the target, then
    higher accuracy); then fewer seconds; then the earlier finish."""
    if challenge.target is None:
        metric = (-entry.test_accuracy,)
    else:
        epochs = entry.epochs_to_target
        metric = (math.inf if epochs is None else epochs, -entry.test_accuracy)
    return (not entry.eligible, *metric, entry.seconds, entry.finished_at)


def measure(
    challenge: Challenge, run: Run, nickname: str, by_owner: bool = False, lang: str | None = None
) -> Entry:
    """A finished run as an entry: its figures and the rules it breaks."""
    params = model_size(run.config).total_params
    seconds = run.train_seconds or 0.0
    epochs = len(run.history)
    reached = epochs_to(run, challenge.target) if challenge.target is not None else None
    broken = [*over_limits(challenge, params, epochs), *_over_seconds(challenge, seconds)]
    if challenge.target is not None and reached is None:
        broken.append(_short_of_target(run, challenge.target))
    key = run.student if by_owner and run.student else nickname.casefold() or run.student or ""
    return Entry(
        run_id=run.id,
        student_key=key,
        student=nickname or (f"#{run.student[:6]}" if run.student else "—"),
        test_accuracy=run.test_accuracy or 0.0,
        params=params,
        seconds=seconds,
        epochs=epochs,
        epochs_to_target=reached,
        finished_at=run.updated_at,
        changes=preset_changes(run.config, run.preset, lang),
        broken=tuple(broken),
    )


def over_limits(challenge: Challenge, params: int, epochs: int) -> list[Broken]:
    """The rules a network of `params` parameters trained `epochs` epochs breaks (known before it
    trains: the Train page and the command line warn with them)."""
    broken = []
    if challenge.max_params is not None and params > challenge.max_params:
        broken.append(Broken("params", params, challenge.max_params))
    if challenge.max_epochs is not None and epochs > challenge.max_epochs:
        broken.append(Broken("epochs", epochs, challenge.max_epochs))
    return broken


def config_over_limits(challenge: Challenge, config: RunConfig) -> list[Broken]:
    """The rules a run of these settings will break, said before it trains."""
    return over_limits(challenge, model_size(config).total_params, config.epochs)


def _over_seconds(challenge: Challenge, seconds: float) -> list[Broken]:
    if challenge.max_seconds is not None and seconds > challenge.max_seconds:
        return [Broken("seconds", seconds, challenge.max_seconds)]
    return []


def epochs_to(run: Run, target: float) -> int | None:
    """The first whole epoch whose validation accuracy reached `target`; None if none did."""
    for record in run.history:
        if record.complete and record.val_accuracy is not None and record.val_accuracy >= target:
            return record.epoch
    return None


def _short_of_target(run: Run, target: float) -> Broken:
    measured = [e.val_accuracy for e in run.history if e.val_accuracy is not None]
    if not measured:
        return Broken("no_validation", None, target)
    return Broken("target", max(measured), target)


def why_text(broken: Broken, lang: str = "en") -> str:
    """A broken rule with by how much: "params 120,000 > 100,000 (+20,000)"."""
    value, limit = broken.value, broken.limit
    if broken.rule in ("target", "no_validation"):
        best = format_percent(value, 2, lang) if value is not None else ""
        short = format_number(100 * (limit - (value or 0)), 2, lang)
        return translate(
            f"challenge.why.{broken.rule}", lang,
            target=format_percent(limit, 2, lang), best=best, short=short,
        )  # fmt: skip
    decimals = 1 if broken.rule == "seconds" else 0
    figures = {
        "value": format_number(value, decimals, lang),
        "limit": format_number(limit, decimals, lang),
        "over": format_number(value - limit, decimals, lang),
    }
    return translate(f"challenge.why.{broken.rule}", lang, **figures)


def why(entry: Entry, lang: str = "en") -> str:
    """Every rule an entry breaks, with by how much; "" for an eligible one."""
    return "; ".join(why_text(broken, lang) for broken in entry.broken)


def preset_changes(config: RunConfig, preset: str | None, lang: str | None = None) -> str:
    """What a run changed from its preset ("dnn-50-50: lr = 0.02, epochs = 3"; in a page's
    language `lang`, "dnn-50-50: tasa = 0,02, épocas = 3"); a run from no preset is told
    against the course preset nearest it ("≈ fast-cnn: width = 64")."""
    if preset in PRESETS:
        base, name = PRESETS[preset], preset
    else:
        name, base = min(
            ((slug, c) for slug, c in PRESETS.items() if not slug.startswith("pitfall-")),
            key=lambda item: len(differing_fields([item[1], config])),
        )
        name = f"{NEAREST} {name}"
    changed = [setting_text(f, getattr(config, f), lang) for f in differing_fields([base, config])]
    return f"{name}: {', '.join(changed)}" if changed else name


# --- the board as a file ---------------------------------------------------------------------
CSV_COLUMNS = (
    "rank", "student", "test_accuracy", "epochs_to_target", "params", "seconds", "epochs",
    "eligible", "why", "changes", "run_id", "finished_at",
)  # fmt: skip


def board_csv(board: Board) -> str:
    """The board as CSV, best first; a name or text that a spreadsheet would read as a formula
    ("=HYPERLINK(...)") is written with a leading apostrophe, as text."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for entry in board.entries:
        rank = board.rank(entry)
        finished = datetime.fromtimestamp(entry.finished_at, UTC).isoformat(timespec="seconds")
        writer.writerow(
            [
                "" if rank is None else rank,
                spreadsheet_text(entry.student),
                f"{entry.test_accuracy:.4f}",
                "" if entry.epochs_to_target is None else entry.epochs_to_target,
                entry.params,
                f"{entry.seconds:.1f}",
                entry.epochs,
                "yes" if entry.eligible else "no",
                spreadsheet_text(why(entry)),
                spreadsheet_text(entry.changes),
                entry.run_id,
                finished,
            ]
        )
    return out.getvalue()


def spreadsheet_text(text: str) -> str:
    """Text for a CSV cell that a spreadsheet shows as typed, never runs as a formula."""
    return f"'{text}" if text.startswith(SPREADSHEET_FORMULA) else text


def _distinct_names(entries: list[Entry]) -> list[Entry]:
    """Two students who typed the same name are told apart by their id's first digits."""
    keys_by_name: dict[str, set[str]] = {}
    for entry in entries:
        keys_by_name.setdefault(entry.student.casefold(), set()).add(entry.student_key)
    return [
        entry
        if len(keys_by_name[entry.student.casefold()]) < 2
        else replace(entry, student=f"{entry.student} #{entry.student_key[:4]}")
        for entry in entries
    ]
