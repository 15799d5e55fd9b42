"""A run as every command's `--json` gives it: `train`, `resume`, `reproduce`, `sweep`,
`compare` and `runs` print the same object, whose keys `RunJson` names."""

from __future__ import annotations

from typing import TypedDict

from mnist_app.engine.records import history_to_json
from mnist_app.runs.store import Run, UnreadableRun

UNREADABLE = "unreadable"  # the status of a row that no longer parses


class RunJson(TypedDict):
    """One run in the commands' JSON (README, "Command line")."""

    run_id: str
    id: str  # the same as run_id: `runs --json` has always called it "id"
    status: str
    preset: str | None
    test_accuracy: float | None
    test_loss: float | None
    epochs: int  # epochs trained, a continued run's parent's included
    seconds: float | None  # training time
    train_seconds: float | None  # the same as seconds, under the store's name
    precision: str
    model_path: str | None
    message: str  # how it ended; a failure's traceback follows the first line
    reason: str
    config: dict
    history: list
    parent: str | None
    sweep_id: str | None
    class_drawings: list[int]  # the class set's entries it trained on (class_digits), by id
    label: str
    note: str
    owner: str | None
    student: str | None
    created_at: float
    updated_at: float
    heartbeat_at: float | None
    live: dict


def run_json(run: Run | UnreadableRun) -> RunJson:
    """The run as JSON: its figures, settings, history and where it stands."""
    if isinstance(run, UnreadableRun):
        return _unreadable_json(run)
    return {
        "run_id": run.id,
        "id": run.id,
        "status": str(run.status),
        "preset": run.preset,
        "test_accuracy": run.test_accuracy,
        "test_loss": run.test_loss,
        "epochs": len(run.history),
        "seconds": run.train_seconds,
        "train_seconds": run.train_seconds,
        "precision": run.precision,
        "model_path": run.model_path,
        "message": run.message,
        "reason": run.reason,
        "config": run.config.to_dict(),
        "history": history_to_json(run.history),
        "parent": run.parent,
        "sweep_id": run.sweep_id,
        "class_drawings": list(run.class_drawings),
        "label": run.label,
        "note": run.note,
        "owner": run.owner,
        "student": run.student,
        "created_at": run.created_at,
        "updated_at": run.updated_at,
        "heartbeat_at": run.heartbeat_at,
        "live": run.live,
    }


def _unreadable_json(row: UnreadableRun) -> RunJson:
    """A row that no longer parses, with the same keys: its id, when it was made, status
    "unreadable", why in "message", and null for everything it cannot say."""
    known = {
        "run_id": row.id,
        "id": row.id,
        "status": UNREADABLE,
        "message": row.reason,
        "created_at": row.created_at,
    }
    return {key: known.get(key) for key in RunJson.__annotations__}
