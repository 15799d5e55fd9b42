"""Robustness: the six changes on real test digits, and real models measured under them."""

import json
import os

import numpy as np
import pytest

import mnist_app.runs.managers as managers
from mnist_app import cli
from mnist_app.drawing.predict import default_model_path, load_model, model_card
from mnist_app.engine.config import RunConfig
from mnist_app.engine.data import load_mnist
from mnist_app.engine.records import Outcome
from mnist_app.engine.status import RunStatus
from mnist_app.engine.training import train
from mnist_app.inspect.robustness import (
    FAMILIES,
    FAMILY,
    Point,
    cached,
    measure,
    measure_file,
    rotate,
    shift,
    strength_key,
    warp,
)
from mnist_app.runs.store import RunStore

TINY_MLP = RunConfig(limit=2000, epochs=1, batch_size=32, validation_size=0, scaling="centered")
FEW = 300  # images per changed point where a test only needs the maths to be real
DIGITS = load_mnist()[2][:200]


@pytest.fixture(scope="module")
def tiny_mlp(tmp_path_factory):
    """A real MLP trained for one epoch on 2,000 MNIST images: its file and its test accuracy."""
    path = tmp_path_factory.mktemp("models") / "tiny.keras"
    result = train(TINY_MLP, model_path=path)
    return path, result.test_accuracy


@pytest.fixture(autouse=True)
def fresh_manager(monkeypatch):
    """The CLI builds its store anew, over this test's home."""
    monkeypatch.setattr(managers, "_shared", None)


# --- the changes -----------------------------------------------------------------------------
@pytest.mark.parametrize("family", FAMILIES, ids=lambda family: family.name)
def test_each_change_is_the_identity_at_0_keeps_the_images_kind_and_repeats_itself(family):
    assert 0 in family.strengths and len(family.strengths) == 6
    assert np.array_equal(family.change(DIGITS, 0, 11), DIGITS)
    for strength in family.strengths:
        changed = family.change(DIGITS, strength, 11)
        assert changed.shape == DIGITS.shape and changed.dtype == np.uint8
        assert np.array_equal(changed, family.change(DIGITS, strength, 11))


@pytest.mark.parametrize("family", FAMILIES, ids=lambda family: family.name)
def test_a_stronger_change_moves_the_pixels_further(family):
    def distance(strength):
        return np.abs(family.change(DIGITS, strength, 11).astype(float) - DIGITS).mean()

    for side in (-1, 1):  # thickness goes both ways from 0: thinner and thicker
        strengths = sorted((s for s in family.strengths if s * side >= 0), key=abs)
        distances = [distance(s) for s in strengths]
        assert all(a < b for a, b in zip(distances, distances[1:], strict=False)), distances


def test_the_warp_agrees_with_numpys_exact_moves():
    # A quarter turn is numpy's rot90; a whole-pixel move is a roll with black coming in.
    quarter = np.array([[0.0, -1.0], [1.0, 0.0]])
    turned = warp(DIGITS, np.broadcast_to(quarter, (len(DIGITS), 2, 2)), np.zeros((200, 2)))
    assert np.array_equal(turned, np.rot90(DIGITS, k=1, axes=(1, 2))) or np.array_equal(
        turned, np.rot90(DIGITS, k=-1, axes=(1, 2))
    )
    moved = warp(DIGITS, np.broadcast_to(np.eye(2), (200, 2, 2)), np.tile([3.0, -2.0], (200, 1)))
    expected = np.zeros_like(DIGITS)
    expected[:, :-2, 3:] = DIGITS[:, 2:, :-3]  # 3 pixels right, 2 up
    assert np.array_equal(moved, expected)


def test_rotation_and_shift_keep_the_ink_they_move_inside_the_image():
    ink = DIGITS.astype(float).sum()
    assert rotate(DIGITS, 90).astype(float).sum() == pytest.approx(ink, rel=0.01)
    assert shift(DIGITS, 2).astype(float).sum() == pytest.approx(ink, rel=0.02)  # bilinear blur


def test_full_inversion_is_the_negative_and_strength_keys_read_as_numbers():
    assert np.array_equal(FAMILY["inversion"].change(DIGITS, 1.0, 11), 255 - DIGITS)
    assert [strength_key(s) for s in (0, 32, 1.2, -1, 0.05)] == ["0", "32", "1.2", "-1", "0.05"]


