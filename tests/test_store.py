"""The run store, on SQLite files and on PostgreSQL: typed rows, one place for outcomes, owners
that are alive or gone."""

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa

import mnist_app.runs.managers as managers
import mnist_app.runs.store as store_module
from mnist_app.engine.presets import PRESETS
from mnist_app.engine.records import EpochRecord, Outcome
from mnist_app.engine.status import RunStatus
from mnist_app.runs import challenges, model_files, rules, sweeps, weights
from mnist_app.runs.database import RUN_TABLES, SCHEMA_VERSION, runs
from mnist_app.runs.store import Run, RunStore, StoreError, UnreadableRun, UnreadableRunError


def test_a_run_round_trips_through_the_store(lab_home, database_url):
    store = RunStore(lab_home)
    run_id = store.create(PRESETS["report-v3"], preset="report-v3")
    history = [EpochRecord(1, loss=0.5, accuracy=0.9, seconds=3.25, learning_rate=1e-3)]
    store.record_outcome(
        run_id,
        Outcome(RunStatus.FINISHED, history=history, test_accuracy=0.99, test_loss=0.03,
                train_seconds=12.5, model_path="/x.keras"),
    )  # fmt: skip
    again = RunStore(lab_home).get(run_id)  # a new store object reads the same database
    assert isinstance(again, Run) and again.status is RunStatus.FINISHED
    assert again.config == PRESETS["report-v3"] and again.preset == "report-v3"
    assert again.history == history
    assert (again.test_accuracy, again.test_loss, again.train_seconds) == (0.99, 0.03, 12.5)
    assert again.created_at <= again.updated_at
    assert again.owner == f"{socket.gethostname()}:{os.getpid()}"
    assert RunStore(lab_home).get("nope") is None


