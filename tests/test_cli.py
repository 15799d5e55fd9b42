"""The command line, run as a user would run it."""

import io
import json
import os
import pty
import re
import shlex
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from rich.console import Console

import mnist_app.runs.managers as managers
from mnist_app import cli
from mnist_app.cli import terminal
from mnist_app.cli.shared import config_from_args
from mnist_app.cli.train import export_model
from mnist_app.engine.config import RunConfig
from mnist_app.engine.presets import PRESETS
from mnist_app.engine.progress import Snapshot
from mnist_app.engine.records import EpochRecord, Outcome
from mnist_app.engine.status import RunStatus
from mnist_app.runs.store import RunStore

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")  # colours, cursor moves
# Variables that make rich draw colours even into a pipe; the tests check what it does alone.
RICH_OVERRIDES = ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")
LONG_RUN = ("train", "--epochs", "200", "--limit", "2000", "--validation-size", "0")
DEADLINE = 120  # seconds for any one wait on a subprocess, slow machine included


def _env(home):
    env = {k: v for k, v in os.environ.items() if k not in RICH_OVERRIDES}
    return env | {"MNIST_LAB_HOME": str(home)}


def _cli(*args, env_home):
    return subprocess.run(
        [sys.executable, "-m", "mnist_app", *args],
        cwd=PROJECT_ROOT,
        env=_env(env_home),
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_train_prints_progress_and_json_and_exports_a_model_card(lab_home, tmp_path):
    target = tmp_path / "exported" / "tiny.keras"
    done = _cli(
        "train",
        "--preset",
        "chollet-512",
        "--limit",
        "300",
        "--epochs",
        "2",
        "--batch-size",
        "50",
        "--json",
        "--export",
        str(target),
        env_home=lab_home,
    )
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.splitlines()  # --json: stdout holds the JSON and nothing else
    result = json.loads(line)
    assert result["status"] == "finished"
    assert result["epochs"] == 2
    assert 0.3 < result["test_accuracy"] <= 1 and result["test_loss"] > 0
    assert result["seconds"] > 0
    assert result["config"]["width"] == 512 and result["config"]["limit"] == 300
    card = json.loads(target.with_suffix(".json").read_text())
    assert card["test_accuracy"] == result["test_accuracy"]
    assert card["command"].startswith("python -m mnist_app train --preset chollet-512")
    assert target.stat().st_size > 0

    listing = _cli("runs", env_home=lab_home)
    (row,) = [line.split() for line in listing.stdout.splitlines() if result["run_id"] in line]
    assert row[3:] == ["finished", "chollet-512", "2", f"{result['test_accuracy']:.2%}"]
    assert not ESCAPE.search(listing.stdout)  # a pipe gets plain text, no colours
    (stored,) = json.loads(_cli("runs", "--json", env_home=lab_home).stdout)
    assert stored["id"] == result["run_id"] and stored["status"] == "finished"


def test_into_a_pipe_progress_is_one_plain_line_per_epoch(lab_home):
    done = _cli(
        "train", "--preset", "chollet-512", "--limit", "300", "--epochs", "2", env_home=lab_home
    )
    assert done.returncode == 0, done.stderr
    assert "the notebook reported 97.92%" in done.stdout
    # stderr is a pipe here, as in a log file: one line per epoch, no redrawn bar, no colours.
    epoch_lines = [line for line in done.stderr.splitlines() if line.startswith("epoch ")]
    assert [line.split()[:2] for line in epoch_lines] == [["epoch", "1/2"], ["epoch", "2/2"]]
    assert re.fullmatch(r"epoch 2/2  loss \d\.\d{4}  acc \d\.\d{4}  [\d,]+ img/s", epoch_lines[1])
    assert "\r" not in done.stderr and not ESCAPE.search(done.stderr + done.stdout)


def test_on_a_terminal_progress_is_a_rich_bar(lab_home):
    args = ("train", "--preset", "chollet-512", "--limit", "300", "--epochs", "2")
    code, screen, stdout = _run_on_a_terminal(args, lab_home)
    assert code == 0, screen
    assert "\x1b[" in screen and "\r" in screen  # drawn in colour, redrawn in place
    text = ESCAPE.sub("", screen)
    assert "finished" in text and "100%" in text and "epoch 2/2" in text and "img/s" in text
    assert not re.search(r"^epoch \d+/2  loss", text, re.MULTILINE)  # no log lines
    assert stdout.startswith("finished: test accuracy") and not ESCAPE.search(stdout)


def _start_cli(args, home, stderr) -> subprocess.Popen:
    """`python -m mnist_app ARGS` in its own process, on the store in `home`."""
    return subprocess.Popen(
        [sys.executable, "-m", "mnist_app", *args],
        cwd=PROJECT_ROOT,
        env=_env(home),
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
    )


def _run_on_a_terminal(args, home) -> tuple[int, str, str]:
    """Run the CLI with stderr on a pseudo-terminal; its exit code, the screen, stdout."""
    screen_end, terminal = pty.openpty()
    process = _start_cli(args, home, stderr=terminal)
    os.close(terminal)
    chunks = []

    def read_screen():
        while True:
            try:
                chunk = os.read(screen_end, 4096)
            except OSError:  # the CLI closed the terminal
                return
            if not chunk:
                return
            chunks.append(chunk)

    reader = threading.Thread(target=read_screen, daemon=True)
    reader.start()
    stdout, _ = process.communicate(timeout=300)
    reader.join(DEADLINE)
    os.close(screen_end)
    return process.returncode, b"".join(chunks).decode(errors="replace"), stdout


def _snapshot(status, **fields) -> Snapshot:
    return Snapshot(status, epochs=5, batches_per_epoch=469, samples_total=300_000, **fields)


def _bar_text(snap: Snapshot) -> str:
    """What the bar shows for `snap`, without its colours."""
    screen = io.StringIO()
    with terminal.ProgressBar(Console(file=screen, force_terminal=True, width=160)) as bar:
        bar.show(snap)
    return ESCAPE.sub("", screen.getvalue())


def test_the_bar_shows_status_epoch_batch_speed_time_left_and_last_accuracy():
    history = [EpochRecord(1, loss=0.31, accuracy=0.9123)]
    snap = _snapshot(
        RunStatus.RUNNING, epoch=1, batch=12, history=history, samples_seen=61_536,
        train_seconds=10.0,
    )  # fmt: skip
    text = _bar_text(snap)
    # 61,536 images in 10 s; 238,464 left at that speed: 39 s
    for words in ("running", "21%", "epoch 2/5", "batch 12/469", "6,154 img/s"):
        assert words in text
    assert "0:00:39 left" in text and "acc 0.9123" in text


def test_the_bar_shows_a_queued_run_s_place_and_a_paused_run():
    queued = _bar_text(_snapshot(RunStatus.QUEUED, queue_position=2))
    assert "queued: place 2" in queued and "epoch" not in queued
    paused = _bar_text(_snapshot(RunStatus.PAUSED, epoch=2, batch=40, samples_seen=1000,
                                 train_seconds=1.0))  # fmt: skip
    assert "paused" in paused and "epoch 3/5" in paused


def test_every_setting_has_its_flag_forms_included():
    parser = cli._parser()
    forms = config_from_args(parser.parse_args(["train", "--preset", "lab-default", "--forms"]))
    assert forms == PRESETS["lab-default"].replace(forms=True)
    off = config_from_args(parser.parse_args(["train", "--forms", "--no-forms"]))
    assert off == RunConfig()


def test_bad_flags_get_a_clear_message_and_exit_2(lab_home):
    done = _cli("train", "--dropout", "1.5", env_home=lab_home)
    assert done.returncode == 2
    # The message alone: a bad flag is answered before TensorFlow loads and logs its start-up.
    assert done.stderr.strip() == "error: dropout: 1.5 is outside the allowed range 0.0..0.9"
    done = _cli("train", "--optimizer", "magic", env_home=lab_home)
    assert done.returncode == 2 and "invalid choice" in done.stderr


def test_a_diverging_run_exits_nonzero_with_its_reason(lab_home):
    done = _cli(
        "train",
        "--limit",
        "400",
        "--epochs",
        "3",
        "--optimizer",
        "sgd",
        "--learning-rate",
        "10",
        "--scaling",
        "none",
        "--depth",
        "3",
        "--width",
        "256",
        "--validation-size",
        "0",
        "--json",
        env_home=lab_home,
    )
    assert done.returncode == 1
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["status"] == "diverged" and "learning rate" in result["message"]
    assert "Traceback" not in done.stderr  # the epoch log copes with a loss that blew up


def test_reproduce_prints_reported_vs_ours(lab_home):
    done = _cli(
        "reproduce",
        "--presets",
        "slides-sigmoid,dnn-50-50",
        "--limit",
        "500",
        "--epochs",
        "1",
        env_home=lab_home,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0].split() == ["preset", "reported", "ours", "epochs", "seconds", "status"]
    assert set(lines[1]) == {"─"}  # the rule under the header
    rows = {line.split()[0]: line.split() for line in lines[2:]}
    assert rows["slides-sigmoid"][1] == "9.80%" and rows["dnn-50-50"][1] == "97.00%"
    assert rows["dnn-50-50"][2].endswith("%") and rows["dnn-50-50"][-1] == "finished"
    assert not ESCAPE.search(done.stdout + done.stderr)


def test_a_preset_without_a_reported_figure_shows_a_dash():
    row = {"preset": "fast-cnn", "reported_accuracy": None, "test_accuracy": 0.991,
           "epochs": 2, "seconds": 17.0, "status": "finished"}  # fmt: skip
    screen = io.StringIO()
    Console(file=screen, width=200).print(terminal.reproduce_table([row]))
    assert screen.getvalue().splitlines()[2].split() == [
        "fast-cnn", "—", "99.10%", "2", "17.0", "finished"
    ]  # fmt: skip


def test_runs_shows_unreadable_rows_with_their_reason(lab_home, capsys):
    store = RunStore(lab_home)
    good = store.create(RunConfig(), preset="chollet-512")
    store.record_outcome(good, Outcome(RunStatus.FINISHED, test_accuracy=0.98, test_loss=0.07))
    broken = store.create(RunConfig())
    with sqlite3.connect(store.path) as db:
        db.execute("UPDATE runs SET status='zombie [bold]' WHERE id=?", (broken,))

    assert cli.main(["runs"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[-4:] == ["test", "acc", "why", "unreadable"]
    (line,) = [line for line in out.splitlines() if broken in line]
    assert "unreadable" in line and "'zombie [bold]' is not a valid RunStatus" in line
    (line,) = [line for line in out.splitlines() if good in line]
    assert line.split()[3:] == ["finished", "chollet-512", "0", "98.00%"]
    assert not ESCAPE.search(out)

    assert cli.main(["runs", "--json"]) == 0
    rows = {row["id"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows[broken]["status"] == "unreadable" and "zombie" in rows[broken]["message"]
    assert rows[good]["test_accuracy"] == 0.98


def _refused(argv, capsys) -> str:
    """Run the CLI in this process: it must exit 2 with one line on stderr; that line."""
    code = cli.main(argv)
    captured = capsys.readouterr()
    assert code == 2, captured.err
    assert captured.out == "" and "Traceback" not in captured.err
    (line,) = captured.err.splitlines()
    return line


KNOWN = "known: chollet-512, mlp-64-64, report-v1, report-v2, report-v3, slides-sigmoid"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--presets", ""], f"error: --presets: give at least one preset slug ({KNOWN}"),
        (["--presets", " , "], f"error: --presets: give at least one preset slug ({KNOWN}"),
        (["--presets", "chollet-512,nope"], f"error: --presets: unknown preset(s) nope ({KNOWN}"),
        (["--epochs", "0"], "error: --epochs: 0 is outside the allowed range 1..200"),
        (["--epochs", "-2"], "error: --epochs: -2 is outside the allowed range 1..200"),
        (["--epochs", "201"], "error: --epochs: 201 is outside the allowed range 1..200"),
        (["--limit", "0"], "error: --limit: 0 is outside the allowed range 1..60000"),
        (["--limit", "-100"], "error: --limit: -100 is outside the allowed range 1..60000"),
        (
            ["--presets", "dnn-50-50", "--limit", "50"],
            "error: preset dnn-50-50: batch_size: 100 is larger than the training set (50 images)",
        ),
    ],
)
def test_reproduce_refuses_bad_flags_before_training_anything(flags, message, lab_home, capsys):
    line = _refused(["reproduce", *flags], capsys)
    assert line.startswith(message)
    assert RunStore(lab_home).list() == []


@pytest.fixture
def fresh_manager(monkeypatch):
    """The CLI builds its manager anew, from this test's environment."""
    monkeypatch.setattr(managers, "_shared", None)


def test_a_bad_max_trainings_is_one_line_and_exit_2(lab_home, capsys, monkeypatch, fresh_manager):
    monkeypatch.setenv("MNIST_LAB_MAX_TRAININGS", "abc")
    line = _refused(["train", "--limit", "300", "--epochs", "1"], capsys)
    assert line == "error: MNIST_LAB_MAX_TRAININGS: 'abc' is not a whole number of at least 1"
    assert RunStore(lab_home).list() == []


@pytest.mark.parametrize("command", [["train", "--limit", "300", "--epochs", "1"], ["runs"]])
def test_a_home_that_cannot_be_written_is_one_line_and_exit_2(
    command, tmp_path, capsys, monkeypatch, fresh_manager
):
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    monkeypatch.setenv("MNIST_LAB_HOME", str(a_file / "home"))
    line = _refused(command, capsys)
    assert line.startswith(f"error: cannot use {a_file / 'home'} for runs")
    assert line.endswith("make it writable or point MNIST_LAB_HOME at a folder that is")
    assert a_file.read_text() == "not a folder"


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("folder", "{target} is a folder; give a file name ending in .keras"),
        ("model.h5", "{target}: the model is saved as a .keras file; give a file name ending in"),
        ("model", "{target}: the model is saved as a .keras file; give a file name ending in"),
        ("a-file/sub/model.keras", "cannot make the folder {parent}: {exports}/a-file is a file"),
    ],
)
def test_export_is_refused_before_training(target, message, tmp_path, lab_home, capsys):
    exports = tmp_path / "exports"
    (exports / "folder").mkdir(parents=True)
    (exports / "a-file").write_text("not a folder")
    before = sorted(exports.rglob("*"))
    path = exports / target
    line = _refused(["train", "--limit", "300", "--epochs", "1", "--export", str(path)], capsys)
    expected = message.format(target=path, parent=path.parent, exports=exports)
    assert line.startswith(f"error: --export: {expected}")
    assert RunStore(lab_home).list() == []
    assert sorted(exports.rglob("*")) == before  # no model, no card, no folder


def _start_long_run(home, tmp_path) -> tuple[subprocess.Popen, Path]:
    """A 200-epoch run in a subprocess (it cannot finish during a test); its stderr log."""
    log = tmp_path / "stderr.log"
    with open(log, "w") as stderr:
        process = _start_cli(LONG_RUN, home, stderr=stderr)
    return process, log


def _wait_for_log(process, log: Path, pattern: str) -> None:
    """Poll the CLI's stderr until a line matches `pattern`."""
    deadline = time.monotonic() + DEADLINE
    while not re.search(pattern, log.read_text(), re.MULTILINE):
        assert process.poll() is None, f"the CLI ended first:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"no {pattern!r} in {DEADLINE}s:\n{log.read_text()}"
        time.sleep(0.01)


def _training_run(home, process, log):
    """The run the CLI trains, once its first epoch is logged (the store is set up by then)."""
    _wait_for_log(process, log, r"^epoch 1/200  ")
    (run,) = RunStore(home).list()
    assert run.status == RunStatus.RUNNING
    return run


def test_one_ctrl_c_stops_the_run_and_scores_it(lab_home, tmp_path):
    process, log = _start_long_run(lab_home, tmp_path)
    run = _training_run(lab_home, process, log)
    process.send_signal(signal.SIGINT)
    stdout, _ = process.communicate(timeout=DEADLINE)
    assert process.returncode == 0, log.read_text()
    assert "stopping after this batch" in log.read_text()
    assert stdout.startswith("stopped: test accuracy") and run.id in stdout
    stored = RunStore(lab_home).get(run.id)
    assert stored.status == RunStatus.STOPPED and 0 < stored.test_accuracy <= 1
    assert stored.history and Path(stored.model_path).stat().st_size > 0


def test_a_second_ctrl_c_records_the_run_as_interrupted_and_exits_130(lab_home, tmp_path):
    process, log = _start_long_run(lab_home, tmp_path)
    run = _training_run(lab_home, process, log)
    process.send_signal(signal.SIGINT)
    # The second as soon as the CLI took the first (two at once would arrive as one); it then
    # still has a batch, the test set and the model file to go.
    _wait_for_log(process, log, "stopping after this batch")
    process.send_signal(signal.SIGINT)
    stdout, _ = process.communicate(timeout=DEADLINE)
    said = log.read_text()
    assert process.returncode == 130, said
    assert said.splitlines()[-1] == f"interrupted: run {run.id} is recorded as interrupted"
    assert "Traceback" not in said and stdout == ""
    stored = RunStore(lab_home).get(run.id)
    assert stored.status == RunStatus.INTERRUPTED
    assert stored.message == "Interrupted twice with Ctrl-C before it could stop."
    assert stored.history  # the epochs it trained are kept


def test_an_export_that_fails_midway_leaves_neither_a_half_model_nor_a_temporary(tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "mnist-cnn.keras").write_bytes(b"the shipped model")
    outcome = {"model_path": str(tmp_path / "vanished.keras")}  # e.g. deleted while copying
    with pytest.raises(FileNotFoundError):
        export_model(outcome, folder / "mnist-cnn.keras", ["mnist_app"])
    assert [p.name for p in folder.iterdir()] == ["mnist-cnn.keras"]
    assert (folder / "mnist-cnn.keras").read_bytes() == b"the shipped model"


def test_the_cards_command_runs_as_typed_even_with_a_layer_plan(tmp_path):
    trained = tmp_path / "trained.keras"
    trained.write_bytes(b"weights")
    outcome = {"model_path": str(trained), "config": {}, "preset": None, "test_accuracy": 0.99,
               "test_loss": 0.03, "epochs": 1, "seconds": 2.0}  # fmt: skip
    argv = ["mnist_app", "train", "--layers", "conv8x3 pool dense16", "--note", "it's $HOME"]
    card = json.loads(export_model(outcome, tmp_path / "model.keras", argv).read_text())
    # What a shell splits the card's command into is what was typed, the plan one argument.
    assert shlex.split(card["command"]) == ["python", "-m", *argv]
    assert (tmp_path / "model.keras").read_bytes() == b"weights"
