"""The contract of managers.RunManager: the same cases against both managers, the local one
(threads of this process, SQLite) and the Ray one (actors on the suite's real Ray cluster, a
real PostgreSQL). Runs are held in known states with Pause, never raced."""

from __future__ import annotations

import inspect

import pytest
from conftest import RAY_GROUP
from polling import stop_all, until
from test_cluster import WAIT

from mnist_app.drawing.classset import ClassSet
from mnist_app.engine.config import RunConfig, model_size
from mnist_app.engine.data import load_mnist
from mnist_app.engine.records import Outcome
from mnist_app.engine.status import RunStatus
from mnist_app.experiments.challenge import leaderboard
from mnist_app.runs import database
from mnist_app.runs.challenges import new_challenge
from mnist_app.runs.cluster import ClusterManager
from mnist_app.runs.jobs import TrainingManager
from mnist_app.runs.managers import RunManager
from mnist_app.runs.store import RunStore
from mnist_app.runs.training_job import Controls

TINY = RunConfig(limit=300, validation_size=0, batch_size=32, epochs=1)


@pytest.fixture(
    params=["local", pytest.param("ray", marks=pytest.mark.xdist_group(RAY_GROUP))]  # one cluster
)
def kind(request) -> str:
    return request.param


@pytest.fixture
def manager(kind, request, tmp_path):
    """A manager of each kind on a store of its own; no run is left active afterwards."""
    if kind == "local":
        made: RunManager = TrainingManager(RunStore(tmp_path / "local"), max_concurrent=1)
    else:
        cluster = request.getfixturevalue("ray_cluster")
        url = request.getfixturevalue("postgres_url")
        made = ClusterManager(RunStore(tmp_path / "ray", url=url), cluster.address)
    yield made
    stop_all(made, WAIT)
    if kind == "ray":
        made.close()  # its trainers stop serving this test's database
    database.dispose_engines()


@pytest.fixture
def slots(kind) -> int:
    """How many runs the manager trains at once: one thread here, two worker nodes on Ray."""
    return 1 if kind == "local" else 2


def held(manager: RunManager, config: RunConfig = TINY) -> str:
    """A run submitted paused, once it holds before its first batch; its id."""
    run_id = manager.submit(config, preset="tiny", paused=True)
    until(lambda: manager.snapshot(run_id).status is RunStatus.PAUSED, "it holds")
    return run_id


def test_a_held_run_is_steered_then_ends_with_its_outcome_and_can_be_continued(manager, kind):
    run_id = held(manager)
    assert manager.is_active(run_id)
    assert manager.controls(run_id) == Controls(paused=True, stopping=False)
    assert manager.snapshot(run_id).epoch == 0 and manager.snapshot(run_id).epochs == 1
    assert manager.wait(run_id, 0.2) is None  # it holds: it cannot have ended
    manager.set_learning_rate(run_id, 0.02)  # while it holds: from its first batch on
    with pytest.raises(ValueError, match="learning_rate"):
        manager.set_learning_rate(run_id, -1)
    manager.resume(run_id)

    outcome = manager.wait(run_id, WAIT)
    assert isinstance(outcome, Outcome)  # how it ended, on either manager
    assert outcome.status is RunStatus.FINISHED and outcome.message == ""
    assert len(outcome.history) == 1 and outcome.history[0].learning_rate == pytest.approx(0.02)
    assert 0.5 < outcome.test_accuracy <= 1 and outcome.test_loss > 0  # real digits, learned
    assert outcome.train_seconds > 0 and outcome.precision in ("float32", "bfloat16")
    stored = manager.store.get(run_id)
    assert (stored.status, stored.test_accuracy) == (outcome.status, outcome.test_accuracy)
    assert not manager.is_active(run_id) and manager.controls(run_id) is None
    snap = manager.snapshot(run_id)
    assert snap.status is RunStatus.FINISHED and snap.epoch == 1
    assert snap.test_accuracy == pytest.approx(outcome.test_accuracy)
    assert manager.wait(run_id, 0).status is RunStatus.FINISHED  # an ended run: at once

    # The Draw page reads with the models a manager holds: this process's, none on Ray.
    in_memory = manager.models_in_memory()
    assert list(in_memory) == ([run_id] if kind == "local" else [])
    assert all(model.count_params() > 0 for model in in_memory.values())

    child_id = manager.continue_run(run_id, 1)
    child = manager.wait(child_id, WAIT)
    assert child.status is RunStatus.FINISHED and len(child.history) == 2
    assert child.history[0] == outcome.history[0]  # its parent's epoch, then one more
    assert manager.store.get(child_id).parent == run_id


