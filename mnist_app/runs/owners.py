"""Who may do what on a shared class server: students own their runs and drawings, the teacher
manages everything and sets the class's rules.

A student is an anonymous owner id their browser keeps (32 hex digits, made at random by the
browser: nothing about the person). On a shared server ($MNIST_LAB_DATABASE_URL or
$MNIST_LAB_TEACHER_CODE set) a student may stop, pause, continue, delete or rename only their
own runs and class-set drawings; the teacher — whoever gives the code set in
$MNIST_LAB_TEACHER_CODE — may change anything. Everyone may look at everyone's runs unless the
teacher turns that off. The teacher's per-student limits: how many runs one student may have
queued or training at once, and a cost cap (epochs × training images × parameters) refused with
a message that says by how much a run is over it.

The browser follows a run's curves through the live API, which has no session: when the teacher
hides the students' runs from each other, the page that shows a run hands the browser a viewing
pass for it (a signature with a key the replicas share in the database), and the API answers
only to that pass.

On a laptop (neither variable set) there is one user, who may do everything.
"""

from __future__ import annotations

import hmac
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from mnist_app.engine.config import RunConfig, model_size
from mnist_app.runs.class_drawings import class_split, training_images
from mnist_app.runs.database import DATABASE_ENV

TEACHER_ENV = "MNIST_LAB_TEACHER_CODE"
OWNER_ID = re.compile(r"[0-9a-f]{32}")
T = TypeVar("T")
DRAWINGS_PER_STUDENT = 200  # the class set's default limits: 5,000 drawings are ~20 MB
DRAWINGS_PER_CLASS = 5_000
MOST_DRAWINGS = 100_000  # the most either limit may be set to


class AccessError(PermissionError):
    """Something this visitor may not do; the message says why. `reason` is a word for a
    translated message ("not_yours", "wrong_code", "locked_out", "too_many", "too_costly")."""

    def __init__(self, reason: str, message: str, **values: object):
        super().__init__(message)
        self.reason = reason
        self.values = values


def shared_server() -> bool:
    """Whether owners count: a class server (shared database, or a teacher code set)."""
    return bool(os.environ.get(DATABASE_ENV, "").strip() or os.environ.get(TEACHER_ENV, ""))


def owner_id(text: object) -> str | None:
    """A well-formed owner id, or None (a forged or broken one gives no one's rights)."""
    return text if isinstance(text, str) and OWNER_ID.fullmatch(text) else None


def teacher_code_set() -> bool:
    """Whether this server has a teacher's code (without it, nobody is the teacher)."""
    return bool(os.environ.get(TEACHER_ENV, ""))


def is_teacher_code(code: str) -> bool:
    """Whether `code` is the teacher's code (compared in constant time). No code set: nobody
    is the teacher, whatever they type."""
    expected = os.environ.get(TEACHER_ENV, "")
    return bool(expected) and hmac.compare_digest(_utf8(code), _utf8(expected))


@dataclass(frozen=True)
class Visitor:
    """Who is asking: a student's owner id (None if their browser gave none) and whether they
    gave the teacher's code."""

    owner: str | None = None
    teacher: bool = False

    @classmethod
    def of(cls, owner: object, teacher_code: str | None = None) -> Visitor:
        """The visitor from a browser's owner id and the teacher code they typed, if any.

        AccessError("wrong_code") if they typed a code and it is not the teacher's.
        """
        teacher = False
        if teacher_code:
            if not is_teacher_code(teacher_code):
                raise AccessError("wrong_code", "that is not the teacher's code")
            teacher = True
        return cls(owner_id(owner), teacher)

    def manages_all(self) -> bool:
        return self.teacher or not shared_server()

    def may_change(self, student: str | None) -> bool:
        """Whether this visitor may stop, pause, continue, delete or rename what `student`
        owns (a run or a drawing)."""
        return self.manages_all() or (self.owner is not None and self.owner == student)

    def check_change(self, what: str, student: str | None) -> None:
        """AccessError("not_yours") unless may_change; `what` names it in the message."""
        if not self.may_change(student):
            raise AccessError(
                "not_yours",
                f"{what} belongs to another student: only they or the teacher can change it",
            )


