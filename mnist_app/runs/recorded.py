"""A run as the store recorded it: its progress and how it ended, for a run this process does
not train (another process's, a Ray actor's, or one from before a restart), and waiting for it
to end."""

from __future__ import annotations

import time

from mnist_app.engine.progress import LIVE_FIGURES, Snapshot
from mnist_app.engine.records import Outcome
from mnist_app.engine.status import RunStatus
from mnist_app.runs.class_drawings import training_images
from mnist_app.runs.store import Run, RunStore


def stored_snapshot(run: Run, queue_position: int = 0) -> Snapshot:
    """A run's progress as the store has it: for a run another process trains (the CLI, a Ray
    actor) or one from before a restart, its per-epoch history and the figures its trainer
    last published."""
    known = _live_figures(run.live) if run.status.active else {}
    epochs = run.config.epochs
    train_size = training_images(run.config, len(run.class_drawings))
    completed = sum(1 for record in run.history if record.complete)
    return Snapshot(
        **{
            "epochs": epochs,
            "epoch": len(run.history),
            "samples_total": train_size * epochs,
            "samples_seen": train_size * completed,
            "train_seconds": run.train_seconds or 0.0,
            **known,
            "status": known.get("status", run.status),
            "message": run.message,
            "history": run.history,
            "test_loss": run.test_loss,
            "test_accuracy": run.test_accuracy,
            "queue_position": queue_position,
        }
    )


def wait_in_store(store: RunStore, run_id: str, timeout: float | None = None) -> Outcome | None:
    """Poll the store until a run has ended; how it ended, or None on timeout. KeyError if
    there is no such run."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        run = store.get(run_id)
        if run is None:
            raise KeyError(run_id)
        if not run.status.active:
            return stored_outcome(run)
        if deadline is not None and time.monotonic() >= deadline:
            return None
        time.sleep(min(0.5, timeout or 0.5))


def stored_outcome(run: Run) -> Outcome:
    """How a run ended, as the store has it."""
    return Outcome(
        run.status,
        run.message,
        reason=run.reason,
        history=run.history,
        test_loss=run.test_loss,
        test_accuracy=run.test_accuracy,
        train_seconds=run.train_seconds or 0.0,
        model_path=run.model_path,
        precision=run.precision,
    )


def _live_figures(published: dict) -> dict:
    """The progress figures another process published, those that are well-formed only."""
    figures = {}
    for name in LIVE_FIGURES:
        value = published.get(name)
        if name == "status":
            if value in RunStatus.__members__.values():
                figures[name] = RunStatus(value)
        elif isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < 1e15:
            figures[name] = value
    return figures