def test_the_file_is_real_sqlite_in_wal_mode(lab_home):
    store = RunStore(lab_home)
    store.create(PRESETS["chollet-512"])
    with sqlite3.connect(store.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("SELECT count(*) FROM runs").fetchone()[0] == 1


def test_list_is_newest_first_and_filters_by_status(lab_home, database_url):
    store = RunStore(lab_home)
    ids = [store.create(PRESETS["chollet-512"]) for _ in range(3)]
    store.record_outcome(ids[1], Outcome(RunStatus.FINISHED))
    assert [r.id for r in store.list()] == ids[::-1]
    assert [r.id for r in store.list(status=RunStatus.FINISHED)] == [ids[1]]


# A history as the store wrote it when epochs were dicts (training.py, before EpochRecord): a
# stopped epoch (not complete), one that blew up (loss None), no validation set (val_* None).
OLD_HISTORY = [
    {"epoch": 1, "loss": 0.4187, "accuracy": 0.8812, "val_loss": 0.2345, "val_accuracy": 0.931,
     "seconds": 2.718281828, "learning_rate": 0.0010000000474974513, "complete": True},
    {"epoch": 2, "loss": None, "accuracy": 0.1, "val_loss": None, "val_accuracy": None,
     "seconds": 0.5, "learning_rate": 0.5, "complete": False},
]  # fmt: skip


def _stored_history(store, run_id) -> str:
    with store.engine.connect() as db:
        return db.execute(sa.select(runs.c.history).where(runs.c.id == run_id)).scalar_one()


def test_an_old_stored_history_loads_as_records_and_is_written_back_byte_for_byte(
    lab_home, database_url
):
    store = RunStore(lab_home)
    run_id = store.create(PRESETS["report-v3"])
    old_text = json.dumps(OLD_HISTORY)  # what RunStore.record_epoch wrote then
    _change(store, run_id, history=old_text)
    history = store.get(run_id).history
    assert history == [
        EpochRecord(1, loss=0.4187, accuracy=0.8812, val_loss=0.2345, val_accuracy=0.931,
                    seconds=2.718281828, learning_rate=0.0010000000474974513),
        EpochRecord(2, loss=None, accuracy=0.1, seconds=0.5, learning_rate=0.5, complete=False),
    ]  # fmt: skip
    assert [record.to_json() for record in history] == OLD_HISTORY
    store.record_epoch(run_id, history, train_seconds=3.2)
    assert _stored_history(store, run_id) == old_text
    store.record_outcome(run_id, Outcome(RunStatus.STOPPED, history=history))
    assert _stored_history(store, run_id) == old_text


def test_a_hand_written_history_loads_with_what_it_has(lab_home, database_url):
    store = RunStore(lab_home)
    sparse, nameless = store.create(PRESETS["report-v3"]), store.create(PRESETS["report-v3"])
    _change(store, sparse, history=json.dumps([{"epoch": 1, "loss": 1, "accuracy": "high"}]))
    _change(store, nameless, history=json.dumps([{"loss": 0.5}]))
    record = store.get(sparse).history[0]
    assert record == EpochRecord(1, loss=1)  # not a number: None; missing: None, complete
    assert json.dumps(record.to_json()).startswith('{"epoch": 1, "loss": 1, "accuracy": null')
    with pytest.raises(UnreadableRunError, match="no epoch number"):
        store.get(nameless)


def _change(store, run_id, **values):
    """Change a run's row behind the store's back, as another process or a bad write would."""
    with store.engine.begin() as db:
        db.execute(sa.update(runs).where(runs.c.id == run_id).values(**values))


def _set_owner(store, run_id, owner, heartbeat_at):
    _change(store, run_id, status="running", owner=owner, heartbeat_at=heartbeat_at)


def test_only_runs_whose_process_is_gone_are_marked_interrupted(lab_home, database_url):
    store = RunStore(lab_home)
    host = socket.gethostname()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    try:
        ids = {name: store.create(PRESETS["chollet-512"]) for name in
               ("cli", "killed", "silent", "finished", "legacy")}  # fmt: skip
        _set_owner(store, ids["cli"], f"{host}:{alive.pid}", time.time())  # a live CLI run
        _set_owner(store, ids["killed"], f"{host}:{dead.pid}", time.time())  # kill -9'd
        _set_owner(store, ids["silent"], "other-host:1", time.time() - 3600)  # no beat for 1 h
        _set_owner(store, ids["legacy"], None, None)  # from before owners were recorded
        store.record_outcome(ids["finished"], Outcome(RunStatus.FINISHED))
        managers._shared = None  # a server starts: its manager recovers the store it opens
        managers.shared_manager()
        statuses = {r.id: r.status for r in RunStore(lab_home).list()}
        assert statuses == {
            ids["cli"]: RunStatus.RUNNING,
            ids["killed"]: RunStatus.INTERRUPTED,
            ids["silent"]: RunStatus.INTERRUPTED,
            ids["finished"]: RunStatus.FINISHED,
            ids["legacy"]: RunStatus.INTERRUPTED,
        }
        assert "process stopped" in store.get(ids["killed"]).message
    finally:
        alive.kill()
        alive.wait()
        managers._shared = None


def test_a_row_that_no_longer_parses_is_shown_as_unreadable_and_the_rest_still_work(
    lab_home, database_url
):
    store = RunStore(lab_home)
    good = store.create(PRESETS["chollet-512"])
    bad_config = store.create(PRESETS["chollet-512"])
    bad_history = store.create(PRESETS["chollet-512"])
    _change(store, bad_config, config=json.dumps({"width": 5000}))
    _change(store, bad_history, history="{not json")
    assert [r.id for r in store.list()] == [good]
    rows = {row.id: row for row in store.rows()}
    assert isinstance(rows[bad_config], UnreadableRun)
    assert "width: 5000 is outside the allowed range" in rows[bad_config].reason
    assert isinstance(rows[bad_history], UnreadableRun)
    with pytest.raises(UnreadableRunError, match=bad_config):
        store.get(bad_config)
    assert store.get(good).status is RunStatus.QUEUED


def test_an_older_store_gets_the_new_columns_and_keeps_its_runs(lab_home):
    lab_home.mkdir(parents=True)
    with sqlite3.connect(lab_home / "runs.sqlite3") as db:  # the first version's table
        db.execute(
            "CREATE TABLE runs (id TEXT PRIMARY KEY, created_at REAL NOT NULL, updated_at REAL "
            "NOT NULL, status TEXT NOT NULL, preset TEXT, config TEXT NOT NULL, history TEXT NOT "
            "NULL DEFAULT '[]', test_loss REAL, test_accuracy REAL, train_seconds REAL, "
            "model_path TEXT, message TEXT NOT NULL DEFAULT '')"
        )
        db.execute(
            "INSERT INTO runs (id, created_at, updated_at, status, config) VALUES "
            "('0123456789ab', 1, 1, 'finished', ?)",
            (json.dumps(PRESETS["chollet-512"].to_dict()),),
        )
    store = RunStore(lab_home)
    run = store.get("0123456789ab")
    assert run.status is RunStatus.FINISHED and run.owner is None and run.live == {}
    with sqlite3.connect(lab_home / "runs.sqlite3") as db:  # upgraded in place, version noted
        assert db.execute("SELECT version FROM schema_versions WHERE part='runs'").fetchone() == (
            SCHEMA_VERSION,
        )
        columns = {row[1] for row in db.execute("PRAGMA table_info(runs)")}
    assert {"owner", "live", "precision", "sweep_id"} <= columns
    store.set_label("0123456789ab", "de antes", "")  # the new columns are writable
    assert RunStore(lab_home).get("0123456789ab").label == "de antes"


def test_a_home_that_cannot_be_written_gets_a_clear_message(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError, match="cannot use .*a-file.*MNIST_LAB_HOME"):
        RunStore(blocker / "home")


def test_every_part_of_the_store_keeps_its_rows_in_the_tables_it_opens(lab_home, database_url):
    """Each part (runs, sweeps, weight statistics, rules and secrets, model files, challenges)
    reads and writes only tables the store creates and versions at opening, through its one
    engine."""
    parts = [store_module, sweeps, weights, rules, model_files, challenges]
    used = {value for part in parts for value in vars(part).values() if isinstance(value, sa.Table)}
    assert used == set(RUN_TABLES)  # each table opened and versioned is some part's, and only those
    store = RunStore(lab_home)
    run_id = store.create(PRESETS["chollet-512"], sweep_id=store.create_sweep({"vary": "lr"}))
    store.add_weight_stats(run_id, 0, [{"name": "dense"}])
    store.model_path(run_id).write_bytes(b"a model")
    store.publish_model(run_id)
    again = RunStore(lab_home)
    assert again.engine is store.engine  # one engine per database in a process
    assert again.sweep_runs(again.get(run_id).sweep_id)[0].id == run_id
    assert again.weight_stats(run_id) == [(0, [{"name": "dense"}])]
    assert again.secret("signing") == store.secret("signing")
    assert again.model_file(run_id).read_bytes() == b"a model"


def test_the_store_opens_and_reads_without_tensorflow(lab_home):
    """The command line's `runs` and every page read the store; TensorFlow (~3 s and log lines
    on stderr) comes in only with what needs it, such as reading a run's weights back."""
    script = (
        "import sys\n"
        "from mnist_app.runs.store import RunStore\n"
        "store = RunStore(sys.argv[1])\n"
        "print(len(store.list()), store.weight_stats('0123456789ab'), store.sweeps())\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras'}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(lab_home)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["0 [] []", "[]"], done.stdout


def test_a_cluster_s_queue_gives_each_run_to_one_trainer_oldest_first(lab_home, database_url):
    """The database is a Ray cluster's queue (runs.cluster): trainers asking at once each get a
    different run, in the order they were queued; a queued run can be held or stopped until a
    trainer has it, and not after."""
    from concurrent.futures import ThreadPoolExecutor

    store = RunStore(lab_home)
    queued = [store.create(PRESETS["report-v3"], owner="ray", paused=i == 1) for i in range(6)]
    store.create(PRESETS["report-v3"])  # this process's own run: no trainer takes it
    assert store.hold_queued(queued[2], True) and store.get(queued[2]).start_paused
    assert store.record_outcome(queued[5], Outcome(RunStatus.STOPPED, "x"), if_queued=True)
    stores = [RunStore(lab_home) for _ in range(4)]  # four trainers, each its own engine
    with ThreadPoolExecutor(4) as pool:
        taken = list(pool.map(lambda i: stores[i].claim_queued("ray", f"t{i}"), range(4)))
    assert sorted(run.id for run in taken) == sorted(queued[:4])  # each once, the oldest four
    assert {run.trainer for run in taken} == {"t0", "t1", "t2", "t3"}
    assert all(store.get(run.id).status is RunStatus.RUNNING for run in taken)
    paused = {run.id: run.start_paused for run in taken}
    assert [paused[run_id] for run_id in queued[:4]] == [False, True, True, False]
    assert store.claim_queued("ray", "t0").id == queued[4]  # the stopped one is passed over
    assert store.claim_queued("ray", "t0") is None
    # Taken: no longer held or stopped through the queue (the trainer is asked instead).
    assert not store.hold_queued(queued[0], True)
    assert not store.record_outcome(queued[0], Outcome(RunStatus.STOPPED, "x"), if_queued=True)
    assert store.get(queued[0]).status is RunStatus.RUNNING
