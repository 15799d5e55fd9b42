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

Ray is imported only here, and only when the variable is set (requirements-server.txt).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from mnist_app.engine.config import ConfigError, RunConfig
from mnist_app.engine.data import PROJECT_ROOT
from mnist_app.engine.progress import Snapshot, check_learning_rate
from mnist_app.engine.records import Outcome
from mnist_app.engine.status import ACTIVE, RunStatus
from mnist_app.runs.database import DATABASE_ENV, SERVER_REQUIREMENTS
from mnist_app.runs.jobs import (
    Controls,
    TrainingManager,
    continuation,
    stored_snapshot,
    wait_in_store,
)
from mnist_app.runs.store import CLUSTER_OWNER, Run, RunStore, StoreError

if TYPE_CHECKING:
    import keras

RAY_ADDRESS_ENV = "MNIST_LAB_RAY_ADDRESS"
RAY_CPUS_ENV = "MNIST_LAB_RAY_CPUS"  # CPUs each run's actor asks for (default 1)
NAMESPACE = "mnist-lab"
ACTOR_CALL_SECONDS = 5.0  # an actor that does not answer a call in this long is left alone
WATCH_SECONDS = 5.0  # how often a manager looks for actors that died with their node
# Settings a worker's actor takes from the replica that submits the run.
FORWARDED_ENV = ("MNIST_LAB_DATA", "MNIST_LAB_MAX_PARAMS", "MNIST_LAB_MAX_ACTIVATION_MB")
NEW_ACTOR_GRACE = 30.0  # a queued run's actor may take this long to be registered
PROBE_SECONDS = 5.0  # how long a head's port may take to accept a connection
# How long a head that accepts the connection may take to answer as Ray: a port held by
# something else that says nothing would otherwise keep ray.init waiting with no end.
ANSWER_SECONDS = 30.0
# Ray's client server (ray://) starts a server of its own for each client; on a fresh head the
# first of them fails to start about every other time here ("Initialization failure from
# server", after some 40 s), and the next try works: so a ray:// address gets a second try.
CLIENT_TRIES = 2
_ADDRESS = re.compile(r"auto|(ray://)?[A-Za-z0-9.\-\[\]:]+:\d{1,5}")


def ray_address() -> str | None:
    """$MNIST_LAB_RAY_ADDRESS, or None: train in this process's threads."""
    return os.environ.get(RAY_ADDRESS_ENV, "").strip() or None


def cpus_per_run() -> int:
    """$MNIST_LAB_RAY_CPUS: how many CPUs each run's actor takes on its node (default 1)."""
    text = os.environ.get(RAY_CPUS_ENV, "").strip() or "1"
    if not text.isdigit() or not 1 <= int(text) <= 256:
        raise ConfigError(RAY_CPUS_ENV, f"{text!r} is not a whole number from 1 to 256")
    return int(text)


def check_address_form(address: str) -> None:
    """ConfigError unless `address` is written as a Ray address."""
    if not _ADDRESS.fullmatch(address):
        raise ConfigError(
            RAY_ADDRESS_ENV,
            f"{address!r} is not a Ray address: give auto, HOST:PORT (the head's GCS port, "
            "6379 by default) or ray://HOST:10001",
        )


def check_address(address: str) -> None:
    """ConfigError unless `address` is a Ray address and Ray is installed (before anything
    else is opened)."""
    check_address_form(address)
    if importlib.util.find_spec("ray") is None:
        raise ConfigError(
            RAY_ADDRESS_ENV,
            f"names a Ray cluster, but Ray is not installed: pip install -r {SERVER_REQUIREMENTS}",
        )


_joined: str | None = None  # the address this process joined


def connect(address: str) -> None:
    """Join the Ray cluster at `address` (once per process).

    ConfigError names what is wrong: a malformed address, Ray not installed, or no cluster
    answering there (found out in seconds: Ray itself would wait minutes for a head that is
    not there). A ray:// address is tried twice (CLIENT_TRIES).
    """
    global _joined
    check_address(address)
    import ray

    if ray.is_initialized() and address == _joined:
        return
    # Another address than the one this process joined is probed too: it must answer (a test
    # process joins the suite's cluster, then tries addresses where nothing or no Ray answers).
    if address != "auto":
        host, _, port = address.removeprefix("ray://").rpartition(":")
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=PROBE_SECONDS).close()
        except OSError as error:
            raise ConfigError(
                RAY_ADDRESS_ENV,
                f"nothing answers at {address} ({error.strerror or error}): is `ray start "
                "--head` running there, and is the port open?",
            ) from None
        _check_answers_as_ray(address)
    if ray.is_initialized():  # joined elsewhere already: Ray keeps one cluster per process
        return
    tries = CLIENT_TRIES if address.startswith("ray://") else 1
    for attempt in range(1, tries + 1):
        try:
            ray.init(address=address, namespace=NAMESPACE, log_to_driver=False,
                     configure_logging=False)  # fmt: skip
            _joined = address
            return
        except (ConnectionError, RuntimeError, ValueError, TimeoutError) as error:
            text = str(error).strip()
            startup = isinstance(error, ConnectionAbortedError) or "client server" in text
            if attempt < tries and startup:
                continue  # the client server failed to start this client's server: again
            first = text.splitlines()[0] if text else type(error).__name__
            raise ConfigError(
                RAY_ADDRESS_ENV, f"cannot join the Ray cluster at {address}: {first}"
            ) from None


