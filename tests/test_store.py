"""The SQLite run store."""

import sqlite3

from mnist_app.config import PRESETS
from mnist_app.jobs import shared_manager
from mnist_app.store import FINISHED, INTERRUPTED, QUEUED, RUNNING, RunStore


def test_a_run_round_trips_through_the_file(lab_home):
    store = RunStore(lab_home)
    run_id = store.create(PRESETS["report-v3"], QUEUED, preset="report-v3")
    history = [{"epoch": 1, "loss": 0.5, "accuracy": 0.9, "val_loss": None}]
    store.update(
        run_id,
        status=FINISHED,
        history=history,
        test_accuracy=0.99,
        test_loss=0.03,
        train_seconds=12.5,
        model_path="/x.keras",
    )

    again = RunStore(lab_home).get(run_id)  # a new store object reads the same file
    assert again["config"] == PRESETS["report-v3"]
    assert again["preset"] == "report-v3"
    assert again["status"] == FINISHED
    assert again["history"] == history
    assert (again["test_accuracy"], again["test_loss"], again["train_seconds"]) == (
        0.99,
        0.03,
        12.5,
    )
    assert again["created_at"] <= again["updated_at"]
    assert RunStore(lab_home).get("nope") is None


def test_the_file_is_real_sqlite_in_wal_mode(lab_home):
    store = RunStore(lab_home)
    store.create(PRESETS["chollet-512"], QUEUED)
    with sqlite3.connect(store.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("SELECT count(*) FROM runs").fetchone()[0] == 1


def test_list_is_newest_first_and_filters_by_status(lab_home):
    store = RunStore(lab_home)
    ids = [store.create(PRESETS["chollet-512"], QUEUED) for _ in range(3)]
    store.update(ids[1], status=FINISHED)
    assert [r["id"] for r in store.list()] == ids[::-1]
    assert [r["id"] for r in store.list(status=FINISHED)] == [ids[1]]


def test_runs_left_active_by_a_dead_process_are_marked_interrupted(lab_home):
    store = RunStore(lab_home)
    running = store.create(PRESETS["chollet-512"], RUNNING)
    queued = store.create(PRESETS["chollet-512"], QUEUED)
    done = store.create(PRESETS["chollet-512"], FINISHED)
    # A new process starts: the shared manager recovers the store it opens.
    import mnist_app.jobs as jobs

    jobs._shared = None
    shared_manager()
    statuses = {r["id"]: r["status"] for r in RunStore(lab_home).list()}
    assert statuses == {running: INTERRUPTED, queued: INTERRUPTED, done: FINISHED}
    assert "stopped" in RunStore(lab_home).get(running)["message"]
    jobs._shared = None


def test_unknown_columns_are_refused(lab_home):
    store = RunStore(lab_home)
    run_id = store.create(PRESETS["chollet-512"], QUEUED)
    try:
        store.update(run_id, status=FINISHED, evil="x; DROP TABLE runs")
    except ValueError as error:
        assert "evil" in str(error)
    else:
        raise AssertionError("an unknown column was accepted")
    assert store.get(run_id)["status"] == QUEUED
