"""The Ray actor that trains one run on a worker node, named by its run id (cluster.py drives
it). Ray names the class by this module's path: each worker imports it from the project."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mnist_app.runs.jobs import TrainingManager
from mnist_app.runs.store import RunStore

if TYPE_CHECKING:
    from mnist_app.engine.progress import Snapshot
    from mnist_app.runs.training_job import Controls


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


def actor_class():
    """RunActor as a Ray actor class (made once, when the first run is submitted)."""
    global _remote_actor
    if _remote_actor is None:
        import ray

        # Threaded, so that progress calls answer while `run` waits; never restarted: a run
        # whose node died is continued from its checkpoint, on purpose, by a user.
        _remote_actor = ray.remote(max_concurrency=8, max_restarts=0)(RunActor)
    return _remote_actor
