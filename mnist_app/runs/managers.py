"""The one interface of the training managers, and the one place that chooses a manager.

A manager queues runs, trains them and steers them (Pause, Continue, Stop, the learning rate).
There are two: `jobs.TrainingManager` trains on this process's threads, and
`cluster.ClusterManager` trains each run in a Ray actor (MNIST_LAB_RAY_ADDRESS set). Both
satisfy `RunManager`, the pages, the live API and the CLI use only its methods, and
`tests/test_managers.py` runs the same cases against both.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Protocol

from mnist_app.runs.cluster import cluster_manager_factory
from mnist_app.runs.jobs import TrainingManager
from mnist_app.runs.store import RunStore

if TYPE_CHECKING:
    import keras

    from mnist_app.engine.config import RunConfig
    from mnist_app.engine.progress import Snapshot
    from mnist_app.engine.records import Outcome
    from mnist_app.runs.training_job import Controls


class RunManager(Protocol):
    """What the pages, the live API and the CLI ask of a training manager.

    A run is named by the id `submit` returns. Asking about, or steering, a run the store does
    not hold is no error: `snapshot` answers None and the commands do nothing.
    """

    store: RunStore  # where the runs, their epochs and their models are recorded

    def submit(
        self,
        config: RunConfig,
        preset: str | None = None,
        settle: float = 0.0,
        paused: bool = False,
        sweep_id: str | None = None,
        student: str | None = None,
    ) -> str:
        """Queue a run and return its id. `settle`: wait up to that long for it to start;
        `paused`: it holds before its first batch until `resume`; `student`: its owner id."""
        ...

    def continue_run(
        self,
        run_id: str,
        more_epochs: int,
        settle: float = 0.0,
        paused: bool = False,
        student: str | None = None,
    ) -> str:
        """Queue a new run that trains a stopped, interrupted or finished one `more_epochs`
        epochs further; its id. ConfigError names why a run cannot be continued."""
        ...

    def snapshot(self, run_id: str) -> Snapshot | None:
        """A run's progress (live while it trains); None if there is no such run."""
        ...

    def is_active(self, run_id: str) -> bool:
        """Whether a run is queued, training or paused."""
        ...

    def controls(self, run_id: str) -> Controls | None:
        """Whether a run is asked to pause or stop; None if this manager cannot steer it."""
        ...

    def stop(self, run_id: str) -> None:
        """Stop a run: a queued one never starts, a running or paused one stops after its
        batch."""
        ...

    def pause(self, run_id: str) -> None:
        """Hold a run after its current batch (a queued run holds before its first)."""
        ...

    def resume(self, run_id: str) -> None:
        """Let a paused run go on."""
        ...

    def set_learning_rate(self, run_id: str, value: float) -> None:
        """Change a run's learning rate from its next batch on; ValueError if out of range."""
        ...

    def wait(self, run_id: str, timeout: float | None = None) -> Outcome | None:
        """Block until a run this manager started has ended; how it ended, or None on
        timeout."""
        ...

    def models_in_memory(self) -> dict[str, keras.Model]:
        """The models of the runs this process trains, by run id: the Draw page reads with
        them between batches. Empty on a Ray cluster, whose models live in the actors."""
        ...


_shared: RunManager | None = None
_shared_lock = threading.Lock()


def shared_manager() -> RunManager:
    """The one manager of this process (CLI, pages), over the default run store: on the Ray
    cluster MNIST_LAB_RAY_ADDRESS names, else on this process's threads.

    Creating it marks runs whose process is gone as interrupted, and clears model files a
    killed process left half-written.
    """
    global _shared
    with _shared_lock:
        if _shared is None:
            on_cluster = cluster_manager_factory()  # MNIST_LAB_RAY_ADDRESS set: a Ray cluster
            store = RunStore()
            store.mark_interrupted()
            store.remove_stale_temporaries()
            _shared = on_cluster(store) if on_cluster else TrainingManager(store)
        return _shared
