"""The class server's shared database: runs, models and the class set in one real PostgreSQL,
read and continued from another machine with no shared folder; schema versions and upgrades."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import services
import sqlalchemy as sa
from polling import until

from mnist_app.drawing.predict import load_model
from mnist_app.engine.config import RunConfig
from mnist_app.engine.data import load_mnist, scale_images
from mnist_app.engine.presets import PRESETS
from mnist_app.engine.status import RunStatus
from mnist_app.figures.live import live_view, may_follow, pass_query
from mnist_app.runs import database
from mnist_app.runs.database import SCHEMA_VERSION, StoreError, schema_versions
from mnist_app.runs.jobs import TrainingManager
from mnist_app.runs.owners import ClassRules
from mnist_app.runs.store import RunStore

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WAIT = 300  # seconds: generous for a loaded machine; each run here takes a few
TINY = RunConfig(limit=600, validation_size=200, batch_size=32, epochs=3)


def _train_elsewhere(home, url, *flags: str) -> dict:
    """`python -m mnist_app train` in its own process and folder, as on another machine."""
    env = dict(os.environ, MNIST_LAB_HOME=str(home), MNIST_LAB_DATABASE_URL=url)
    done = subprocess.run(
        [sys.executable, "-m", "mnist_app", "train", "--preset", "chollet-512", "--limit", "600",
         "--epochs", "2", "--validation-size", "0", "--json", *flags],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=WAIT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _predictions(path) -> np.ndarray:
    _, _, x_test, _ = load_mnist()
    model = load_model(path)
    return np.asarray(model.predict_on_batch(scale_images(x_test[:64], "unit")))


def test_a_run_trained_on_one_machine_is_read_and_continued_on_another(
    tmp_path, postgres_url, monkeypatch
):
    machine_a, machine_b = tmp_path / "a", tmp_path / "b"
    result = _train_elsewhere(machine_a, postgres_url)
    run_id = result["run_id"]
    assert not (machine_a / "runs.sqlite3").exists()  # the runs went to PostgreSQL only

    # Machine B has no copy of anything: the run and its model come from the database.
    store_b = RunStore(machine_b, url=postgres_url)
    run = store_b.get(run_id)
    assert run.status is RunStatus.FINISHED and len(run.history) == 2
    assert run.test_accuracy == pytest.approx(result["test_accuracy"])
    path_b = store_b.model_file(run_id)
    assert path_b is not None and path_b.parent == machine_b / "models"
    path_a = machine_a / "models" / f"{run_id}.keras"
    assert path_b.read_bytes() == path_a.read_bytes()
    np.testing.assert_array_equal(_predictions(path_b), _predictions(path_a))
    assert store_b.model_file(run_id) == path_b  # the second read uses the local copy

    # Machine B continues it; machine A then reads B's newer model.
    monkeypatch.setenv("MNIST_LAB_DATABASE_URL", postgres_url)
    manager = TrainingManager(store_b, max_concurrent=1)
    child_id = manager.continue_run(run_id, 1)
    manager.wait(child_id, WAIT)
    child = store_b.get(child_id)
    assert child.status is RunStatus.FINISHED and len(child.history) == 3
    assert child.history[:2] == run.history
    store_a = RunStore(machine_a, url=postgres_url)
    child_on_a = store_a.model_file(child_id)
    assert child_on_a.read_bytes() == (machine_b / "models" / f"{child_id}.keras").read_bytes()

    # Deleting on one machine removes the model for every machine.
    assert store_a.delete(child_id)
    assert store_b.get(child_id) is None and store_b.model_file(child_id) is None


def test_a_newer_copy_in_the_database_replaces_a_stale_local_one(tmp_path, postgres_url):
    writer = RunStore(tmp_path / "writer", url=postgres_url)
    reader = RunStore(tmp_path / "reader", url=postgres_url)
    run_id = writer.create(PRESETS["chollet-512"])
    assert reader.model_file(run_id) is None  # nothing saved yet
    writer.model_path(run_id).write_bytes(b"epoch 1")
    writer.publish_model(run_id)
    assert reader.model_file(run_id).read_bytes() == b"epoch 1"
    writer.model_path(run_id).write_bytes(b"epoch 2")
    writer.publish_model(run_id)
    assert reader.model_file(run_id).read_bytes() == b"epoch 2"
    writer.model_path(run_id).unlink()  # e.g. a run that diverged keeps no model
    writer.publish_model(run_id)
    assert reader.model_file(run_id) is None
    assert not list((tmp_path / "reader" / "models").glob(".saving-*"))  # no half-written copy


def test_every_part_records_its_schema_version(lab_home, database_url):
    from mnist_app.drawing.classset import ClassSet

    store, class_set = RunStore(lab_home), ClassSet(lab_home)
    for engine in (store.engine, class_set.engine):
        with engine.connect() as db:
            versions = dict(db.execute(sa.select(schema_versions)).all())
        assert SCHEMA_VERSION in versions.values()
    with store.engine.connect() as db:
        assert dict(db.execute(sa.select(schema_versions)).all())["runs"] == SCHEMA_VERSION


def test_a_store_made_by_a_newer_version_is_refused_and_left_alone(lab_home, database_url):
    store = RunStore(lab_home)
    run_id = store.create(RunConfig())
    with store.engine.begin() as db:
        db.execute(sa.update(schema_versions).values(version=SCHEMA_VERSION + 1))
    with pytest.raises(StoreError, match=rf"newer MNIST Lab \(schema {SCHEMA_VERSION + 1};"):
        RunStore(lab_home)
    with store.engine.connect() as db:  # nothing was changed by the refusal
        assert db.execute(sa.select(schema_versions.c.version)).scalar() == SCHEMA_VERSION + 1
    assert store.get(run_id) is not None


def test_two_servers_opening_one_new_database_at_once_both_succeed(tmp_path, postgres_url):
    """Replicas of a class server start together: the schema is made once, without a race."""
    script = (
        "import sys; from mnist_app.runs.store import RunStore; "
        "from mnist_app.drawing.classset import ClassSet; "
        "RunStore(sys.argv[1]); ClassSet(sys.argv[1]); print('ok')"
    )
    env = dict(os.environ, MNIST_LAB_DATABASE_URL=postgres_url)
    starts = [
        subprocess.Popen([sys.executable, "-c", script, str(tmp_path / f"r{i}")], cwd=PROJECT_ROOT,
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(4)
    ]  # fmt: skip
    for start in starts:
        out, err = start.communicate(timeout=WAIT)
        assert start.returncode == 0 and out.strip() == "ok", err


def test_a_database_that_goes_away_mid_run_loses_nothing(tmp_path, monkeypatch):
    with services.postgres_server() as server:  # a server of its own, to pull the plug on
        url = services.new_database(server.url, "lab")
        monkeypatch.setenv("MNIST_LAB_DATABASE_URL", url)
        manager = TrainingManager(RunStore(tmp_path / "server", url=url), max_concurrent=1)
        run_id = manager.submit(TINY, paused=True)
        until(lambda: manager.snapshot(run_id).status is RunStatus.PAUSED, "it holds")
        manager.store.set_class_rules(ClassRules(everyone_sees_all=False))
        what = f"run:{run_id}"
        given = pass_query(manager.store, what).removeprefix("&pass=")  # as its page gives it
        server.stop()  # the database goes away before the first batch
        manager.resume(run_id)
        # It trains all its epochs without the database, then waits to save how it ended.
        until(lambda: manager.snapshot(run_id).status is RunStatus.FINISHED
               and manager.snapshot(run_id).store_error, "it waits for the database")  # fmt: skip
        snap = manager.snapshot(run_id)
        assert len(snap.history) == TINY.epochs and "connection" in snap.store_error
        assert "cannot be reached" in live_view(manager, run_id, "en").text
        assert "no se llega a la base de datos" in live_view(manager, run_id, "es").text
        # The live API still answers the run's page, by the rules and the key as last read.
        assert may_follow(manager.store, what, given) and not may_follow(manager.store, what, "")
        server.start()
        manager.wait(run_id, WAIT)
        assert manager.snapshot(run_id).store_error == ""
        # Everything reached the database once it was back, for any machine to read.
        elsewhere = RunStore(tmp_path / "elsewhere", url=url)
        run = elsewhere.get(run_id)
        assert run.status is RunStatus.FINISHED and len(run.history) == TINY.epochs
        assert run.test_accuracy == pytest.approx(snap.test_accuracy)
        assert elsewhere.model_file(run_id) is not None
        # The weight statistics of every epoch (0: before training) were kept until then.
        assert [epoch for epoch, _ in elsewhere.weight_stats(run_id)] == [0, 1, 2, 3]
        database.dispose_engines()
