"""Class challenges as the store keeps them (one part of the run store): the teacher's rules, and
the runs that named a challenge with the name each student entered under.

A `Challenge` is its rules: at most so many parameters, seconds of training and epochs (None: no
limit), what ranks the entries (best test accuracy, or fewest epochs to a validation accuracy)
and when it closes. Checking runs against them and ranking them is mnist_app.experiments.challenge.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import sqlalchemy as sa

from mnist_app.runs.database import StorePart, challenge_entries, challenges, runs
from mnist_app.runs.run import Run, new_id, readable
from mnist_app.text import clean_user_text

ACCURACY = "accuracy"  # the metric: best test accuracy
EPOCHS_TO = "epochs-to:"  # the metric: fewest epochs to this validation accuracy ("epochs-to:0.98")
MAX_TITLE = 80  # characters
MAX_NICKNAME = 40
MOST_EPOCHS = 200  # RunConfig's most


class ChallengeError(ValueError):
    """A challenge's rule, or an entry, the store will not take; `field` names which."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Challenge:
    """One class challenge: its rules, what ranks the entries, and when it closes."""

    id: str
    title: str
    created_at: float
    target: float | None = None  # None: best test accuracy wins; else fewest epochs to this
    max_params: int | None = None
    max_seconds: float | None = None
    max_epochs: int | None = None
    deadline: float | None = None  # Unix time; None: open until the teacher closes it
    closed_at: float | None = None  # when the teacher closed it early

    @property
    def metric(self) -> str:
        """The metric as the command line writes it: "accuracy" or "epochs-to:0.98"."""
        return ACCURACY if self.target is None else f"{EPOCHS_TO}{self.target:g}"

    @property
    def ends_at(self) -> float:
        """When runs stop entering: the deadline, or the moment the teacher closed it."""
        ends = [t for t in (self.deadline, self.closed_at) if t is not None]
        return min(ends) if ends else math.inf

    def is_open(self, now: float | None = None) -> bool:
        return (time.time() if now is None else now) < self.ends_at


def parse_metric(text: str) -> float | None:
    """The metric as typed ("accuracy", "epochs-to:0.98") as its target, None for accuracy;
    ChallengeError says what is wrong."""
    text = text.strip()
    if text == ACCURACY:
        return None
    if text.startswith(EPOCHS_TO):
        try:
            target = float(text.removeprefix(EPOCHS_TO))
        except ValueError:
            target = math.nan
        if 0 < target <= 1:
            return target
    raise ChallengeError(
        "metric",
        f"{text!r} is not a metric: give accuracy, or epochs-to:T with T a validation accuracy "
        "in (0, 1] such as epochs-to:0.98",
    )


def new_challenge(
    title: str,
    target: float | None = None,
    max_params: int | None = None,
    max_seconds: float | None = None,
    max_epochs: int | None = None,
    deadline: float | None = None,
    now: float | None = None,
) -> Challenge:
    """A challenge with a new id, checked: a title of 1..80 characters (control characters
    dropped), limits above zero, a target in (0, 1], a deadline still to come."""
    now = time.time() if now is None else now
    title = clean_user_text(title)
    if not title or len(title) > MAX_TITLE:
        raise ChallengeError("title", f"give a title of 1..{MAX_TITLE} characters")
    _check_limit("max_params", max_params, 1, 10**12)
    _check_limit("max_seconds", max_seconds, 1e-3, 1e7)
    _check_limit("max_epochs", max_epochs, 1, MOST_EPOCHS)
    if target is not None and not 0 < target <= 1:
        raise ChallengeError("metric", f"the target {target:g} is not a fraction in (0, 1]")
    if deadline is not None and not deadline > now:
        raise ChallengeError("deadline", "the deadline has already passed: give a later one")
    limits = dict(max_params=max_params, max_seconds=max_seconds, max_epochs=max_epochs)
    return Challenge(new_id(), title, now, target, deadline=deadline, **limits)


def _check_limit(name: str, value: float | None, low: float, high: float) -> None:
    if value is None:
        return
    whole = name != "max_seconds"
    kind = int if whole else int | float
    if isinstance(value, bool) or not isinstance(value, kind) or not low <= value <= high:
        allowed = f"{low:g}..{high:g}" if not whole else f"{low:,}..{high:,}"
        raise ChallengeError(name, f"{value!r} is not a limit in {allowed}")


def clean_nickname(text: str) -> str:
    """The name a student enters under, as stored: one line, printable, at most 40 characters."""
    nickname = clean_user_text(text)
    if len(nickname) > MAX_NICKNAME:
        raise ChallengeError("nickname", f"a name has at most {MAX_NICKNAME} characters")
    return nickname


@dataclass(frozen=True)
class Entered:
    """A run that named a challenge, with the name its student entered under."""

    run: Run
    nickname: str


class ChallengesKept(StorePart):
    """A RunStore's challenges and their entries."""

    def create_challenge(self, challenge: Challenge) -> str:
        self._write((challenges.insert(), _row(challenge)))
        return challenge.id

    def challenge(self, challenge_id: str) -> Challenge | None:
        rows = self._read(sa.select(challenges).where(challenges.c.id == challenge_id))
        return _challenge(rows[0]) if rows else None

    def challenges(self) -> list[Challenge]:
        """Every challenge, newest first."""
        rows = self._read(sa.select(challenges).order_by(challenges.c.created_at.desc()))
        return [_challenge(row) for row in rows]

    def close_challenge(self, challenge_id: str, at: float | None = None) -> None:
        """Close a challenge now (or at `at`): runs that end later do not enter."""
        when = time.time() if at is None else at
        where = (challenges.c.id == challenge_id) & challenges.c.closed_at.is_(None)
        self._write((challenges.update().where(where), dict(closed_at=when)))

    def enter_challenge(self, challenge_id: str, run_id: str, nickname: str = "") -> None:
        """Say that a run competes in a challenge, under `nickname` (cleaned here)."""
        row = dict(
            run_id=run_id,
            challenge_id=challenge_id,
            nickname=clean_nickname(nickname),
            entered_at=time.time(),
        )
        self._write((challenge_entries.insert(), row))

    def challenge_entries(self, challenge_id: str) -> list[Entered]:
        """The readable runs that entered a challenge, oldest first, with their names."""
        query = (
            sa.select(runs, challenge_entries.c.nickname)
            .join(challenge_entries, challenge_entries.c.run_id == runs.c.id)
            .where(challenge_entries.c.challenge_id == challenge_id)
            .order_by(runs.c.created_at)
        )
        rows = self._read(query)
        names = {row.id: row.nickname for row in rows}
        return [Entered(run, names[run.id]) for run in readable(rows)]


def _row(challenge: Challenge) -> dict:
    return dict(
        id=challenge.id,
        created_at=challenge.created_at,
        title=challenge.title,
        metric=challenge.metric,
        max_params=challenge.max_params,
        max_seconds=challenge.max_seconds,
        max_epochs=challenge.max_epochs,
        deadline=challenge.deadline,
        closed_at=challenge.closed_at,
    )


def _challenge(row: sa.Row) -> Challenge:
    try:
        target = parse_metric(row.metric)
    except ChallengeError:  # a hand-edited row: ranked by accuracy
        target = None
    return Challenge(
        id=row.id,
        title=row.title,
        created_at=row.created_at,
        target=target,
        max_params=row.max_params,
        max_seconds=row.max_seconds,
        max_epochs=row.max_epochs,
        deadline=row.deadline,
        closed_at=row.closed_at,
    )
