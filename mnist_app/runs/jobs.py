"""The local training manager: background jobs on this process's threads, a FIFO queue with a
per-process limit on concurrent runs, and a heartbeat to the store while any are active."""

from __future__ import annotations

import contextlib
import os
import threading
from collections import deque
from typing import TYPE_CHECKING

from mnist_app.engine.config import ConfigError, RunConfig
from mnist_app.engine.progress import Progress, Snapshot, check_learning_rate
from mnist_app.engine.records import Outcome
from mnist_app.engine.status import RunStatus
from mnist_app.runs.continuation import continuation
from mnist_app.runs.recorded import stored_snapshot, wait_in_store
from mnist_app.runs.store import HEARTBEAT_SECONDS, RunStore, StoreError, UnreadableRunError
from mnist_app.runs.training_job import Controls, Job

if TYPE_CHECKING:  # mnist_app.engine.training imports TensorFlow (~3 s): only once a run starts
    import keras

    from mnist_app.engine.training import Start

MAX_TRAININGS_ENV = "MNIST_LAB_MAX_TRAININGS"
KEEP_FINISHED_JOBS = 32  # older finished jobs live on in the store only


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
        run_id = self.store.create(
            config, preset, parent=parent, sweep_id=sweep_id, student=student
        )
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
                raise ConfigError(
                    "run",
                    f"run {run.parent}, which {run_id} continues, has no saved model any more",
                    reason="not_continuable",
                )
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
        return self.submit(config, preset, settle, paused, start=(run_id, begin), student=student)

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

    def release(self, run_id: str) -> None:
        """Drop an ended run's job, and its model with it, from this process (a warm Ray
        trainer does, before it takes the next run); the store keeps its account."""
        with self._cond:
            job = self._jobs.get(run_id)
            if job is not None and job.done.is_set():
                del self._jobs[run_id]

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
                job.end(self.store, Outcome(RunStatus.STOPPED, "Stopped before it started."))
                return
            try:
                job.train(self.store)
            finally:
                with self._cond:
                    self._running -= 1
                    self._cond.notify_all()
        finally:
            job.done.set()
