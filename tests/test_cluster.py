"""Training on a real local Ray cluster (a head and two worker nodes of one CPU each) with the
runs in a real PostgreSQL: warm trainers that keep nothing of a run once it ends, runs steered
from any replica, the database as the queue, a lost node, a trainer that dies."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from polling import stop_all, until

from mnist_app.engine.config import RunConfig
from mnist_app.engine.status import RunStatus
from mnist_app.experiments.sweeps import Sweep, parse_vary, start_sweep
from mnist_app.figures.live import live_view
from mnist_app.runs import database
from mnist_app.runs.cluster import ClusterManager
from mnist_app.runs.ray_actor import trainer_ref
from mnist_app.runs.ray_connection import NAMESPACE
from mnist_app.runs.store import CLUSTER_OWNER, RunStore
from mnist_app.runs.trainer_pool import trainer_name

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WAIT = 300  # seconds for anything to happen on a loaded machine; a run here takes a few
TINY = RunConfig(limit=600, validation_size=200, batch_size=32, epochs=3)


@pytest.fixture
def replicas(ray_cluster, postgres_url, tmp_path):
    """Two replicas of a class server: a manager each, own folders, one database."""
    pair = [ClusterManager(RunStore(tmp_path / name, url=postgres_url), ray_cluster.address)
            for name in ("a", "b")]  # fmt: skip
    yield pair
    stop_all(pair[0], WAIT)  # one database: a replica stops every run of the class
    for manager in pair:
        manager.close()
    database.dispose_engines()


def trainer_of(manager, run_id):
    """The run's trainer (a Ray actor handle), by the name the database gives."""
    import ray

    name = manager.store.get(run_id).trainer.partition(":")[0]
    return ray.get_actor(name, namespace=NAMESPACE)


def kept_by(trainer) -> tuple[str | None, dict]:
    """What a trainer trains now, and what it still holds: runs' jobs, Keras models."""
    import ray

    return ray.get(trainer.training.remote()), ray.get(trainer.kept.remote())


NOTHING = (None, {"runs": [], "models": 0})


def status_of(manager, run_id):
    return manager.snapshot(run_id).status


def test_a_warm_trainer_trains_a_run_steered_from_another_replica_and_keeps_nothing_of_it(
    replicas,
):
    import ray

    a, b = replicas
    run_id = a.submit(TINY, preset="tiny", paused=True)
    assert a.store.get(run_id).owner == CLUSTER_OWNER
    until(lambda: status_of(b, run_id) is RunStatus.PAUSED, "it holds before its first batch")
    trainer = trainer_of(a, run_id)  # named by its node and slot, in the run's row
    node = b.node_of(run_id)
    assert a.store.get(run_id).trainer == trainer_ref(
        trainer_name(node, 0), trainer._actor_id.hex()
    )
    assert node in {node["NodeID"] for node in ray.nodes() if node["Alive"]}
    assert kept_by(trainer) == (run_id, {"runs": [run_id], "models": 1})
    assert b.controls(run_id).paused and not b.controls(run_id).stopping
    b.set_learning_rate(run_id, 0.02)  # from the other replica, while it holds
    with pytest.raises(ValueError, match="learning_rate"):
        b.set_learning_rate(run_id, -1)
    b.resume(run_id)
    run = a.wait(run_id, WAIT)
    assert run.status is RunStatus.FINISHED and len(run.history) == TINY.epochs
    assert run.history[0].learning_rate == pytest.approx(0.02)
    assert run.test_accuracy > 0.5  # real training on real digits
    # The trainer keeps nothing of the run; both replicas read the model from the database.
    until(lambda: kept_by(trainer) == NOTHING, "the trainer lets the run go")
    assert a.node_of(run_id) is None
    assert b.store.model_file(run_id).read_bytes() == a.store.model_file(run_id).read_bytes()
    assert live_view(b, run_id, "es").status == RunStatus.FINISHED
    # Two more runs take both trainers: the same warm one (not started again) has one of them.
    more = [b.submit(TINY.replace(epochs=1), paused=True) for _ in range(2)]
    for other in more:
        until(lambda other=other: status_of(b, other) is RunStatus.PAUSED, "each holds")
    assert trainer._actor_id in {trainer_of(b, other)._actor_id for other in more}
    for other in more:
        b.resume(other)
    done = [b.wait(other, WAIT) for other in more]
    assert [outcome.status for outcome in done] == [RunStatus.FINISHED] * 2
    # Nothing of what a trainer trained before leaks into a run: the same settings and seed
    # give the same run on both trainers, whatever each trained before.
    assert done[0].history[0].loss == done[1].history[0].loss
    assert done[0].test_accuracy == done[1].test_accuracy
    until(lambda: kept_by(trainer) == NOTHING, "and lets it go too")