def test_a_queued_run_knows_its_place_and_stop_ends_queued_and_held_runs(manager, slots):
    holding = [held(manager) for _ in range(slots)]  # every slot taken, held in a known state
    waiting = manager.submit(TINY)
    snap = manager.snapshot(waiting)
    assert snap.status is RunStatus.QUEUED and snap.queue_position == 1
    assert manager.is_active(waiting)
    assert manager.controls(waiting) == Controls(paused=False, stopping=False)

    manager.stop(waiting)  # never starts
    stopped = manager.wait(waiting, WAIT)
    assert stopped.status is RunStatus.STOPPED and stopped.history == []
    assert stopped.message == "Stopped before it started."
    assert manager.store.get(waiting).status is RunStatus.STOPPED

    for run_id in holding:  # a held run stops at once: after one batch at most
        manager.stop(run_id)
        outcome = manager.wait(run_id, WAIT)
        assert outcome.status is RunStatus.STOPPED and outcome.message == "Stopped by the user."
        assert not [epoch for epoch in outcome.history if epoch.complete]
        assert not manager.is_active(run_id)


def test_a_run_the_store_does_not_hold_is_no_error_to_ask_about(manager):
    unknown = "0123456789ab"  # a well-formed run id
    assert manager.snapshot(unknown) is None
    assert not manager.is_active(unknown) and manager.controls(unknown) is None
    for command in (manager.stop, manager.pause, manager.resume):
        command(unknown)  # nothing to do
    manager.set_learning_rate(unknown, 0.01)
    with pytest.raises(ValueError, match="learning_rate"):
        manager.set_learning_rate(unknown, 1e9)  # out of range, whatever the run
    with pytest.raises(KeyError):
        manager.wait(unknown, 0)
    assert unknown not in manager.models_in_memory()
    assert manager.store.get(unknown) is None


@pytest.mark.parametrize("implementation", [TrainingManager, ClusterManager])
def test_both_managers_have_the_interface_s_methods_with_its_parameters_and_return_types(
    implementation,
):
    promised = {name for name in dir(RunManager) if not name.startswith("_")}
    assert {"submit", "wait", "models_in_memory"} <= promised and "job" not in promised
    for name in promised:
        interface = inspect.signature(getattr(RunManager, name))
        actual = inspect.signature(getattr(implementation, name))
        assert actual.return_annotation == interface.return_annotation, name  # one type
        for parameter in interface.parameters.values():  # each taken, by name, with its default
            assert actual.parameters[parameter.name].default == parameter.default, name
            assert actual.parameters[parameter.name].annotation == parameter.annotation, name
        extra = set(actual.parameters) - set(interface.parameters)
        optional = [
            actual.parameters[more].default is not inspect.Parameter.empty for more in extra
        ]
        assert all(optional), name  # what only one manager takes may be left out


def test_a_run_with_class_digits_trains_on_the_drawings_beside_the_store_and_enters_a_challenge(
    manager,
):
    """On Ray the trainer reads them from the shared database, on another process; the run
    enters a class challenge there as on a laptop, and its board measures it."""
    url = manager.store.engine.url.render_as_string(hide_password=False)
    class_set = ClassSet(manager.store.directory, url=url if manager.store.shares_models else None)
    x, y = load_mnist()[2:]
    for i in range(20):
        class_set.add(int(y[i]), x[i])
    split = class_set.split()
    challenge = manager.store.create_challenge(new_challenge("Reto", max_epochs=1))
    run_id = manager.submit(TINY.replace(class_digits=3), preset="tiny")
    manager.store.enter_challenge(challenge, run_id, "Ana")
    assert manager.wait(run_id, WAIT).status is RunStatus.FINISHED
    run = manager.store.get(run_id)
    (entry,) = leaderboard(
        manager.store.challenge(challenge), manager.store.challenge_entries(challenge), True
    ).entries
    assert (entry.run_id, entry.student, entry.epochs) == (run_id, "Ana", TINY.epochs)
    assert entry.seconds == run.train_seconds and entry.test_accuracy == run.test_accuracy
    assert entry.eligible and entry.params == model_size(run.config).total_params
    assert manager.store.get(run_id).class_drawings == split.train
    assert manager.snapshot(run_id).samples_total == 300 + 3 * len(split.train)
