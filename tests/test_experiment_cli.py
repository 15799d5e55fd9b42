"""The experiment commands: sweep, resume, compare, delete, export, with their exact JSON."""

from __future__ import annotations

import csv
import json
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
    assert [set(run) for run in result["runs"]] == [RUN_FIELDS, RUN_FIELDS]
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
