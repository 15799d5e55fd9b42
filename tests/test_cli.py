"""The command line, run as a user would run it."""

import json
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _cli(*args, env_home):
    import os

    env = dict(os.environ, MNIST_LAB_HOME=str(env_home))
    return subprocess.run(
        [sys.executable, "-m", "mnist_app", *args],
        cwd=PROJECT_ROOT,
        env=env,
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
    result = json.loads(done.stdout.strip().splitlines()[-1])
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
    assert result["run_id"] in listing.stdout and "finished" in listing.stdout


def test_human_output_shows_a_progress_bar_and_the_reported_figure(lab_home):
    done = _cli(
        "train", "--preset", "chollet-512", "--limit", "300", "--epochs", "1", env_home=lab_home
    )
    assert done.returncode == 0, done.stderr
    assert "epoch 1/1" in done.stderr and "img/s" in done.stderr
    assert "the notebook reported 97.92%" in done.stdout
    # stderr is a pipe here, as in a log file: one line per epoch, no redrawn bar.
    epoch_lines = [line for line in done.stderr.splitlines() if line.startswith("epoch ")]
    assert len(epoch_lines) == 1 and "\r" not in done.stderr


def test_bad_flags_get_a_clear_message_and_exit_2(lab_home):
    done = _cli("train", "--dropout", "1.5", env_home=lab_home)
    assert done.returncode == 2
    assert "dropout: 1.5 is outside the allowed range 0.0..0.9" in done.stderr
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
    assert lines[0].split()[:3] == ["preset", "reported", "ours"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert rows["slides-sigmoid"][1] == "9.80%" and rows["dnn-50-50"][1] == "97.00%"
    assert rows["dnn-50-50"][2].endswith("%") and rows["dnn-50-50"][-1] == "finished"