def test_the_database_is_the_queue_and_the_page_shows_the_place_in_it(replicas):
    a, b = replicas
    holding = [a.submit(TINY, paused=True) for _ in range(2)]  # one per worker node's trainer
    for run_id in holding:
        until(lambda run_id=run_id: status_of(a, run_id) is RunStatus.PAUSED, "both hold")
    nodes_of = {run_id: a.node_of(run_id) for run_id in holding}
    assert len(set(nodes_of.values())) == 2  # one on each worker node
    waiting = [b.submit(TINY) for _ in range(2)]
    assert [b.snapshot(run_id).queue_position for run_id in waiting] == [1, 2]
    assert b.snapshot(waiting[0]).status is RunStatus.QUEUED
    assert "1" in live_view(a, waiting[0], "en").text
    b.stop(waiting[0])  # taken out of the queue before it starts
    stopped = b.store.get(waiting[0])
    assert stopped.status is RunStatus.STOPPED and "before it started" in stopped.message
    assert b.snapshot(waiting[1]).queue_position == 1
    b.pause(waiting[1])  # held while it waits: it will hold before its first batch
    assert b.controls(waiting[1]).paused
    a.stop(holding[0])  # a trainer comes free: the next in the queue starts
    assert a.wait(holding[0], WAIT).status is RunStatus.STOPPED
    until(lambda: status_of(a, waiting[1]) is RunStatus.PAUSED, "the queued run starts, held")
    assert a.node_of(waiting[1]) == nodes_of[holding[0]]  # on the trainer that came free
    assert a.store.get(waiting[1]).history == []
    b.resume(waiting[1])
    assert b.wait(waiting[1], WAIT).status is RunStatus.FINISHED


def test_a_sweep_fans_out_over_the_worker_nodes(replicas):
    a, _ = replicas
    sweep = Sweep(TINY, (parse_vary("learning_rate=0.001,0.01"),))
    sweep_id = start_sweep(a, sweep, paused=True)
    runs = a.store.sweep_runs(sweep_id)
    for run in runs:
        until(lambda run=run: status_of(a, run.id) is RunStatus.PAUSED, "each run holds")
    assert len({a.node_of(run.id) for run in runs}) == 2  # both nodes train at once
    for run in runs:
        a.resume(run.id)
    done = [a.wait(run.id, WAIT) for run in runs]
    assert [outcome.status for outcome in done] == [RunStatus.FINISHED] * 2
    assert [run.config.learning_rate for run in runs] == [0.001, 0.01]


def test_a_lost_worker_node_interrupts_the_run_which_resumes_from_its_checkpoint(
    replicas, ray_cluster
):
    a, b = replicas
    config = TINY.replace(epochs=200)  # only Pause holds it, only the lost node ends it
    run_id = a.submit(config)
    until(lambda: len(a.store.get(run_id).history) >= 2, "two epochs are saved")
    a.pause(run_id)
    until(lambda: status_of(a, run_id) is RunStatus.PAUSED, "it holds mid-run")
    saved = a.store.get(run_id).history
    node = a.node_of(run_id)
    ray_cluster.remove_worker(node)  # the machine it trains on is gone
    try:
        # Whichever replica looks next notices, and says why.
        until(lambda: b.snapshot(run_id).status is RunStatus.INTERRUPTED, "it is interrupted")
        run = b.store.get(run_id)
        assert run.reason == "worker_lost" and "worker node" in run.message
        assert run.history == saved  # the epochs it finished are kept
        assert b.store.model_file(run_id) is not None  # with the checkpoint of the last one
        child_id = b.continue_run(run_id, 2)
        assert b.wait(child_id, WAIT).status is RunStatus.FINISHED
        child = b.store.get(child_id)
        assert child.parent == run_id
        assert len(child.history) == len(saved) + 2 and child.history[: len(saved)] == saved
        assert b.node_of(child_id) is None  # ended: its trainer let it go
    finally:
        ray_cluster.workers.append(ray_cluster.add_worker())


