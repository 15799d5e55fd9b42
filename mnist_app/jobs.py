"""Background training jobs: a FIFO queue with a per-process limit on concurrent runs."""

from __future__ import annotations

import os
import threading
import traceback
from collections import deque
from dataclasses import dataclass, field

from mnist_app.config import RunConfig
from mnist_app.store import ACTIVE, FAILED, QUEUED, RUNNING, STOPPED, RunStore
from mnist_app.training import Progress, RunResult, train

MAX_TRAININGS_ENV = "MNIST_LAB_MAX_TRAININGS"
KEEP_FINISHED_JOBS = 32  # older finished jobs live on in the store only


@dataclass
class Job:
    """One run handed to the manager: its config and live progress."""

    run_id: str
    config: RunConfig
    preset: str | None
    progress: Progress
    result: RunResult | None = None
    left_queue: threading.Event = field(default_factory=threading.Event)  # started or stopped
    done: threading.Event = field(default_factory=threading.Event)


class TrainingManager:
    """Runs jobs on background threads, `max_concurrent` at a time, first come first served."""

    def __init__(self, store: RunStore, max_concurrent: int | None = None):
        self.store = store
        self.max_concurrent = max_concurrent or int(os.environ.get(MAX_TRAININGS_ENV, "1"))
        if self.max_concurrent < 1:
            raise ValueError(f"{MAX_TRAININGS_ENV} must be at least 1")
        self._jobs: dict[str, Job] = {}
        self._waiting: deque[str] = deque()
        self._running = 0
        self._cond = threading.Condition()

    def submit(self, config: RunConfig, preset: str | None = None, settle: float = 0.0) -> str:
        """Queue a run and return its id; it starts as soon as a slot is free.

        With `settle` > 0 and a free slot, wait up to that many seconds for the run to start, so
        that a page drawn right after shows it training rather than queued for a moment.
        """
        run_id = self.store.create(config, QUEUED, preset)
        job = Job(run_id, config, preset, Progress(config.epochs))
        with self._cond:
            self._forget_old_jobs()
            self._jobs[run_id] = job
            self._waiting.append(run_id)
            self._update_positions()
            free = self._running < self.max_concurrent and len(self._waiting) == 1
        threading.Thread(target=self._run, args=(job,), name=f"train-{run_id}", daemon=True).start()
        if free and settle > 0:
            job.left_queue.wait(settle)
        return run_id

    def job(self, run_id: str) -> Job | None:
        """The live job for a run started by this process, if any."""
        return self._jobs.get(run_id)

    def jobs(self) -> list[Job]:
        return list(self._jobs.values())

    def snapshot(self, run_id: str) -> dict | None:
        """Progress of a run: live if this process trains it, else as the store recorded it."""
        job = self._jobs.get(run_id)
        if job is not None:
            return job.progress.snapshot()
        run = self.store.get(run_id)
        if run is None:
            return None
        # e.g. a run another process (the CLI) trains into the same store, or one from before a
        # restart: per-epoch history only, no per-batch curve.
        progress = Progress(run["config"].epochs)
        progress.update(
            status=run["status"],
            message=run["message"] or "",
            history=run["history"],
            epoch=len(run["history"]),
            train_seconds=run["train_seconds"] or 0.0,
            test_loss=run["test_loss"],
            test_accuracy=run["test_accuracy"],
        )
        return progress.snapshot()

    def is_active(self, run_id: str) -> bool:
        """Whether a run is queued or training: until its job is done, or as the store says."""
        job = self._jobs.get(run_id)
        if job is not None:
            return not job.done.is_set()
        run = self.store.get(run_id)
        return run is not None and run["status"] in ACTIVE

    def stop(self, run_id: str) -> None:
        """Stop a run: a queued one never starts, a running one stops after its current batch."""
        job = self._jobs.get(run_id)
        if job is not None:
            job.progress.request_stop()
            with self._cond:
                self._cond.notify_all()

    def wait(self, run_id: str, timeout: float | None = None) -> RunResult | None:
        """Block until the run ends; its result, or None on timeout."""
        job = self._jobs[run_id]
        job.done.wait(timeout)
        return job.result

    def _forget_old_jobs(self) -> None:
        finished = [run_id for run_id, job in self._jobs.items() if job.done.is_set()]
        for run_id in finished[: max(len(finished) - KEEP_FINISHED_JOBS, 0)]:
            del self._jobs[run_id]

    def _update_positions(self) -> None:
        for position, run_id in enumerate(self._waiting, start=1):
            self._jobs[run_id].progress.update(queue_position=position)

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
            job.progress.update(queue_position=0, status=RUNNING)
            job.left_queue.set()
            return True

    def _run(self, job: Job) -> None:
        try:
            if not self._acquire_slot(job):
                job.result = RunResult(status=STOPPED, message="Stopped before it started.")
                job.progress.update(status=STOPPED, message=job.result.message)
                self.store.update(job.run_id, status=STOPPED, message=job.result.message)
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
        store, run_id = self.store, job.run_id
        store.update(run_id, status=RUNNING)
        try:
            result = train(
                job.config,
                job.progress,
                model_path=store.model_path(run_id),
                on_epoch=lambda _: store.update(run_id, history=job.progress.snapshot()["history"]),
            )
        except Exception as error:  # a failed run is recorded, never lost
            message = f"{type(error).__name__}: {error}"
            job.result = RunResult(status=FAILED, message=message)
            job.progress.update(status=FAILED, message=message)
            store.update(run_id, status=FAILED, message=message + "\n" + traceback.format_exc())
            return
        job.result = result
        result.model = None  # keep the job light; the model lives on in progress.model
        store.update(
            run_id,
            status=result.status,
            history=result.history,
            test_loss=result.test_loss,
            test_accuracy=result.test_accuracy,
            train_seconds=result.train_seconds,
            model_path=result.model_path,
            message=result.message,
        )


_shared: TrainingManager | None = None
_shared_lock = threading.Lock()


def shared_manager() -> TrainingManager:
    """The one manager of this process (CLI, pages), over the default run store."""
    global _shared
    with _shared_lock:
        if _shared is None:
            store = RunStore()
            store.mark_interrupted()
            _shared = TrainingManager(store)
        return _shared