def test_the_margin_of_error_is_the_95_percent_normal_interval():
    assert Point(16, 0.5, 2000).margin == pytest.approx(1.96 * np.sqrt(0.25 / 2000))
    assert Point(0, 0.9945, 10_000).margin == pytest.approx(0.00145, abs=1e-5)


# --- measuring real models -------------------------------------------------------------------
def test_strength_0_is_the_runs_test_accuracy_and_a_big_shift_breaks_an_mlp(tiny_mlp):
    path, test_accuracy = tiny_mlp
    result = measure(load_model(path), "centered", sample=FEW)
    assert set(result.families) == {family.name for family in FAMILIES}
    for points in result.families.values():
        [plain] = [point for point in points if point.strength == 0]
        assert plain.accuracy == pytest.approx(test_accuracy, abs=1e-6) and plain.n == 10_000
        assert {point.n for point in points if point.strength != 0} == {FEW}
    shifted = result.families["shift"]
    assert test_accuracy > 0.7  # it learned: what the shift takes away is real
    assert shifted[-1].strength == 8 and shifted[-1].accuracy < 0.3


def test_a_measure_is_stored_for_its_model_file_and_forgotten_when_the_file_changes(
    tiny_mlp, lab_home
):
    path, _ = tiny_mlp
    first = measure_file(lab_home, path, "centered", sample=FEW)
    assert cached(lab_home, path, "centered", sample=FEW) == first
    assert measure_file(lab_home, path, "centered", sample=FEW) == first  # not measured again
    assert cached(lab_home, path, "centered", sample=FEW + 1) is None  # another sample size
    assert cached(lab_home, path, "centered", sample=None) == first  # whatever its sample
    assert cached(lab_home, path, "unit", sample=None) is None  # fed another way
    stat = os.stat(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert cached(lab_home, path, "centered", sample=FEW) is None


# --- the command line ------------------------------------------------------------------------
def _last_json(argv, capsys) -> tuple[int, dict]:
    code = cli.main(argv)
    return code, json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_the_command_prints_six_families_by_six_strengths_as_json(tiny_mlp, lab_home, capsys):
    path, test_accuracy = tiny_mlp
    store = RunStore(lab_home)
    run_id = store.create(TINY_MLP)
    store.record_outcome(
        run_id, Outcome(RunStatus.FINISHED, model_path=str(path), test_accuracy=test_accuracy)
    )
    code, result = _last_json(["robustness", "--run", run_id, "--sample", "200", "--json"], capsys)
    assert code == 0
    assert list(result) == [family.name for family in FAMILIES]
    for family in FAMILIES:
        assert list(result[family.name]) == [strength_key(s) for s in family.strengths]
        assert result[family.name]["0"] == pytest.approx(test_accuracy, abs=1e-6)
    assert cli.main(["robustness", "--run", run_id, "--sample", "200"]) == 0
    table = capsys.readouterr().out
    assert "thickness" in table and "200 test images per point" in table and "±" in table


def test_the_shipped_model_is_the_default_and_scores_its_cards_accuracy_at_0(capsys):
    code, result = _last_json(["robustness", "--sample", "50", "--json"], capsys)
    assert code == 0 and len(result) == 6 and all(len(v) == 6 for v in result.values())
    expected = model_card(default_model_path())["test_accuracy"]  # Keras' evaluate, 10,000 images
    assert all(result[name]["0"] == pytest.approx(expected, abs=1e-6) for name in result)


def test_bad_requests_exit_2_naming_the_problem(lab_home, tmp_path, capsys, monkeypatch):
    store = RunStore(lab_home)
    unfinished = store.create(TINY_MLP)
    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"random bytes, not a model")
    damaged = store.create(TINY_MLP)
    store.record_outcome(damaged, Outcome(RunStatus.FINISHED, model_path=str(broken)))
    for argv, message in [
        (["--run", "0" * 12], "error: --run: there is no run 000000000000"),
        (["--run", "abc"], "error: --run: 'abc' is not a run id"),
        (["--run", unfinished], f"error: --run: run {unfinished} has no saved model"),
        (["--run", damaged], "error: --run: cannot use the model"),
        (["--sample", "0"], "error: --sample: 0 is outside the allowed range 1..10000"),
    ]:
        assert cli.main(["robustness", *argv]) == 2
        assert capsys.readouterr().err.strip().startswith(message)
    monkeypatch.setenv("MNIST_LAB_DEFAULT_MODEL", str(broken))
    assert cli.main(["robustness", "--default"]) == 2
    assert "error: --default: cannot use the model" in capsys.readouterr().err
