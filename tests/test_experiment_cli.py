"""The experiment commands: sweep, resume, compare, delete, export, with their exact JSON."""

from __future__ import annotations

import csv
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import mnist_app.runs.managers as managers
from mnist_app import cli
from mnist_app.engine.config import RunConfig
from mnist_app.engine.status import RunStatus
from mnist_app.runs.store import RunStore

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SMALL = ["--limit", "300", "--validation-size", "100", "--epochs", "1", "--batch-size", "32"]
RUN_FIELDS = {"run_id", "status", "test_accuracy", "test_loss", "epochs", "seconds", "config"}
# A run in every command's JSON (README, "Command line"): each key and the JSON types it takes.
OPTIONAL_TEXT, OPTIONAL_NUMBER = (str, type(None)), (float, type(None))
RUN_SHAPE = {
    "run_id": str, "id": str, "status": str, "preset": OPTIONAL_TEXT,
    "test_accuracy": OPTIONAL_NUMBER, "test_loss": OPTIONAL_NUMBER, "epochs": int,
    "seconds": OPTIONAL_NUMBER, "train_seconds": OPTIONAL_NUMBER, "precision": str,
    "model_path": OPTIONAL_TEXT, "message": str, "reason": str, "config": dict, "history": list,
    "parent": OPTIONAL_TEXT, "sweep_id": OPTIONAL_TEXT, "class_drawings": list, "label": str,
    "note": str,
    "owner": OPTIONAL_TEXT, "student": OPTIONAL_TEXT, "created_at": float, "updated_at": float,
    "heartbeat_at": OPTIONAL_NUMBER, "live": dict,
}  # fmt: skip


@pytest.fixture(autouse=True)
def fresh_manager(monkeypatch):
    """The CLI builds its manager anew, over this test's store."""
    monkeypatch.setattr(managers, "_shared", None)


def _json_out(argv, capsys) -> tuple[int, dict]:
    code = cli.main(argv)
    return code, json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_a_sweep_prints_its_runs_as_json_and_the_other_commands_use_them(
    lab_home, tmp_path, capsys
):
    done = subprocess.run(
        [sys.executable, "-m", "mnist_app", "sweep", *SMALL, "--vary",
         "learning_rate=0.001,0.01", "--json"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(result) == {"sweep_id", "runs"}
    assert set(RUN_SHAPE) >= RUN_FIELDS  # the sweep's documented fields, in every run's JSON
    assert [set(run) for run in result["runs"]] == [set(RUN_SHAPE), set(RUN_SHAPE)]
    assert [run["config"]["learning_rate"] for run in result["runs"]] == [0.001, 0.01]
    assert all(run["status"] == "finished" and run["epochs"] == 1 for run in result["runs"])
    assert all(0.1 < run["test_accuracy"] <= 1 for run in result["runs"])
    store = RunStore(lab_home)
    first, second = (run["run_id"] for run in result["runs"])
    assert {run.id for run in store.sweep_runs(result["sweep_id"])} == {first, second}

    code, compared = _json_out(["compare", first, second, "--json"], capsys)
    assert code == 0 and compared["differing"] == ["learning_rate"]
    assert [run["name"] for run in compared["runs"]] == ["lr = 0.001", "lr = 0.01"]

    code, resumed = _json_out(["resume", second, "--epochs", "2", "--json"], capsys)
    assert code == 0 and resumed["parent"] == second
    assert resumed["epochs"] == 3  # the parent's epoch counts too
    assert resumed["status"] == "finished" and resumed["config"]["epochs"] == 3
    assert store.get(resumed["run_id"]).parent == second

    target = tmp_path / "exports" / "history.csv"
    assert cli.main(["export", resumed["run_id"], "--csv", str(target)]) == 0
    rows = list(csv.DictReader(target.open()))
    assert [int(row["epoch"]) for row in rows] == [1, 2, 3]

    assert cli.main(["delete", first]) == 0
    assert store.get(first) is None and not store.model_path(first).exists()
    capsys.readouterr()
    assert cli.main(["delete", first]) == 2
    assert f"there is no run {first}" in capsys.readouterr().err


def test_every_command_gives_a_run_the_same_json(lab_home, capsys):
    code, trained = _json_out(["train", *SMALL, "--json"], capsys)
    assert code == 0
    code, swept = _json_out(["sweep", *SMALL, "--vary", "width=16,32", "--json"], capsys)
    assert code == 0
    first, second = (run["run_id"] for run in swept["runs"])
    code, resumed = _json_out(["resume", first, "--epochs", "1", "--json"], capsys)
    assert code == 0
    code, compared = _json_out(["compare", first, second, "--json"], capsys)
    assert code == 0
    code, (reproduced,) = _json_out(
        ["reproduce", "--presets", "dnn-50-50", "--limit", "300", "--epochs", "1", "--json"],
        capsys,
    )
    assert code == 0
    broken = RunStore(lab_home).create(RunConfig())
    with sqlite3.connect(RunStore(lab_home).path) as db:
        db.execute("UPDATE runs SET status='zombie' WHERE id=?", (broken,))
    code, listed = _json_out(["runs", "--json"], capsys)
    assert code == 0

    # A command may add what it alone knows of a run: compare its name, reproduce the
    # notebook's figure. Everything else is the same object, key for key and type for type.
    extras = {"name": str, "reported_accuracy": OPTIONAL_NUMBER}
    readable = [run for run in listed if run["id"] != broken]
    printed = [trained, *swept["runs"], resumed, *compared["runs"], reproduced, *readable]
    assert len(readable) == 5 == len(listed) - 1
    assert all(run["status"] == "finished" for run in printed)
    for run in printed:
        shape = RUN_SHAPE | {key: extras[key] for key in extras if key in run}
        assert set(run) == set(shape), run
        for key, kinds in shape.items():
            assert isinstance(run[key], kinds), (key, run[key])
            assert not isinstance(run[key], bool), (key, run[key])
    assert [set(run) - set(RUN_SHAPE) for run in compared["runs"]] == [{"name"}, {"name"}]
    assert set(reproduced) - set(RUN_SHAPE) == {"reported_accuracy"}

    # The same run reads the same whichever command printed it.
    stored = {run["id"]: run for run in listed}
    assert all(run["run_id"] == run["id"] for run in listed)
    assert all(run["seconds"] == run["train_seconds"] for run in listed)
    assert stored[trained["run_id"]] == trained
    assert stored[resumed["run_id"]] == resumed and resumed["parent"] == first
    assert [stored[run["run_id"]] for run in swept["runs"]] == swept["runs"]
    assert [run | {"name": 0} for run in swept["runs"]] == [
        run | {"name": 0} for run in compared["runs"]
    ]
    assert stored[reproduced["run_id"]] | {"reported_accuracy": 0.97} == reproduced
    assert trained["epochs"] == len(trained["history"]) == 1 and resumed["epochs"] == 2
    assert swept["runs"][0]["sweep_id"] == swept["sweep_id"] and trained["sweep_id"] is None

    # A row that no longer parses keeps the keys, with null where it cannot say.
    unreadable = stored[broken]
    assert unreadable["status"] == "unreadable" and "zombie" in unreadable["message"]
    assert unreadable["run_id"] == broken and isinstance(unreadable["created_at"], float)
    said = {"run_id", "id", "status", "message", "created_at"}
    assert set(unreadable) == set(RUN_SHAPE)
    assert all(unreadable[key] is None for key in set(RUN_SHAPE) - said)


def test_the_readme_names_every_key_of_a_run():
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Command line", 1)[1].split("\n## ", 1)[0]
    assert [key for key in RUN_SHAPE if f'"{key}"' not in section] == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["sweep", "--vary", "speed=1,2"], "error: vary: 'speed' is not a setting"),
        (["sweep", "--vary", "width=16,zero"], "error: width: 'zero' is not a whole number"),
        (["sweep", *SMALL, "--vary", "batch_size=32,1000"], "error: batch_size: batch_size=1000"),
        (["sweep", "--vary", "width=1,2,3,4,5", "--vary", "depth=1,2,3,4,5"],
         "error: vary: 25 runs: a sweep trains at most 24 runs, repeats included"),
        (["sweep", "--vary", "width=16", "--repeats", "9"], "error: repeats: 9 is outside"),
        (["resume", "abc", "--epochs", "1"], "error: run_id: 'abc' is not a run id"),
        (["resume", "0" * 12, "--epochs", "1"], "error: run: there is no run 000000000000"),
        (["compare", "0" * 12], "error: run_ids: compare 2 to 10 different runs, not 1"),
        (["compare", "0" * 12, "1" * 12], "error: run_id: there is no run 000000000000"),
        (["export", "0" * 12, "--csv", "h.csv"], "error: run_id: there is no run 000000000000"),
    ],
)  # fmt: skip
def test_bad_requests_are_refused_naming_the_problem_before_anything_trains(
    argv, message, lab_home, capsys
):
    assert cli.main(argv) == 2
    assert capsys.readouterr().err.strip().startswith(message)
    assert RunStore(lab_home).list() == []


