"""A run's live state: written by the training thread, read by pages, the CLI and the API.

`Progress` is the one mutable object (behind a lock); everyone else reads frozen `Snapshot`s.
Pause, Continue, Stop and a new learning rate are asked for here and obeyed by the training
callbacks in training.py.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mnist_app.engine.config import RANGES
from mnist_app.engine.records import EpochRecord
from mnist_app.engine.status import RunStatus

if TYPE_CHECKING:
    import keras

HOLD_POLL_SECONDS = 0.2  # how often a paused run looks for Continue or Stop
LIVE_FIGURES = ("status", "epoch", "epochs", "batch", "batches_per_epoch", "samples_seen",
                "samples_total", "train_seconds", "learning_rate")  # fmt: skip


def check_learning_rate(value: float) -> None:
    """ValueError unless `value` may be a running optimizer's new learning rate: the range a
    RunConfig allows (config.RANGES)."""
    low, high = RANGES["learning_rate"]
    if not (math.isfinite(value) and low <= value <= high):
        raise ValueError(f"learning_rate: {value!r} is outside the allowed range {low:g}..{high:g}")


@dataclass(frozen=True)
class Snapshot:
    """A consistent copy of a run's live state, safe to read while training goes on."""

    status: RunStatus
    message: str = ""
    epoch: int = 0  # epochs completed
    epochs: int = 0
    batch: int = 0  # batches completed in the current epoch
    batches_per_epoch: int = 0
    batches_per_point: int = 1  # batches behind each point of the curves (training.py groups them)
    batch_loss: list[float] = field(default_factory=list)  # each point's loss, in order
    batch_accuracy: list[float] = field(default_factory=list)
    history: list[EpochRecord] = field(default_factory=list)  # one record per finished epoch
    samples_seen: int = 0
    samples_total: int = 0
    train_seconds: float = 0.0  # pauses not counted
    learning_rate: float | None = None
    test_loss: float | None = None
    test_accuracy: float | None = None
    queue_position: int = 0
    store_error: str = ""  # why the last save to the run store failed; "" once saves work again

    @property
    def samples_per_second(self) -> float:
        return self.samples_seen / self.train_seconds if self.train_seconds > 0 else 0.0

    @property
    def eta_seconds(self) -> float | None:
        """Time left at the speed so far; None before the first batch."""
        rate = self.samples_per_second
        return max(self.samples_total - self.samples_seen, 0) / rate if rate > 0 else None

    @property
    def fraction_done(self) -> float:
        return min(self.samples_seen / self.samples_total, 1.0) if self.samples_total else 0.0

    def figures(self) -> dict:
        """The progress figures (no curves) another process needs to show this run."""
        return {name: getattr(self, name) for name in LIVE_FIGURES}


class Progress:
    """Live state of one run, written by the training thread and read by anyone."""

    def __init__(self, epochs: int = 0):
        self._lock = threading.Lock()
        self._state = Snapshot(RunStatus.QUEUED, epochs=epochs)
        self._stop = threading.Event()
        self._resume = threading.Event()  # set while the run may go on (not paused)
        self._resume.set()
        self._pending_lr: float | None = None
        self._started: float | None = None
        self._paused_seconds = 0.0
        self.model: keras.Model | None = None  # the model being trained, for live predictions

    # --- control, from any thread -------------------------------------------------------
    def request_stop(self) -> None:
        """Ask the run to stop after the current batch (a paused run stops at once)."""
        self._stop.set()
        self._resume.set()  # wake a paused run so it can stop

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def pause(self) -> None:
        """Hold the run after its current batch (or before its first), until resume()."""
        if not self._stop.is_set():
            self._resume.clear()

    def resume(self) -> None:
        """Let a paused run go on."""
        self._resume.set()

    @property
    def pause_requested(self) -> bool:
        return not self._resume.is_set()

    def set_learning_rate(self, value: float) -> None:
        """Change the learning rate from the next batch on."""
        check_learning_rate(value)
        with self._lock:
            self._pending_lr = float(value)

    def take_pending_learning_rate(self) -> float | None:
        with self._lock:
            value, self._pending_lr = self._pending_lr, None
            return value

    # --- updates, from the training thread ---------------------------------------------
    def update(self, **fields: object) -> None:
        with self._lock:
            self._state = dataclasses.replace(self._state, **fields)

    def add_batch(self, loss: float, accuracy: float, samples: int, batches: int = 1) -> None:
        """One point of the curves: the loss and accuracy of the last `batches` batches."""
        with self._lock:
            state = self._state
            state.batch_loss.append(loss)  # the lists are this object's own; copied on reading
            state.batch_accuracy.append(accuracy)
            self._state = dataclasses.replace(
                state,
                batch=state.batch + batches,
                samples_seen=state.samples_seen + samples,
                train_seconds=self._clock(),
            )

    def add_epoch(self, record: EpochRecord) -> None:
        with self._lock:
            self._state.history.append(record)
            self._state = dataclasses.replace(self._state, epoch=record.epoch)

    def start_clock(self) -> None:
        with self._lock:
            self._started = time.perf_counter()

    def _clock(self) -> float:
        if self._started is None:
            return 0.0
        return time.perf_counter() - self._started - self._paused_seconds

    def hold_while_paused(self) -> None:
        """Block the training thread while paused; the pause does not count as training time."""
        if self._resume.is_set():
            return
        with self._lock:
            resumed_status = self._state.status
            self._state = dataclasses.replace(self._state, status=RunStatus.PAUSED)
        held_from = time.perf_counter()
        while not self._resume.wait(HOLD_POLL_SECONDS):
            pass
        with self._lock:
            if self._started is not None:
                self._paused_seconds += time.perf_counter() - held_from
            self._state = dataclasses.replace(self._state, status=resumed_status)

    # --- reading --------------------------------------------------------------------------
    def snapshot(self, batches: bool = True) -> Snapshot:
        """A consistent copy of everything (without the per-batch curves if not asked)."""
        with self._lock:
            state = self._state
            return dataclasses.replace(
                state,
                batch_loss=list(state.batch_loss) if batches else [],
                batch_accuracy=list(state.batch_accuracy) if batches else [],
                history=list(state.history),  # the records are frozen: the list is enough
            )