@dataclass(frozen=True)
class ClassRules:
    """What the teacher set for the class. None: no limit."""

    everyone_sees_all: bool = True  # students see each other's runs
    max_active: int | None = None  # runs one student may have queued or training at once
    max_cost: float | None = None  # epochs × training images × parameters, per run
    # Class-set drawings (a few kB each) one student may keep, and the whole class: always set.
    max_drawings: int = DRAWINGS_PER_STUDENT
    max_class_drawings: int = DRAWINGS_PER_CLASS

    def to_dict(self) -> dict:
        return {
            "everyone_sees_all": self.everyone_sees_all,
            "max_active": self.max_active,
            "max_cost": self.max_cost,
            "max_drawings": self.max_drawings,
            "max_class_drawings": self.max_class_drawings,
        }

    @classmethod
    def from_dict(cls, data: dict) -> ClassRules:
        """The rules as stored; a value that is not what it should be counts as unset."""
        sees = data.get("everyone_sees_all", True)
        active, cost = data.get("max_active"), data.get("max_cost")
        drawings, class_drawings = data.get("max_drawings"), data.get("max_class_drawings")
        return cls(
            everyone_sees_all=sees if isinstance(sees, bool) else True,
            max_active=active if _count(active) else None,
            max_cost=float(cost) if _amount(cost) else None,
            max_drawings=drawings if _count(drawings, MOST_DRAWINGS) else DRAWINGS_PER_STUDENT,
            max_class_drawings=(
                class_drawings if _count(class_drawings, MOST_DRAWINGS) else DRAWINGS_PER_CLASS
            ),
        )

    def may_see(self, visitor: Visitor, student: str | None) -> bool:
        """Whether a visitor may look at a run `student` started."""
        return self.everyone_sees_all or visitor.may_change(student)

    def visible(self, visitor: Visitor, items: Iterable[T]) -> list[T]:
        """Those of `items` (runs, or anything with a `student`) this visitor may look at."""
        return [item for item in items if self.may_see(visitor, getattr(item, "student", None))]

    def check_submit(
        self,
        visitor: Visitor,
        configs: Sequence[RunConfig],
        active_now: int,
        class_drawings: int = 0,
    ) -> None:
        """AccessError unless this student may queue runs of `configs` now (one run, or a
        sweep's), having `active_now` runs queued or training: "no_owner", "too_many" or
        "too_costly", saying by how much (class digits count: `class_drawings` is how many
        drawings a run with them adds, copies aside). The teacher (and a laptop's one user)
        is never limited."""
        if visitor.manages_all():
            return
        if visitor.owner is None:
            raise AccessError(
                "no_owner",
                "this browser has not given the page its owner id: reload the page, and let "
                "this site keep data in the browser",
            )
        adding = len(configs)
        if self.max_active is not None and active_now + adding > self.max_active:
            raise AccessError(
                "too_many",
                f"you already have {active_now} run(s) queued or training, this adds {adding}, "
                f"and the limit is {self.max_active} at once: wait for one to end or stop one",
                active=active_now,
                adding=adding,
                limit=self.max_active,
            )
        if self.max_cost is not None and configs:
            spent = max(cost(config, class_drawings) for config in configs)
            if spent > self.max_cost:
                raise AccessError(
                    "too_costly",
                    f"this run costs {spent:,.0f} (epochs × images × parameters), "
                    f"{spent / self.max_cost:.1f}× the class limit of {self.max_cost:,.0f}: "
                    f"use fewer epochs, fewer images or a smaller network",
                    cost=spent,
                    limit=self.max_cost,
                    times=spent / self.max_cost,
                )

    def check_drawing(self, visitor: Visitor, own: int, total: int) -> None:
        """AccessError unless `visitor`, with `own` of the class set's `total` drawings, may add
        one: "class_set_full" or "too_many_drawings" (the teacher and a laptop's one user have
        only the class's limit)."""
        if total >= self.max_class_drawings:
            raise AccessError(
                "class_set_full",
                f"the class set already holds {total:,} drawings, the class's limit of "
                f"{self.max_class_drawings:,}: the teacher can remove some or raise the limit",
                count=total,
                limit=self.max_class_drawings,
            )
        if not visitor.manages_all() and own >= self.max_drawings:
            raise AccessError(
                "too_many_drawings",
                f"you already have {own:,} drawings in the class set, the limit for one student "
                f"is {self.max_drawings:,}: remove some of yours or ask the teacher",
                count=own,
                limit=self.max_drawings,
            )


def check_start(store, visitor: Visitor, configs: Sequence[RunConfig]) -> None:
    """AccessError unless `visitor` may queue runs of `configs` now, by the class's rules in
    `store` (a RunStore) and the runs they already have queued or training."""
    if visitor.manages_all():
        return
    active = store.active_count(visitor.owner) if visitor.owner else 0
    drawings = 0
    if any(config.class_digits for config in configs):  # refused later if too small to split
        drawings = len(class_split(store.class_set_engine()).train)
    store.class_rules().check_submit(visitor, configs, active, drawings)


def viewing_pass(key: bytes, what: str) -> str:
    """The pass that lets a browser follow `what` ("run:ID" or "sweep:ID") through the live API
    when runs are hidden: given by a page to a visitor who may see it; `key` is the store's."""
    return hmac.new(key, what.encode(), "sha256").hexdigest()[:32]


def is_viewing_pass(key: bytes, what: str, given: object) -> bool:
    """Whether `given` is `what`'s pass (compared in constant time, as bytes: any text the
    address carried, é or emoji, is simply not the pass)."""
    return isinstance(given, str) and hmac.compare_digest(
        viewing_pass(key, what).encode(), _utf8(given)
    )


def _utf8(text: str) -> bytes:
    """Any str as bytes, even one with a lone surrogate (hmac.compare_digest takes only ASCII
    str)."""
    return text.encode("utf-8", "surrogatepass")


def cost(config: RunConfig, class_drawings: int = 0) -> float:
    """What a run costs the server: epochs × training images × parameters; its images are
    MNIST's and, with `class_digits`, that many copies of the `class_drawings` it adds."""
    images = training_images(config, class_drawings)
    return float(config.epochs) * images * model_size(config).total_params


def _count(value: object, most: int = 1000) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= most


def _amount(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 1e18