def _check_answers_as_ray(address: str) -> None:
    """ConfigError unless the head at `address` answers Ray's first question within
    ANSWER_SECONDS: its cluster id (a GCS port) or a ping (a ray:// client server)."""
    import grpc
    from ray.core.generated import (
        gcs_service_pb2,
        gcs_service_pb2_grpc,
        ray_client_pb2,
        ray_client_pb2_grpc,
    )

    with grpc.insecure_channel(address.removeprefix("ray://")) as channel:
        try:
            if address.startswith("ray://"):
                ping = ray_client_pb2.ClusterInfoRequest(type=ray_client_pb2.ClusterInfoType.PING)
                ray_client_pb2_grpc.RayletDriverStub(channel).ClusterInfo(
                    ping, timeout=ANSWER_SECONDS
                )
            else:
                gcs_service_pb2_grpc.NodeInfoGcsServiceStub(channel).GetClusterId(
                    gcs_service_pb2.GetClusterIdRequest(), timeout=ANSWER_SECONDS
                )
        except grpc.RpcError as error:
            # Any other answer (e.g. UNAUTHENTICATED from a head with token authentication)
            # came from a Ray head: ray.init takes it from there.
            code = error.code()
            if code not in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE,
                            grpc.StatusCode.UNIMPLEMENTED):  # fmt: skip
                return
            waited = code is grpc.StatusCode.DEADLINE_EXCEEDED
            why = f"no answer in {ANSWER_SECONDS:g} s" if waited else "it does not speak Ray"
            raise ConfigError(
                RAY_ADDRESS_ENV,
                f"{address} accepts connections but is not a Ray head ({why}): is it the "
                "head's GCS port (6379 by default) or its ray:// client port (10001)?",
            ) from None


class RunActor:
    """One run on a worker node: a TrainingManager of its own trains it, saving to the shared
    database; the replicas call these methods by the actor's name (the run id)."""

    def __init__(self, run_id: str, paused: bool, cpus: int):
        _use_cpus(cpus)
        self.run_id = run_id
        self.manager = TrainingManager(RunStore(), max_concurrent=1)
        self.manager.train_stored(run_id, paused=paused)

    def snapshot(self) -> Snapshot | None:
        return self.manager.snapshot(self.run_id)

    def node(self) -> str:
        """The id of the Ray node this run trains on."""
        import ray

        return ray.get_runtime_context().get_node_id()

    def controls(self) -> Controls | None:
        return self.manager.controls(self.run_id)

    def pause(self) -> None:
        self.manager.pause(self.run_id)

    def resume(self) -> None:
        self.manager.resume(self.run_id)

    def stop(self) -> None:
        self.manager.stop(self.run_id)

    def set_learning_rate(self, value: float) -> None:
        self.manager.set_learning_rate(self.run_id, value)

    def run(self) -> None:
        """Return when the run has ended and its outcome is saved; then the actor leaves,
        giving its CPUs to the next run in Ray's queue."""
        import ray

        self.manager.wait(self.run_id)
        ray.actor.exit_actor()


def _use_cpus(cpus: int) -> None:
    """TensorFlow in this actor uses the CPUs Ray gave it, not every core of the node."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(cpus)
        tf.config.threading.set_inter_op_parallelism_threads(min(cpus, 2))
    except RuntimeError:  # TensorFlow already started in this worker process
        pass


_remote_actor = None


def _actor_class():
    global _remote_actor
    if _remote_actor is None:
        import ray

        # Threaded, so that progress calls answer while `run` waits; never restarted: a run
        # whose node died is continued from its checkpoint, on purpose, by a user.
        _remote_actor = ray.remote(max_concurrency=8, max_restarts=0)(RunActor)
    return _remote_actor


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
        self.environment = {DATABASE_ENV: store.engine.url.render_as_string(hide_password=False),
                            "PYTHONPATH": str(PROJECT_ROOT)}  # fmt: skip
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
        run_id = self.store.create(config, preset, parent=parent, sweep_id=sweep_id,
                                   owner=CLUSTER_OWNER, student=student)  # fmt: skip
        actor = _actor_class().options(
            name=run_id, namespace=NAMESPACE, lifetime="detached", num_cpus=self.cpus,
            runtime_env={"env_vars": self.environment},
        ).remote(run_id, paused, self.cpus)  # fmt: skip
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
        return self.submit(config, preset, settle, paused, start=(run_id, begin),
                           student=student)  # fmt: skip

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
