"""Training on a Ray cluster: the runs wait in the shared database, and warm trainers (Ray
actors that keep a worker's CPU with TensorFlow loaded) take them one by one.

With MNIST_LAB_RAY_ADDRESS set (`auto`, `HOST:PORT` or `ray://HOST:10001`),
`managers.shared_manager()` is a ClusterManager instead of the threads of jobs.TrainingManager;
the pages and the CLI use either through the same interface (managers.RunManager). A trainer
(ray_actor.Trainer) trains each run with a TrainingManager of its own on its worker node and
writes every epoch's history and checkpoint to the shared database, so that:

- any replica, on any machine, finds a run's trainer by the name the database gives for its
  live progress, Pause, Continue, Stop and learning rate (Ray's actor calls); the run's row says
  the rest, so a run survives the replica that started it;
- the database is the queue: a free trainer takes the oldest queued run, and the page shows the
  place in it;
- a trainer that dies with its node is noticed by whichever replica looks next: the run is
  marked interrupted with the reason and continues from its last checkpoint.

The trainers are kept by trainer_pool.py, one per CPU slot; joining the cluster is
ray_connection's. Ray is imported only in these modules, and only when the variable is set
(requirements-server.txt).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from mnist_app.engine.config import ConfigError, RunConfig
from mnist_app.engine.data import PROJECT_ROOT
from mnist_app.engine.progress import Snapshot, check_learning_rate
from mnist_app.engine.records import Outcome
from mnist_app.engine.status import ACTIVE, RunStatus
from mnist_app.runs.continuation import continuation
from mnist_app.runs.database import DATABASE_ENV
from mnist_app.runs.ray_actor import FORWARDED_ENV
from mnist_app.runs.ray_connection import (
    RAY_ADDRESS_ENV,
    check_address,
    connect,
    cpus_per_run,
    ray_address,
)
from mnist_app.runs.recorded import stored_snapshot, wait_in_store
from mnist_app.runs.store import CLUSTER_OWNER, STALE_SECONDS, Run, RunStore, StoreError
from mnist_app.runs.trainer_pool import CALL_SECONDS, TrainerPool
from mnist_app.runs.training_job import Controls

if TYPE_CHECKING:
    import keras

WATCH_SECONDS = 5.0  # how often a manager keeps the trainers and looks for lost runs


class ClusterManager:
    """The training manager when runs train on a Ray cluster (a managers.RunManager).

    Every replica has one; none owns the runs. A watcher thread keeps the trainers and marks
    interrupted the runs whose trainer died (a lost worker node) or forgot them; any replica may,
    and only a still-active row is changed.
    """

    def __init__(self, store: RunStore, address: str, cpus: int | None = None):
        if not store.shares_models:
            raise ConfigError(
                RAY_ADDRESS_ENV,
                f"training on a Ray cluster needs the shared database its workers save runs "
                f"to: set {DATABASE_ENV} too (postgresql://…)",
            )
        self.cpus = cpus or cpus_per_run()
        connect(address)
        self.store = store
        self.address = address
        # The trainers are told the database to take runs from (the store's, password
        # included) and the limits this server runs with; their processes, where the project is.
        self.trainers = TrainerPool(
            store.engine.url.render_as_string(hide_password=False),
            self.cpus,
            {name: os.environ[name] for name in FORWARDED_ENV if os.environ.get(name)},
            {"PYTHONPATH": str(PROJECT_ROOT)},
        )
        self.trainers.keep(wait=False)  # they may take seconds to start: not waited for
        self._closed = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name="ray-watch", daemon=True)
        self._watcher.start()

    # --- what the pages and the CLI call --------------------------------------------------
    def submit(
        self,
        config: RunConfig,
        preset: str | None = None,
        settle: float = 0.0,
        paused: bool = False,
        sweep_id: str | None = None,
        start: tuple[str, object] | None = None,
        student: str | None = None,
    ) -> str:
        """Queue a run on the cluster and return its id: the first trainer free takes it.
        `settle`, `paused` and `start` as TrainingManager.submit."""
        parent = start[0] if start else None
        run_id = self.store.create(
            config,
            preset,
            parent=parent,
            sweep_id=sweep_id,
            owner=CLUSTER_OWNER,
            student=student,
            paused=paused,
        )
        self.trainers.wake()
        deadline = time.monotonic() + settle
        while time.monotonic() < deadline and self._status(run_id) is RunStatus.QUEUED:
            time.sleep(0.1)
        return run_id

    def continue_run(
        self,
        run_id: str,
        more_epochs: int,
        settle: float = 0.0,
        paused: bool = False,
        student: str | None = None,
    ) -> str:
        """A new run continuing a stopped, interrupted or finished one (TrainingManager's)."""
        config, preset, begin = continuation(self.store, run_id, more_epochs, self.is_active)
        return self.submit(config, preset, settle, paused, start=(run_id, begin), student=student)

    def models_in_memory(self) -> dict[str, keras.Model]:
        """None: no run trains in this process, its model lives in its trainer."""
        return {}

    def snapshot(self, run_id: str) -> Snapshot | None:
        """A run's live progress from its trainer; the database's account when it is queued,
        has ended, or its trainer does not answer."""
        run = self.store.get(run_id)
        if run is None:
            return None
        if run.owner != CLUSTER_OWNER or not run.status.active:
            return stored_snapshot(run)
        if run.status is RunStatus.QUEUED:
            return stored_snapshot(run, self._queue_position(run))
        live = self._call(run, "snapshot")
        return live if isinstance(live, Snapshot) else stored_snapshot(self.store.get(run_id))

    def is_active(self, run_id: str) -> bool:
        return self._status(run_id) in ACTIVE

    def controls(self, run_id: str) -> Controls | None:
        run = self.store.get(run_id)
        if run is None or run.owner != CLUSTER_OWNER or not run.status.active:
            return None
        if run.status is RunStatus.QUEUED:
            return Controls(paused=run.start_paused, stopping=False)
        answer = self._call(run, "controls")
        return answer if isinstance(answer, Controls) else None

    def stop(self, run_id: str) -> None:
        """Stop a run: one still waiting for a trainer leaves the queue at once."""
        run = self.store.get(run_id)
        if run is None or run.owner != CLUSTER_OWNER or not run.status.active:
            return
        if run.status is RunStatus.QUEUED and self.store.record_outcome(
            run_id, Outcome(RunStatus.STOPPED, "Stopped before it started."), if_queued=True
        ):
            return
        self._call(self.store.get(run_id), "stop", wait=False)  # a trainer has it

    def pause(self, run_id: str) -> None:
        """Hold a run after its batch; a queued one will hold before its first."""
        if not self.store.hold_queued(run_id, True):
            self._command(run_id, "pause")

    def resume(self, run_id: str) -> None:
        if not self.store.hold_queued(run_id, False):
            self._command(run_id, "resume")

    def set_learning_rate(self, run_id: str, value: float) -> None:
        check_learning_rate(value)  # here, before the call
        self._command(run_id, "set_learning_rate", value=value)

    def wait(self, run_id: str, timeout: float | None = None) -> Outcome | None:
        """Block until the run ends; how it ended, as stored, or None on timeout. KeyError if
        there is no such run."""
        return wait_in_store(self.store, run_id, timeout)

    # --- the actors ---------------------------------------------------------------------------
    def node_of(self, run_id: str) -> str | None:
        """The Ray node a training run is on, or None (queued, ended, or not answering)."""
        run = self.store.get(run_id)
        if run is None or run.owner != CLUSTER_OWNER or run.status not in ACTIVE:
            return None
        return None if run.status is RunStatus.QUEUED else self._call(run, "node")

    def _status(self, run_id: str) -> RunStatus | None:
        run = self.store.get(run_id)
        return None if run is None else run.status

    def _queue_position(self, run: Run) -> int:
        """1 + the cluster's runs queued before this one."""
        return 1 + self.store.queued_before(run)

    def _command(self, run_id: str, method: str, **arguments) -> None:
        run = self.store.get(run_id)
        if run is not None and run.owner == CLUSTER_OWNER and run.status.active:
            self._call(run, method, **arguments)

    def _call(self, run: Run, method: str, wait: bool = True, **arguments):
        """Call the run's trainer about it; its answer, or None if it did not answer in time
        (or has no trainer yet). A trainer that died (its node was lost) has its run marked
        interrupted. Arguments go by name: a Ray client (ray://) that asks for a trainer
        still starting is told signatures that take no others."""
        import ray
        from ray import exceptions

        if run is None or run.trainer is None:
            return None
        trainer = self.trainers.handle(run.trainer)
        if trainer is None:
            self._lost(run, "its Ray trainer is gone")
            return None
        reply = getattr(trainer, method).remote(run_id=run.id, **arguments)
        if not wait:
            return None
        try:
            return ray.get(reply, timeout=CALL_SECONDS)
        except exceptions.GetTimeoutError:
            return None
        except exceptions.ActorDiedError as error:
            self._lost(run, _death(error))
            return None
        except exceptions.RayError:
            return None

    def _lost(self, run: Run, why: str) -> None:
        """The run's trainer is gone: mark it interrupted (if it has not ended meanwhile)."""
        fresh = self.store.get(run.id)
        if fresh is None or not fresh.status.active:
            return
        self.store.record_outcome(
            run.id,
            Outcome(
                RunStatus.INTERRUPTED,
                f"Interrupted on the Ray cluster: {why}. Continue it from its last checkpoint.",
                reason="worker_lost",
                history=fresh.history,
                train_seconds=fresh.train_seconds or 0.0,
            ),
            if_active=True,
        )

    def close(self) -> None:
        """Stop keeping the trainers and watching runs: within LEASE_SECONDS the trainers stop
        taking runs from this manager's database, unless another replica serves it. Runs
        already training go on."""
        self._closed.set()

    def _watch(self) -> None:
        """Keep the trainers and look for lost runs, every WATCH_SECONDS, until closed."""
        from ray.exceptions import RayError

        while not self._closed.wait(WATCH_SECONDS):
            # The database or the cluster is away, or Ray is shut down: look again later.
            with contextlib.suppress(StoreError, RayError):
                self.trainers.keep()
                self.check_actors()

    def check_actors(self) -> int:
        """Mark interrupted the cluster's training runs whose trainer died, or no longer has
        them and has not said a word of them for STALE_SECONDS; how many."""
        lost = 0
        for run in self.store.active(owner=CLUSTER_OWNER):
            if run.status is RunStatus.QUEUED:
                continue  # it waits for a trainer
            answer = self._call(run, "controls")  # a dead trainer's run is marked interrupted
            silent = time.time() - (run.heartbeat_at or 0) > STALE_SECONDS
            if answer is None and silent:
                self._lost(run, "its Ray trainer no longer trains it")
            lost += int(not self.store.get(run.id).status.active)
        return lost


def _death(error: Exception) -> str:
    """Why Ray says an actor died, as a short phrase."""
    text = str(error)
    if "node has died" in text or "node died" in text:
        return "the worker node it ran on was lost"
    first = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    return f"its Ray trainer died ({first})"


def cluster_manager_factory() -> Callable[[RunStore], ClusterManager] | None:
    """What managers.shared_manager uses when MNIST_LAB_RAY_ADDRESS is set, else None."""
    address = ray_address()
    if address is None:
        return None
    check_address(address)
    cpus = cpus_per_run()
    return lambda store: ClusterManager(store, address, cpus)
