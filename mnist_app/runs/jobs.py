"""Background training jobs: a FIFO queue with a per-process limit on concurrent runs."""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import threading
import time
import traceback
import zipfile
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mnist_app.engine.config import RANGES, ConfigError, RunConfig
from mnist_app.engine.progress import LIVE_FIGURES, Progress, Snapshot, check_learning_rate
from mnist_app.engine.records import Outcome
from mnist_app.engine.status import RunStatus
from mnist_app.runs.store import (
    HEARTBEAT_SECONDS,
    Run,
    RunInUseError,
    RunStore,
    StoreError,
    UnreadableRunError,
)

if TYPE_CHECKING:  # mnist_app.engine.training imports TensorFlow (~3 s): only once a run starts
    import keras

    from mnist_app.engine.training import RunResult, Start
    from mnist_app.engine.weight_history import EpochWeights

MAX_TRAININGS_ENV = "MNIST_LAB_MAX_TRAININGS"
KEEP_FINISHED_JOBS = 32  # older finished jobs live on in the store only
CONTINUABLE = (RunStatus.STOPPED, RunStatus.INTERRUPTED, RunStatus.FINISHED)
# A database that goes away mid-run: the run trains on, and its end waits this long for it.
STORE_RETRY_SECONDS = 300.0
STORE_RETRY_POLL = 2.0


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


def max_trainings() -> int:
    """$MNIST_LAB_MAX_TRAININGS: how many runs one process trains at once (default 1)."""
    text = os.environ.get(MAX_TRAININGS_ENV, "").strip() or "1"
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(MAX_TRAININGS_ENV, f"{text!r} is not a whole number of at least 1")
    return int(text)


