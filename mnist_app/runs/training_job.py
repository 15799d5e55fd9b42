"""A background job: one run handed to the local manager, and how its thread trains it.

The thread trains the run, saves every epoch (history, weight statistics, checkpoint) and records
how it ended, through a database that may go away for a while or a disk that may fill up.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mnist_app.engine.config import RunConfig
from mnist_app.engine.data import Drawings
from mnist_app.engine.progress import Progress
from mnist_app.engine.records import Outcome
from mnist_app.engine.status import RunStatus
from mnist_app.runs.class_drawings import load_drawings
from mnist_app.runs.store import RunStore, StoreError

if TYPE_CHECKING:  # mnist_app.engine.training imports TensorFlow (~3 s): only once a run starts
    from mnist_app.engine.training import RunResult, Start
    from mnist_app.engine.weight_history import EpochWeights

# A database that goes away mid-run: the run trains on, and its end waits this long for it.
STORE_RETRY_SECONDS = 300.0
STORE_RETRY_POLL = 2.0


@dataclass(frozen=True)
class Controls:
    """What has been asked of a run the manager steers: the Train page's buttons follow it."""

    paused: bool  # Pause was asked (it holds, or will after its batch)
    stopping: bool  # Stop was asked


@dataclass
class Job:
    """One run handed to the manager: its config and live progress."""

    run_id: str
    config: RunConfig
    preset: str | None
    progress: Progress
    start: Start | None = None  # where a continued run begins
    result: RunResult | None = None
    left_queue: threading.Event = field(default_factory=threading.Event)  # started or stopped
    done: threading.Event = field(default_factory=threading.Event)
    # Weight statistics (epoch, payload) not yet in the store: it could not be reached.
    unsaved_weights: list[tuple[int, list[dict]]] = field(default_factory=list)

    def train(self, store: RunStore) -> None:
        """Train the run on this thread, saving to `store`; a failed run is recorded too."""
        from mnist_app.engine.training import train

        run_id = self.run_id
        try:
            extra = self._class_drawings(store)
            store.mark_running(run_id)
            result = train(
                self.config,
                self.progress,
                model_path=store.model_path(run_id),
                on_epoch=lambda _: self._record_epoch(store),
                start=self.start,
                on_weights=lambda weights: self._record_weights(store, weights),
                extra=extra,
            )
        except Exception as error:  # a failed run is recorded, never lost
            snap = self.progress.snapshot(batches=False)
            trouble = disk_trouble(error, store.models_dir)
            if trouble is not None:  # its last checkpoint is whole (written, then renamed)
                saved = len(snap.history)
                self.end(
                    store,
                    Outcome(
                        RunStatus.INTERRUPTED,
                        f"Stopped: {trouble}. It keeps its last saved epoch ({saved}): make room "
                        "and continue it.",
                        history=snap.history,
                        train_seconds=snap.train_seconds,
                    ),
                )
                return
            message = f"{type(error).__name__}: {error}"
            self.end(
                store,
                Outcome(
                    RunStatus.FAILED,
                    message + "\n" + traceback.format_exc(),
                    history=snap.history,
                    train_seconds=snap.train_seconds,
                ),
                summary=message,
            )
            return
        self.end(store, result)

    def _class_drawings(self, store: RunStore) -> Drawings | None:
        """The class drawings the run was queued to train on (class_digits), read from the
        class set beside the store, where the trainer runs."""
        if not self.config.class_digits:
            return None
        run = store.get(self.run_id)
        return load_drawings(store.class_set_engine(), run.class_drawings if run else ())

    def _record_epoch(self, store: RunStore) -> None:
        """Save the history so far and, on a shared database, the checkpoint just written.

        A database that went away does not end the run: it trains on with its checkpoint on
        this machine's disk, and the next epoch (or its end) saves everything again.
        """
        snap = self.progress.snapshot(batches=False)
        try:
            self._save_weights(store)
            store.record_epoch(self.run_id, snap.history, snap.train_seconds)
            store.publish_model(self.run_id)
        except StoreError as error:
            self.progress.update(store_error=str(error))
            print(f"run {self.run_id}: epoch {snap.epoch} not saved: {error}", file=sys.stderr)
        else:
            self.progress.update(store_error="")

    def _record_weights(self, store: RunStore, weights: EpochWeights) -> None:
        """Keep an epoch's weight statistics; kept in memory while the store cannot be reached."""
        self.unsaved_weights.append((weights.epoch, weights.payload()))
        with contextlib.suppress(StoreError):  # the epoch's own save says so and tries again
            self._save_weights(store)

    def _save_weights(self, store: RunStore) -> None:
        while self.unsaved_weights:
            epoch, payload = self.unsaved_weights[0]
            store.add_weight_stats(self.run_id, epoch, payload)
            self.unsaved_weights.pop(0)

    def end(self, store: RunStore, outcome: Outcome, summary: str | None = None) -> None:
        """The one way a job ends: its live status, its stored outcome and its result."""
        self.progress.update(status=outcome.status, message=summary or outcome.message)
        deadline = time.monotonic() + STORE_RETRY_SECONDS
        while True:  # a database that went away mid-run gets a while to come back
            try:
                self._save_weights(store)
                # The final model first: whoever sees the run ended (another machine's page,
                # the CLI's --export) reads it, not the last epoch's checkpoint.
                store.publish_model(self.run_id)
                store.record_outcome(self.run_id, outcome)
                break
            except StoreError as error:
                # A full disk does not empty itself: say so now. The next start marks the run
                # interrupted, with the epochs saved so far.
                trouble = disk_trouble(error, store.directory, store.shares_models)
                if trouble is not None or time.monotonic() > deadline:
                    print(
                        f"run {self.run_id}: outcome not saved: {trouble or error}", file=sys.stderr
                    )
                    break
                self.progress.update(store_error=str(error))
                time.sleep(STORE_RETRY_POLL)
        self.progress.update(store_error="")
        # Keep the job light: the trained model lives on in job.progress.model.
        from mnist_app.engine.training import RunResult

        self.result = RunResult(**{**vars(outcome), "model": None})


DISK_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS}  # a disk that takes no more writes
SQLITE_DISK_ERRORS = {"database or disk is full": errno.ENOSPC, "readonly database": errno.EROFS}


def disk_trouble(error: BaseException, folder: Path, remote: bool = False) -> str | None:
    """ "no space left on device (FOLDER)" or the like if `error` came from a full, over-quota
    or read-only disk (where nothing will change by waiting), else None: a database that
    cannot be reached is another matter. `remote`: the database is not on this disk."""
    seen, depth = error, 0
    while seen is not None and depth < 8:
        if isinstance(seen, OSError) and seen.errno in DISK_ERRORS:
            return f"{os.strerror(seen.errno).lower()} ({folder})"
        for words, number in SQLITE_DISK_ERRORS.items():
            if not remote and words in str(seen).lower():
                return f"{os.strerror(number).lower()} ({folder})"
        seen, depth = seen.__cause__ or seen.__context__, depth + 1
    if not remote and isinstance(error, StoreError) and _no_room(folder):
        return f"{os.strerror(errno.ENOSPC).lower()} ({folder})"  # SQLite said "disk I/O error"
    return None


def _no_room(folder: Path) -> bool:
    try:
        return os.statvfs(folder).f_bavail == 0
    except OSError:
        return False