def test_a_training_run_cannot_be_deleted_or_continued(lab_home, capsys):
    manager = managers.shared_manager()
    held = manager.submit(RunConfig(limit=300, validation_size=0, epochs=1), paused=True)
    try:
        assert cli.main(["delete", held]) == 2
        assert "is queued or training: stop it first" in capsys.readouterr().err
        assert cli.main(["resume", held, "--epochs", "1"]) == 2
        assert "is queued or training" in capsys.readouterr().err
    finally:
        manager.stop(held)
        manager.wait(held, 300)
    assert manager.store.get(held).status == RunStatus.STOPPED


def test_reproduce_lessons_prints_each_value_beside_the_notebook(lab_home, capsys):
    """004's batch-1 exercise on 300 images for 1 epoch: the notebook's figures as printed (its
    stale test figure null), ours from the runs just trained; then the same as a table."""
    from mnist_app.experiments.lessons import last_val_accuracy

    argv = ["reproduce", "--lessons", "004-sgd", "--limit", "300", "--epochs", "1"]
    code, result = _json_out([*argv, "--json"], capsys)
    assert code == 0
    assert list(result) == ["lessons"] and len(result["lessons"]) == 1
    (lesson,) = result["lessons"]
    assert list(lesson) == ["lesson", "field", "values"]
    assert (lesson["lesson"], lesson["field"]) == ("004-sgd", "batch_size")
    assert [row["value"] for row in lesson["values"]] == [1, 100]
    assert [list(row) for row in lesson["values"]] == [["value", "notebook", "here"]] * 2
    assert [row["notebook"] for row in lesson["values"]] == [
        {"val_accuracy": 0.959, "test_accuracy": None},
        {"val_accuracy": 0.9671, "test_accuracy": 0.966},
    ]
    store = RunStore(lab_home)
    runs = {run.config.batch_size: run for run in store.rows()}
    assert {run.config.limit for run in runs.values()} == {300}
    for row in lesson["values"]:
        run = runs[row["value"]]
        assert row["here"] == {
            "val_accuracy": last_val_accuracy(run),
            "test_accuracy": run.test_accuracy,
        }
        assert 0 < row["here"]["val_accuracy"] < 1 and 0 < row["here"]["test_accuracy"] < 1
    assert cli.main(argv) == 0
    table = capsys.readouterr().out
    assert "notebook val" in table and "batch_size = 1" in table and "95.90%" in table