class TrainingManager:
    """Runs jobs on background threads, `max_concurrent` at a time, first come first served
    (a managers.RunManager).

    While it has runs queued or training, a heartbeat thread tells the store every few seconds
    that this process is still alive for them (with their progress figures), so that another
    process sharing the store neither marks them interrupted nor shows them at 0%.
    """

    def __init__(self, store: RunStore, max_concurrent: int | None = None):
        self.store = store
        self.max_concurrent = max_concurrent or max_trainings()
        if self.max_concurrent < 1:
            raise ConfigError(MAX_TRAININGS_ENV, "must be at least 1")
        self._jobs: dict[str, Job] = {}
        self._waiting: deque[str] = deque()
        self._running = 0
        self._cond = threading.Condition()
        self._heartbeat: threading.Thread | None = None

    def submit(
        self,
        config: RunConfig,
        preset: str | None = None,
        settle: float = 0.0,
        paused: bool = False,
        sweep_id: str | None = None,
        start: tuple[str, Start] | None = None,
        student: str | None = None,
    ) -> str:
        """Queue a run and return its id; it starts as soon as a slot is free.

        With `settle` > 0 and a free slot, wait up to that many seconds for the run to start, so
        that a page drawn right after shows it training rather than queued for a moment. With
        `paused`, the run holds before its first batch until `resume` (a run set up in advance).
        `start` is (parent run id, where it ended) for a continued run: see `continue_run`.
        `student` is the owner id of the student who starts it (owners.py).
        """
        parent, begin = start if start else (None, None)
        run_id = self.store.create(config, preset, parent=parent, sweep_id=sweep_id,
                                   student=student)  # fmt: skip
        self._enqueue(run_id, config, preset, begin, paused, settle)
        return run_id

    def train_stored(self, run_id: str, paused: bool = False) -> None:
        """Train a run already stored as queued (by a replica that handed it to a Ray actor,
        which calls this); a continued run starts from its parent's model and epochs."""
        run = self.store.get(run_id)
        if run is None:
            raise ConfigError("run", f"there is no run {run_id}")
        begin = None
        if run.parent is not None:
            from mnist_app.engine.training import Start

            parent = self.store.get(run.parent)
            path = self.store.model_file(run.parent)
            if parent is None or path is None:
                raise ConfigError("run", f"run {run.parent}, which {run_id} continues, has no "
                                  "saved model any more", reason="not_continuable")  # fmt: skip
            begin = Start(path, parent.history)
        self._enqueue(run_id, run.config, run.preset, begin, paused, 0.0)

    def _enqueue(
        self,
        run_id: str,
        config: RunConfig,
        preset: str | None,
        begin: Start | None,
        paused: bool,
        settle: float,
    ) -> None:
        job = Job(run_id, config, preset, Progress(config.epochs), start=begin)
        if begin is not None:  # while it waits, a continued run shows its parent's epochs
            job.progress.update(history=list(begin.history), epoch=len(begin.history))
        if paused:
            job.progress.pause()
        with self._cond:
            self._forget_old_jobs()
            self._jobs[run_id] = job
            self._waiting.append(run_id)
            self._update_positions()
            free = self._running < self.max_concurrent and len(self._waiting) == 1
            self._start_heartbeat()
        threading.Thread(target=self._run, args=(job,), name=f"train-{run_id}", daemon=True).start()
        if free and settle > 0:
            job.left_queue.wait(settle)

    def continue_run(
        self,
        run_id: str,
        more_epochs: int,
        settle: float = 0.0,
        paused: bool = False,
        student: str | None = None,
    ) -> str:
        """Queue a new run that continues a stopped, interrupted or finished one for
        `more_epochs` epochs, from its saved weights and optimizer state; the new run's id.
        The new run is `student`'s, whoever started the one it continues.

        ConfigError names what is wrong: no such run, one that cannot be continued (training,
        diverged, failed or without a saved model), or too many epochs in all.
        """
        config, preset, begin = continuation(self.store, run_id, more_epochs, self.is_active)
        return self.submit(config, preset, settle, paused, start=(run_id, begin),
                           student=student)  # fmt: skip

    def job(self, run_id: str) -> Job | None:
        """The live job for a run started by this process, if any."""
        return self._jobs.get(run_id)

    def jobs(self) -> list[Job]:
        return list(self._jobs.values())

    def models_in_memory(self) -> dict[str, keras.Model]:
        """The models of the runs this process trains (or trained, while it keeps their job),
        by run id, oldest first."""
        jobs = list(self._jobs.values())
        return {job.run_id: job.progress.model for job in jobs if job.progress.model is not None}

    def snapshot(self, run_id: str) -> Snapshot | None:
        """Progress of a run: live if this process trains it, else as the store recorded it.

        None if there is no such run; UnreadableRunError if its stored row no longer parses.
        """
        job = self._jobs.get(run_id)
        if job is not None:
            return job.progress.snapshot()
        run = self.store.get(run_id)
        return None if run is None else stored_snapshot(run)

    def is_active(self, run_id: str) -> bool:
        """Whether a run is queued, training or paused: until its job is done, or as stored."""
        job = self._jobs.get(run_id)
        if job is not None:
            return not job.done.is_set()
        try:
            run = self.store.get(run_id)
        except UnreadableRunError:
            return False
        return run is not None and run.status.active

    def stop(self, run_id: str) -> None:
        """Stop a run: a queued one never starts, a running or paused one stops after its batch."""
        job = self._jobs.get(run_id)
        if job is not None:
            job.progress.request_stop()
            with self._cond:
                self._cond.notify_all()

    def pause(self, run_id: str) -> None:
        """Hold a run after its current batch (a queued run holds before its first batch)."""
        job = self._jobs.get(run_id)
        if job is not None:
            job.progress.pause()

    def resume(self, run_id: str) -> None:
        """Let a paused run go on."""
        job = self._jobs.get(run_id)
        if job is not None:
            job.progress.resume()

    def set_learning_rate(self, run_id: str, value: float) -> None:
        """Change a training run's learning rate from its next batch on (ValueError if out of
        range)."""
        check_learning_rate(value)  # whether or not this process trains the run
        job = self._jobs.get(run_id)
        if job is not None:
            job.progress.set_learning_rate(value)

    def controls(self, run_id: str) -> Controls | None:
        """Whether a run is asked to pause or stop; None if this manager cannot steer it (it
        is not queued or training here)."""
        job = self._jobs.get(run_id)
        if job is None or job.done.is_set():
            return None
        return Controls(paused=job.progress.pause_requested, stopping=job.progress.stop_requested)

    def wait(self, run_id: str, timeout: float | None = None) -> Outcome | None:
        """Block until the run ends; how it ended, or None on timeout. A run another process
        trains is followed in the store; KeyError if there is no such run."""
        job = self._jobs.get(run_id)
        if job is None:
            return wait_in_store(self.store, run_id, timeout)
        job.done.wait(timeout)
        return job.result

    def _forget_old_jobs(self) -> None:
        finished = [run_id for run_id, job in self._jobs.items() if job.done.is_set()]
        for run_id in finished[: max(len(finished) - KEEP_FINISHED_JOBS, 0)]:
            del self._jobs[run_id]

    def _update_positions(self) -> None:
        for position, run_id in enumerate(self._waiting, start=1):
            self._jobs[run_id].progress.update(queue_position=position)

    def _start_heartbeat(self) -> None:
        """Start beating if not already (called with the lock held)."""
        if self._heartbeat is None or not self._heartbeat.is_alive():
            self._heartbeat = threading.Thread(target=self._beat, name="heartbeat", daemon=True)
            self._heartbeat.start()

    def _beat(self) -> None:
        while True:
            with self._cond:
                active = [job for job in self._jobs.values() if not job.done.is_set()]
                if not active:
                    self._heartbeat = None
                    return
            live = {job.run_id: job.progress.snapshot(batches=False).figures() for job in active}
            with contextlib.suppress(StoreError):  # a busy or vanished store must not end it
                self.store.beat(live)
            with self._cond:
                self._cond.wait(HEARTBEAT_SECONDS)

    def _acquire_slot(self, job: Job) -> bool:
        with self._cond:
            while self._running >= self.max_concurrent or self._waiting[0] != job.run_id:
                if job.progress.stop_requested:
                    self._waiting.remove(job.run_id)
                    self._update_positions()
                    self._cond.notify_all()
                    job.left_queue.set()
                    return False
                self._cond.wait(0.5)
            self._waiting.popleft()
            self._running += 1
            self._update_positions()
            job.progress.update(queue_position=0, status=RunStatus.RUNNING)
            job.left_queue.set()
            return True

    def _run(self, job: Job) -> None:
        try:
            if not self._acquire_slot(job):
                self._end(job, Outcome(RunStatus.STOPPED, "Stopped before it started."))
                return
            try:
                self._train(job)
            finally:
                with self._cond:
                    self._running -= 1
                    self._cond.notify_all()
        finally:
            job.done.set()

    def _train(self, job: Job) -> None:
        from mnist_app.engine.training import train

        store, run_id = self.store, job.run_id
        try:
            store.mark_running(run_id)
            result = train(
                job.config,
                job.progress,
                model_path=store.model_path(run_id),
                on_epoch=lambda _: self._record_epoch(job),
                start=job.start,
                on_weights=lambda weights: self._record_weights(job, weights),
            )
        except Exception as error:  # a failed run is recorded, never lost
            snap = job.progress.snapshot(batches=False)
            trouble = disk_trouble(error, store.models_dir)
            if trouble is not None:  # its last checkpoint is whole (written, then renamed)
                saved = len(snap.history)
                self._end(job, Outcome(
                    RunStatus.INTERRUPTED,
                    f"Stopped: {trouble}. It keeps its last saved epoch ({saved}): make room "
                    "and continue it.",
                    history=snap.history, train_seconds=snap.train_seconds,
                ))  # fmt: skip
                return
            message = f"{type(error).__name__}: {error}"
            self._end(
                job,
                Outcome(
                    RunStatus.FAILED,
                    message + "\n" + traceback.format_exc(),
                    history=snap.history,
                    train_seconds=snap.train_seconds,
                ),
                summary=message,
            )
            return
        self._end(job, result)

    def _record_epoch(self, job: Job) -> None:
        """Save the history so far and, on a shared database, the checkpoint just written.

        A database that went away does not end the run: it trains on with its checkpoint on
        this machine's disk, and the next epoch (or its end) saves everything again.
        """
        snap = job.progress.snapshot(batches=False)
        try:
            self._save_weights(job)
            self.store.record_epoch(job.run_id, snap.history, snap.train_seconds)
            self.store.publish_model(job.run_id)
        except StoreError as error:
            job.progress.update(store_error=str(error))
            print(f"run {job.run_id}: epoch {snap.epoch} not saved: {error}", file=sys.stderr)
        else:
            job.progress.update(store_error="")

    def _record_weights(self, job: Job, weights: EpochWeights) -> None:
        """Keep an epoch's weight statistics; kept in memory while the store cannot be reached."""
        job.unsaved_weights.append((weights.epoch, weights.payload()))
        with contextlib.suppress(StoreError):  # the epoch's own save says so and tries again
            self._save_weights(job)

    def _save_weights(self, job: Job) -> None:
        while job.unsaved_weights:
            epoch, payload = job.unsaved_weights[0]
            self.store.add_weight_stats(job.run_id, epoch, payload)
            job.unsaved_weights.pop(0)

    def _end(self, job: Job, outcome: Outcome, summary: str | None = None) -> None:
        """The one way a job ends: its live status, its stored outcome and its result."""
        job.progress.update(status=outcome.status, message=summary or outcome.message)
        deadline = time.monotonic() + STORE_RETRY_SECONDS
        while True:  # a database that went away mid-run gets a while to come back
            try:
                self._save_weights(job)
                # The final model first: whoever sees the run ended (another machine's page,
                # the CLI's --export) reads it, not the last epoch's checkpoint.
                self.store.publish_model(job.run_id)
                self.store.record_outcome(job.run_id, outcome)
                break
            except StoreError as error:
                # A full disk does not empty itself: say so now. The next start marks the run
                # interrupted, with the epochs saved so far.
                trouble = disk_trouble(error, self.store.directory, self.store.shares_models)
                if trouble is not None or time.monotonic() > deadline:
                    print(f"run {job.run_id}: outcome not saved: {trouble or error}",
                          file=sys.stderr)  # fmt: skip
                    break
                job.progress.update(store_error=str(error))
                time.sleep(STORE_RETRY_POLL)
        job.progress.update(store_error="")
        # Keep the job light: the trained model lives on in job.progress.model.
        from mnist_app.engine.training import RunResult

        job.result = RunResult(**{**vars(outcome), "model": None})


