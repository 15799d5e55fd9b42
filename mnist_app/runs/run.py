"""One stored run: the `Run` record, a row that no longer parses, the errors that name a run, and
the ids runs and sweeps are stored under."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass

import sqlalchemy as sa

from mnist_app.engine.config import ConfigError, RunConfig
from mnist_app.engine.records import EpochRecord, history_from_json
from mnist_app.engine.status import RunStatus

ID_PATTERN = re.compile(r"[0-9a-f]{12}")  # what new_id makes; nothing else is looked up


def new_id() -> str:
    """A new run or sweep id: 12 hex digits (what the live API's routes accept)."""
    return uuid.uuid4().hex[:12]


class RunInUseError(ValueError):
    """A run that is queued or training cannot be deleted or continued."""

    def __init__(self, run_id: str):
        super().__init__(f"run {run_id} is queued or training: stop it first")
        self.run_id = run_id


class UnreadableRunError(ValueError):
    """A stored run whose row no longer parses (an older or hand-edited row)."""

    def __init__(self, run_id: str, reason: str):
        super().__init__(f"run {run_id} is unreadable: {reason}")
        self.run_id = run_id
        self.reason = reason


def summary_line(message: str) -> str:
    """The first line of a run's message (a failure's traceback follows it)."""
    return message.splitlines()[0] if message else ""


@dataclass(frozen=True)
class Run:
    """One stored run."""

    id: str
    created_at: float
    updated_at: float
    status: RunStatus
    preset: str | None
    config: RunConfig
    history: list[EpochRecord]
    test_loss: float | None
    test_accuracy: float | None
    train_seconds: float | None
    model_path: str | None
    message: str
    reason: str
    owner: str | None
    heartbeat_at: float | None
    live: dict  # the latest progress figures its process published (samples, batch, ...)
    label: str = ""
    note: str = ""
    parent: str | None = None
    sweep_id: str | None = None
    precision: str = ""  # "float32" or "bfloat16"; "" for runs from before it was recorded
    student: str | None = None  # the owner id of the student who started it (owners.py)
    trainer: str | None = None  # the Ray trainer that took it from the cluster's queue
    start_paused: bool = False  # a queued run holds before its first batch once it starts
    class_drawings: tuple[int, ...] = ()  # the class set's entries it trains on (class_digits)

    @property
    def summary_message(self) -> str:
        """The first line of the message (a failure's traceback follows it)."""
        return summary_line(self.message)


@dataclass(frozen=True)
class UnreadableRun:
    """A row that no longer parses: shown with its id and the reason, never used."""

    id: str
    created_at: float
    reason: str


def run_from_row(row: sa.Row) -> Run | UnreadableRun:
    """A row of the runs table as a Run, or as an UnreadableRun saying why it does not parse."""
    data = dict(row._mapping)
    try:
        history = history_from_json(json.loads(data["history"]))
        live = json.loads(data.get("live") or "{}")
        return Run(
            id=data["id"],
            created_at=data["created_at"],
            updated_at=data["updated_at"],
            status=RunStatus(data["status"]),
            preset=data["preset"],
            config=RunConfig.from_dict(json.loads(data["config"])),
            history=history,
            test_loss=data["test_loss"],
            test_accuracy=data["test_accuracy"],
            train_seconds=data["train_seconds"],
            model_path=data["model_path"],
            message=data["message"] or "",
            reason=data.get("reason") or "",
            owner=data.get("owner"),
            heartbeat_at=data.get("heartbeat_at"),
            live=live if isinstance(live, dict) else {},
            label=data.get("label") or "",
            note=data.get("note") or "",
            parent=data.get("parent"),
            sweep_id=data.get("sweep_id"),
            precision=data.get("precision") or "",
            student=data.get("student"),
            trainer=data.get("trainer"),
            start_paused=bool(data.get("start_paused")),
            class_drawings=tuple(map(int, json.loads(data.get("class_drawings") or "[]"))),
        )
    except (ValueError, TypeError, KeyError, ConfigError) as error:  # JSONDecodeError too
        return UnreadableRun(str(data.get("id")), float(data.get("created_at") or 0), str(error))


def readable(rows: list[sa.Row]) -> list[Run]:
    """The rows that parse, as Runs, in their order (unreadable ones left out)."""
    return [run for run in map(run_from_row, rows) if isinstance(run, Run)]
