"""Training on a Ray cluster: each run in a detached Ray actor named by its run id.

With MNIST_LAB_RAY_ADDRESS set (`auto`, `HOST:PORT` or `ray://HOST:10001`),
`managers.shared_manager()` is a ClusterManager instead of the threads of jobs.TrainingManager;
the pages and the CLI use either through the same interface (managers.RunManager). The
actor trains with a TrainingManager of its own on the worker node and writes every epoch's
history and checkpoint to the shared database, so that:

- any replica, on any machine, finds a run's actor by name for its live progress, Pause,
  Continue, Stop and learning rate (Ray's actor calls); the run's row in the database says the
  rest, so a run survives the replica that started it;
- Ray's scheduler is the queue (an actor waits for its CPUs); the page shows the place in it
  from the queued runs in the database;
- an actor that dies with its node is noticed by whichever replica looks next: the run is
  marked interrupted with the reason and continues from its last checkpoint.

The actor is ray_actor.RunActor; joining the cluster is ray_connection's. Ray is imported only
in these three modules, and only when the variable is set (requirements-server.txt).
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
from mnist_app.runs.ray_actor import actor_class
from mnist_app.runs.ray_connection import (
    NAMESPACE,
    RAY_ADDRESS_ENV,
    check_address,
    connect,
    cpus_per_run,
    ray_address,
)
from mnist_app.runs.recorded import stored_snapshot, wait_in_store
from mnist_app.runs.store import CLUSTER_OWNER, Run, RunStore, StoreError
from mnist_app.runs.training_job import Controls

if TYPE_CHECKING:
    import keras

ACTOR_CALL_SECONDS = 5.0  # an actor that does not answer a call in this long is left alone
WATCH_SECONDS = 5.0  # how often a manager looks for actors that died with their node
# Settings a worker's actor takes from the replica that submits the run.
FORWARDED_ENV = ("MNIST_LAB_DATA", "MNIST_LAB_MAX_PARAMS", "MNIST_LAB_MAX_ACTIVATION_MB")
NEW_ACTOR_GRACE = 30.0  # a queued run's actor may take this long to be registered


class ClusterManager:
    """The training manager when runs train on a Ray cluster (a managers.RunManager).

    Every replica has one; none owns the runs. A watcher thread marks interrupted the runs whose
    actor died (a lost worker node); any replica may, and only a still-active row is changed.
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
        # What each actor's process is given: the database it saves to (the store's, password
        # included), where the project is, and the limits this server runs with.
        self.environment = {
            DATABASE_ENV: store.engine.url.render_as_string(hide_password=False),
            "PYTHONPATH": str(PROJECT_ROOT),
        }
        for name in FORWARDED_ENV:
            if os.environ.get(name):
                self.environment[name] = os.environ[name]
        # Actor handles by run id, looked up once: a held handle also tells how its actor died
        # (Ray forgets a dead actor's name, so a fresh lookup would only say it is gone).
        self._handles: dict[str, object] = {}
        self._lock = threading.Lock()
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
        """Queue a run on the cluster and return its id: Ray starts its actor when a node has
        the CPUs. `settle`, `paused` and `start` as TrainingManager.submit."""
        parent = start[0] if start else None
        run_id = self.store.create(
            config, preset, parent=parent, sweep_id=sweep_id, owner=CLUSTER_OWNER, student=student
        )
        actor = (
            actor_class()
            .options(
                name=run_id,
                namespace=NAMESPACE,
                lifetime="detached",
                num_cpus=self.cpus,
                runtime_env={"env_vars": self.environment},
            )
            .remote(run_id, paused, self.cpus)
        )
        actor.run.remote()  # the actor leaves when its run has ended
        with self._lock:
            self._handles[run_id] = actor
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
        """None: no run trains in this process, its model lives in its actor."""
        return {}

    def snapshot(self, run_id: str) -> Snapshot | None:
        """A run's live progress from its actor; the database's account when it is queued,
        has ended, or its actor does not answer."""
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
            return Controls(paused=False, stopping=False)
        answer = self._call(run, "controls")
        return answer if isinstance(answer, Controls) else None

    def stop(self, run_id: str) -> None:
        """Stop a run: one still waiting for CPUs is taken out of Ray's queue at once."""
        run = self.store.get(run_id)
        if run is None or run.owner != CLUSTER_OWNER or not run.status.active:
            return
        if run.status is RunStatus.QUEUED:
            import ray

            actor = self._actor(run_id)
            if actor is not None:
                ray.kill(actor, no_restart=True)
            self._forget(run_id)
            self.store.record_outcome(
                run_id, Outcome(RunStatus.STOPPED, "Stopped before it started."), if_active=True
            )
            return
        self._call(run, "stop", wait=False)

    def pause(self, run_id: str) -> None:
        self._command(run_id, "pause")

    def resume(self, run_id: str) -> None:
        self._command(run_id, "resume")

    def set_learning_rate(self, run_id: str, value: float) -> None:
        check_learning_rate(value)  # here, before the call
        self._command(run_id, "set_learning_rate", value)

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

    def _actor(self, run_id: str, fresh: bool = False):
        """The run's actor handle, or None if Ray has no such actor (it ended, or died).
        `fresh`: ask Ray again rather than trust a handle held from before."""
        import ray

        with self._lock:
            held = None if fresh else self._handles.get(run_id)
        if held is not None:
            return held
        try:
            actor = ray.get_actor(run_id, namespace=NAMESPACE)
        except ValueError:
            self._forget(run_id)
            return None
        with self._lock:
            self._handles[run_id] = actor
        return actor

    def _forget(self, run_id: str) -> None:
        with self._lock:
            self._handles.pop(run_id, None)

    def _command(self, run_id: str, method: str, *args) -> None:
        run = self.store.get(run_id)
        if run is not None and run.owner == CLUSTER_OWNER and run.status.active:
            self._call(run, method, *args, wait=run.status is not RunStatus.QUEUED)

    def _call(self, run: Run, method: str, *args, wait: bool = True):
        """Call the run's actor; its answer, or None if it did not answer in time. An actor
        that died (its node was lost) has its run marked interrupted."""
        import ray
        from ray import exceptions

        actor = self._actor(run.id)
        if actor is None:
            self._lost(run, "its Ray actor is gone")
            return None
        reply = getattr(actor, method).remote(*args)
        if not wait:
            return None
        try:
            return ray.get(reply, timeout=ACTOR_CALL_SECONDS)
        except exceptions.GetTimeoutError:
            return None
        except exceptions.ActorDiedError as error:
            self._lost(run, _death(error))
            return None
        except exceptions.RayError:
            return None

    def _lost(self, run: Run, why: str) -> None:
        """The run's actor is gone: mark it interrupted (if it has not ended meanwhile)."""
        self._forget(run.id)
        fresh = self.store.get(run.id)
        if fresh is None or not fresh.status.active:
            return
        if fresh.status is RunStatus.QUEUED and time.time() - fresh.created_at < NEW_ACTOR_GRACE:
            return  # its actor may not be registered yet
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

    def _watch(self) -> None:
        """Look for runs whose actor died, every WATCH_SECONDS, as long as the process lives."""
        while True:
            time.sleep(WATCH_SECONDS)
            with contextlib.suppress(StoreError):  # the database is away: look again later
                self.check_actors()

    def check_actors(self) -> int:
        """Mark interrupted the cluster's active runs whose actor is gone; how many."""
        lost = 0
        active = self.store.active(owner=CLUSTER_OWNER)
        with self._lock:  # handles of runs that ended are no longer needed
            ended = set(self._handles) - {run.id for run in active}
        for run_id in ended:
            self._forget(run_id)
        for run in active:
            if run.status is RunStatus.QUEUED:
                if self._actor(run.id, fresh=True) is None:
                    self._lost(run, "its Ray actor is gone")
                continue
            self._call(run, "controls")  # a dead actor's run is marked interrupted
            lost += int(not self.store.get(run.id).status.active)
        return lost


def _death(error: Exception) -> str:
    """Why Ray says an actor died, as a short phrase."""
    text = str(error)
    if "node has died" in text or "node died" in text:
        return "the worker node it ran on was lost"
    first = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    return f"its Ray actor died ({first})"


def cluster_manager_factory() -> Callable[[RunStore], ClusterManager] | None:
    """What managers.shared_manager uses when MNIST_LAB_RAY_ADDRESS is set, else None."""
    address = ray_address()
    if address is None:
        return None
    check_address(address)
    cpus = cpus_per_run()
    return lambda store: ClusterManager(store, address, cpus)