def test_a_trainer_that_dies_interrupts_its_run_and_is_started_again(replicas):
    import ray

    a, b = replicas
    run_id = a.submit(TINY.replace(epochs=200), paused=True)  # only its trainer's death ends it
    until(lambda: status_of(a, run_id) is RunStatus.PAUSED, "it holds")
    name, node = a.store.get(run_id).trainer.partition(":")[0], a.node_of(run_id)
    ray.kill(trainer_of(a, run_id), no_restart=True)  # its process is gone; the node lives
    until(lambda: b.snapshot(run_id).status is RunStatus.INTERRUPTED, "it is interrupted")
    run = b.store.get(run_id)
    assert run.reason == "worker_lost" and "trainer died" in run.message
    # The replicas start the slot's trainer again (within their watch), and it takes runs.
    until(lambda: _alive(name), "the trainer is back")
    more = [b.submit(TINY.replace(epochs=1), paused=True) for _ in range(2)]  # both trainers
    for other in more:
        until(lambda other=other: status_of(b, other) is RunStatus.PAUSED, "each holds")
    assert name in {b.store.get(other).trainer.partition(":")[0] for other in more}
    assert node in {b.node_of(other) for other in more}
    for other in more:
        b.resume(other)
    assert [b.wait(other, WAIT).status for other in more] == [RunStatus.FINISHED] * 2


def _alive(name: str) -> bool:
    import ray

    try:
        return (
            ray.get(ray.get_actor(name, namespace=NAMESPACE).training.remote(), timeout=5) is None
        )
    except (ValueError, ray.exceptions.RayError):
        return False


def test_a_replica_killed_mid_run_leaves_the_run_training(replicas, postgres_url, ray_cluster,
                                                          tmp_path):  # fmt: skip
    a, b = replicas
    env = dict(
        os.environ,
        MNIST_LAB_HOME=str(tmp_path / "cli"),
        MNIST_LAB_DATABASE_URL=postgres_url,
        MNIST_LAB_RAY_ADDRESS=ray_cluster.address,
    )
    replica = subprocess.Popen(
        [sys.executable, "-m", "mnist_app", "train", "--limit", "600", "--epochs", "200",
         "--validation-size", "0", "--batch-size", "32", "--json"],
        cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        run = until(lambda: next(iter(b.store.active()), None), "the replica submits its run")
        until(lambda: status_of(b, run.id) is RunStatus.RUNNING, "its actor trains it")
        b.pause(run.id)  # held in a known state while its replica dies
        until(lambda: status_of(b, run.id) is RunStatus.PAUSED, "it holds")
    finally:
        replica.send_signal(signal.SIGKILL)
        replica.wait()
    assert b.store.get(run.id).status.active  # the actor did not go with its replica
    held = len(b.store.get(run.id).history)
    b.resume(run.id)
    until(lambda: len(b.store.get(run.id).history) > held, "it trains on after the kill")
    b.stop(run.id)
    done = b.wait(run.id, WAIT)
    assert done.status is RunStatus.STOPPED and len(done.history) > held
    assert b.store.model_file(run.id) is not None


def test_the_cli_trains_on_the_cluster_through_ray_s_client_address(ray_cluster, postgres_url,
                                                                    tmp_path):  # fmt: skip
    """MNIST_LAB_RAY_ADDRESS=ray://HOST:PORT, as from a machine outside the cluster: the run
    trains in an actor, and --export copies this machine's copy of its model, fetched from the
    database (the path the actor saved to is on its own node)."""
    home, target = tmp_path / "laptop", tmp_path / "exported" / "model.keras"
    env = dict(os.environ, MNIST_LAB_HOME=str(home), MNIST_LAB_DATABASE_URL=postgres_url,
               MNIST_LAB_RAY_ADDRESS=ray_cluster.client_address)  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "mnist_app", "train", "--limit", "300", "--epochs", "1",
         "--validation-size", "0", "--json", "--export", str(target)],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=WAIT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    elsewhere = RunStore(tmp_path / "elsewhere", url=postgres_url)
    run = elsewhere.get(outcome["run_id"])
    assert run.owner == CLUSTER_OWNER and run.status is RunStatus.FINISHED  # an actor's run
    assert outcome["status"] == "finished" and outcome["test_accuracy"] == run.test_accuracy
    assert Path(outcome["model_path"]) == home / "models" / f"{run.id}.keras"
    saved = elsewhere.model_file(run.id).read_bytes()
    assert target.read_bytes() == saved == Path(outcome["model_path"]).read_bytes()
