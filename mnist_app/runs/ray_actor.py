"""A warm trainer: the Ray actor that holds one CPU slot of a worker node for good, with
TensorFlow imported and MNIST loaded, and trains the cluster's queued runs there one after
another (trainer_pool.py keeps them; cluster.py steers their runs).

The queue is the shared database: a run waits there as queued, and a free trainer takes the
oldest with one conditional update that names it the run's trainer. It trains the run with a
TrainingManager of its own, saving every epoch to the database; once the run has ended, its job,
model and Keras' global state are dropped, so the next run starts as in a fresh process, without
the seconds a fresh one takes to import TensorFlow and read MNIST.

A trainer serves the databases that replicas introduce to it (`serve`): an introduction lasts
LEASE_SECONDS, and every replica renews its own while it lives and wakes the trainers when it
queues a run. Ray names the class by this module's path: each worker imports it from the project.
"""

from __future__ import annotations

import contextlib
import gc
import os
import threading
import time
from typing import TYPE_CHECKING

from mnist_app.engine.config import ConfigError
from mnist_app.engine.records import Outcome
from mnist_app.engine.status import RunStatus
from mnist_app.runs.jobs import TrainingManager
from mnist_app.runs.run import UnreadableRunError
from mnist_app.runs.store import CLUSTER_OWNER, RunStore, StoreError

if TYPE_CHECKING:
    from mnist_app.engine.progress import Snapshot
    from mnist_app.runs.training_job import Controls

# Settings a trainer takes from the replicas that serve a database, for that database's runs.
FORWARDED_ENV = ("MNIST_LAB_DATA", "MNIST_LAB_MAX_PARAMS", "MNIST_LAB_MAX_ACTIVATION_MB")
LEASE_SECONDS = 30.0  # a database not introduced again for this long is no longer served
POLL_SECONDS = 1.0  # how often an idle trainer looks for a queued run without being woken
START_SECONDS = 5.0  # how long a command waits for a just-taken run's job to exist


