"""The warm trainers of a Ray cluster as one replica keeps them (ray_actor.Trainer): one per
CPU slot of every live node, each a detached actor pinned to its node and named by it, so that
any replica asking for the same slot gets the same trainer (Ray's get_if_exists).

Every WATCH_SECONDS the replica's ClusterManager calls `keep`: trainers for nodes that joined
are started, one that died on a live node is started again, and every trainer is told again
which database this replica serves (its lease); `wake` tells them at once that a run waits.
"""

from __future__ import annotations

import threading

from mnist_app.runs.ray_actor import trainer_class
from mnist_app.runs.ray_connection import NAMESPACE

CALL_SECONDS = 5.0  # a trainer that does not answer a call in this long is left alone


def trainer_name(node_id: str, slot: int) -> str:
    return f"trainer-{node_id[:16]}-{slot}"


class TrainerPool:
    """This replica's handles on the cluster's trainers, and their upkeep."""

    def __init__(self, url: str, cpus: int, settings: dict[str, str], environment: dict[str, str]):
        self.url = url
        self.cpus = cpus
        self.settings = settings  # forwarded to the runs of this replica's database
        self.environment = environment  # each trainer process's own (where the project is)
        self._handles: dict[str, object] = {}  # the trainers kept now, by name
        # Every trainer seen, by actor id, dead ones included: a held handle tells how its
        # trainer died (Ray forgets a dead actor's name), which a run that trained there is told.
        self._seen: dict[str, object] = {}
        self._lock = threading.Lock()

    def wanted(self) -> dict[str, str]:
        """Trainer names wanted now, with their node: one per `cpus` CPUs of each live node."""
        import ray

        names = {}
        for node in ray.nodes():
            if node.get("Alive"):
                node_id = node["NodeID"]
                slots = int(node.get("Resources", {}).get("CPU", 0) // self.cpus)
                names.update({trainer_name(node_id, slot): node_id for slot in range(slots)})
        return names

    def keep(self, wait: bool = True) -> dict[str, str]:
        """Start the trainers missing, and renew this replica's lease with every trainer;
        with `wait`, note within CALL_SECONDS which ones died, to start them again next time.
        The trainers wanted now (`wanted`)."""
        import ray
        from ray import exceptions

        wanted = self.wanted()
        for name, node_id in wanted.items():
            with self._lock:
                held = name in self._handles
            if not held:
                self._start(name, node_id)
        with self._lock:
            replies = {self._serve(self._handles[name]): name for name in wanted}
        if not wait or not replies:
            return wanted
        answered, _ = ray.wait(list(replies), num_returns=len(replies), timeout=CALL_SECONDS)
        for reply in answered:  # those still starting (or busy) are asked again next time
            try:
                ray.get(reply, timeout=0)
            except exceptions.ActorDiedError:  # died on a live node: started again next time
                with self._lock:
                    self._handles.pop(replies[reply], None)
            except exceptions.RayError:
                pass
        return wanted

    def ready(self, timeout: float) -> bool:
        """Whether every trainer wanted now has started and answers, within `timeout` s."""
        import ray

        wanted = self.keep(wait=False)
        with self._lock:
            handles = [self._handles.get(name) for name in wanted]
        if not wanted or None in handles:
            return False
        answers = [handle.training.remote() for handle in handles]
        answered, _ = ray.wait(answers, num_returns=len(answers), timeout=timeout)
        return len(answered) == len(answers)

    def wake(self) -> None:
        """Tell every trainer that a run waits in this replica's database (no answer awaited)."""
        with self._lock:
            handles = list(self._handles.values())
        for handle in handles:
            self._serve(handle)

    def handle(self, ref: str):
        """The handle of the trainer a run's row names (trainer_ref), held or asked of Ray;
        None if Ray has no such actor any more (it, or its name, now another's)."""
        import ray

        name, _, actor_id = ref.partition(":")
        with self._lock:
            seen = self._seen.get(actor_id)
        if seen is not None:
            return seen
        try:
            handle = ray.get_actor(name, namespace=NAMESPACE)
        except ValueError:
            return None
        if handle._actor_id.hex() != actor_id:
            return None
        with self._lock:
            return self._seen.setdefault(actor_id, handle)

    def _serve(self, handle):
        # By name: a Ray client (ray://) asking while the trainer starts is told signatures
        # that take keyword arguments only.
        return handle.serve.remote(url=self.url, settings=self.settings)

    def _start(self, name: str, node_id: str) -> None:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        handle = (
            trainer_class()
            .options(
                name=name,
                namespace=NAMESPACE,
                get_if_exists=True,
                lifetime="detached",
                num_cpus=self.cpus,
                scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False),
                runtime_env={"env_vars": self.environment},
            )
            .remote(name, self.cpus)
        )
        with self._lock:
            self._handles[name] = self._seen[handle._actor_id.hex()] = handle