@dataclass(frozen=True)
class Controls:
    """What has been asked of a run the manager steers: the Train page's buttons follow it."""

    paused: bool  # Pause was asked (it holds, or will after its batch)
    stopping: bool  # Stop was asked


def continuation(
    store: RunStore, run_id: str, more_epochs: int, is_active: Callable[[str], bool]
) -> tuple[RunConfig, str | None, Start]:
    """What continuing a run for `more_epochs` epochs trains: (config, preset, where it starts).

    ConfigError names what is wrong: no such run, one that cannot be continued (training,
    diverged, failed or without a saved model), or too many epochs in all.
    """
    run = store.get(run_id)
    if run is None:
        raise ConfigError("run", f"there is no run {run_id}")
    if run.status.active or is_active(run_id):
        raise ConfigError("run", str(RunInUseError(run_id)), reason="in_use")
    path = store.model_file(run_id)
    if run.status not in CONTINUABLE or not run.history or path is None:
        raise ConfigError(
            "run",
            f"run {run_id} is {run.status} with {len(run.history)} epochs and "
            f"{'no' if path is None else 'a'} saved model: only a stopped, interrupted or "
            "finished run with a saved model can be continued",
            reason="not_continuable",
        )
    problem = checkpoint_problem(path)
    if problem is not None:  # found now, before a run is made that could only fail
        raise ConfigError(
            "run",
            f"run {run_id}'s checkpoint {path} is broken ({problem}): it cannot be continued; "
            "train the run again",
            reason="broken_checkpoint",
            path=str(path),
        )
    low, high = RANGES["epochs"]
    total = len(run.history) + more_epochs
    if not isinstance(more_epochs, int) or more_epochs < 1 or total > high:
        raise ConfigError(
            "epochs",
            f"{more_epochs!r} more epochs: give 1..{int(high) - len(run.history)} "
            f"(the run has {len(run.history)}, and a run has at most {int(high)})",
        )
    from mnist_app.engine.training import Start

    return run.config.replace(epochs=total), run.preset, Start(path, run.history)


DISK_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS}  # a disk that takes no more writes
SQLITE_DISK_ERRORS = {"database or disk is full": errno.ENOSPC,
                      "readonly database": errno.EROFS}  # fmt: skip


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


def checkpoint_problem(path: Path) -> str | None:
    """What is wrong with a saved .keras model (a zip of its config and weights), or None:
    checked whole (every member's checksum) without loading TensorFlow."""
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
            names = set(archive.namelist())
    except (OSError, zipfile.BadZipFile, EOFError, ValueError) as error:
        return f"not a whole .keras file: {error}"
    if damaged is not None:
        return f"{damaged} inside it is damaged"
    missing = {"config.json", "model.weights.h5"} - names
    if missing:
        return f"not a Keras model: no {', '.join(sorted(missing))} inside it"
    return None


def stored_snapshot(run: Run, queue_position: int = 0) -> Snapshot:
    """A run's progress as the store has it: for a run another process trains (the CLI, a Ray
    actor) or one from before a restart, its per-epoch history and the figures its trainer
    last published."""
    known = _live_figures(run.live) if run.status.active else {}
    train_size, epochs = run.config.train_size, run.config.epochs
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