class Trainer:
    """One warm CPU slot of a worker node (a threaded Ray actor; `name` is its Ray name)."""

    def __init__(self, name: str, cpus: int):
        import ray

        _use_cpus(cpus)
        self.ref = trainer_ref(name, ray.get_runtime_context().get_actor_id())
        self._leases: dict[str, float] = {}  # database URL -> when its introduction lapses
        self._settings: dict[str, dict[str, str]] = {}  # URL -> its replicas' forwarded env
        self._managers: dict[str, TrainingManager] = {}
        self._current: tuple[str, TrainingManager, threading.Event] | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        _warm_up()
        threading.Thread(target=self._take_runs, name="trainer", daemon=True).start()

    # --- what replicas call ---------------------------------------------------------------
    def serve(self, url: str, settings: dict[str, str]) -> None:
        """Take runs from the database at `url` for the next LEASE_SECONDS, with the settings
        its replicas run with (MNIST_LAB_MAX_PARAMS, ...); look for one now."""
        with self._lock:
            self._leases[url] = time.monotonic() + LEASE_SECONDS
            self._settings[url] = dict(settings)
        self._wake.set()

    def node(self, run_id: str) -> str | None:
        """The id of the Ray node this trainer is on, if it trains `run_id`."""
        import ray

        return ray.get_runtime_context().get_node_id() if self.training() == run_id else None

    def training(self) -> str | None:
        """The id of the run this trainer trains now, if any."""
        with self._lock:
            return self._current[0] if self._current else None

    def kept(self) -> dict[str, object]:
        """What this trainer still holds: the runs whose job it keeps (only the one it trains)
        and how many Keras models are alive in its process (none between runs)."""
        import keras

        with self._lock:  # the trainer's thread adds and drops managers meanwhile
            managers = list(self._managers.values())
        jobs = sorted({job.run_id for manager in managers for job in manager.jobs()})
        gc.collect()
        models = sum(isinstance(thing, keras.Model) for thing in gc.get_objects())
        return {"runs": jobs, "models": models}

    def snapshot(self, run_id: str) -> Snapshot | None:
        manager = self._manager_of(run_id)
        return manager.snapshot(run_id) if manager else None

    def controls(self, run_id: str) -> Controls | None:
        manager = self._manager_of(run_id)
        return manager.controls(run_id) if manager else None

    def pause(self, run_id: str) -> None:
        if manager := self._manager_of(run_id):
            manager.pause(run_id)

    def resume(self, run_id: str) -> None:
        if manager := self._manager_of(run_id):
            manager.resume(run_id)

    def stop(self, run_id: str) -> None:
        if manager := self._manager_of(run_id):
            manager.stop(run_id)

    def set_learning_rate(self, run_id: str, value: float) -> None:
        if manager := self._manager_of(run_id):
            manager.set_learning_rate(run_id, value)

    # --- taking and training runs ----------------------------------------------------------
    def _manager_of(self, run_id: str) -> TrainingManager | None:
        """The manager training `run_id` here, once its job exists; None if not here."""
        with self._lock:
            current = self._current
        if current is None or current[0] != run_id:
            return None
        current[2].wait(START_SECONDS)
        return current[1]

    def _take_runs(self) -> None:
        while True:
            self._wake.clear()
            taken = self._take()
            if taken is None:
                self._wake.wait(POLL_SECONDS)
            else:
                self._train(*taken)

    def _take(self) -> tuple[str, str, bool] | None:
        """(database URL, run id, whether it starts paused) of the run taken, or None."""
        now = time.monotonic()
        with self._lock:
            for url in [url for url, until in self._leases.items() if until < now]:
                del self._leases[url], self._settings[url]
                if manager := self._managers.pop(url, None):
                    manager.store.engine.dispose()  # no connections left to a database let go
            urls = list(self._leases)
        for url in urls:
            # A database away now (even at its first opening) is asked again next time.
            with contextlib.suppress(StoreError, UnreadableRunError):
                run = self._store(url).claim_queued(CLUSTER_OWNER, self.ref)
                if run is not None:
                    return url, run.id, run.start_paused
        return None

    def _store(self, url: str) -> RunStore:
        with self._lock:
            manager = self._managers.get(url)
        if manager is None:  # made outside the lock: opening a store reads the database
            manager = TrainingManager(RunStore(url=url), max_concurrent=1)
            with self._lock:
                self._managers[url] = manager
        return manager.store

    def _train(self, url: str, run_id: str, paused: bool) -> None:
        """Train the run taken to its end, then keep nothing of it."""
        manager = self._managers[url]
        started = threading.Event()
        with self._lock:
            self._current = (run_id, manager, started)
            _apply(self._settings.get(url, {}))
        try:
            manager.train_stored(run_id, paused=paused)
        except (ConfigError, StoreError, UnreadableRunError) as error:
            with contextlib.suppress(StoreError):
                manager.store.record_outcome(
                    run_id,
                    Outcome(RunStatus.FAILED, str(error), reason=getattr(error, "reason", "")),
                    if_active=True,
                )
            return
        finally:
            started.set()
        try:
            manager.wait(run_id)
        finally:
            with self._lock:
                self._current = None
            manager.release(run_id)
            _forget_keras_state()


def trainer_ref(name: str, actor_id: str) -> str:
    """What a run's row says of its trainer: the name, and which actor of that name (a trainer
    that died is started again under the same name)."""
    return f"{name}:{actor_id}"


def _use_cpus(cpus: int) -> None:
    """TensorFlow in this actor uses the CPUs Ray gave it, not every core of the node."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(cpus)
        tf.config.threading.set_inter_op_parallelism_threads(min(cpus, 2))
    except RuntimeError:  # TensorFlow already started in this worker process
        pass


def _warm_up() -> None:
    """What every run would otherwise wait for: the training code (TensorFlow, Keras) and MNIST,
    read once per process. A missing MNIST is left for the first run to report."""
    import mnist_app.engine.training  # noqa: F401  (the import is the warming)
    from mnist_app.engine.data import DataError, load_mnist

    with contextlib.suppress(DataError, OSError):
        load_mnist()


def _apply(settings: dict[str, str]) -> None:
    """The replicas' forwarded settings, as this process's environment for the next run."""
    for name in FORWARDED_ENV:
        if settings.get(name):
            os.environ[name] = settings[name]
        else:
            os.environ.pop(name, None)


def _forget_keras_state() -> None:
    """Drop Keras' global state (layer names, graphs) and the run's objects."""
    import keras

    keras.backend.clear_session()
    gc.collect()


_remote_trainer = None


def trainer_class():
    """Trainer as a Ray actor class (made once, when the first trainer is asked for)."""
    global _remote_trainer
    if _remote_trainer is None:
        import ray

        # Threaded, so that progress calls answer while it trains; never restarted: a run
        # whose node died is continued from its checkpoint, on purpose, by a user.
        _remote_trainer = ray.remote(max_concurrency=8, max_restarts=0)(Trainer)
    return _remote_trainer
