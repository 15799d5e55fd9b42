"""Training with the class's digits: the fixed held-out fifth, the refusal of a set too small to
split, the drawings joining the training images only, and a real run that learns from them."""

from __future__ import annotations

import json

import numpy as np
import pytest

import mnist_app.runs.managers as managers
from mnist_app import cli
from mnist_app.drawing.class_scores import leaderboard, model_accuracy
from mnist_app.drawing.classset import ClassSet
from mnist_app.drawing.predict import ModelChoice, ModelKind, load_model
from mnist_app.engine.config import ConfigError, RunConfig
from mnist_app.engine.data import Drawings, load_mnist, prepare_data, scale_images
from mnist_app.engine.evaluation import predict_classes
from mnist_app.runs.class_drawings import MIN_DRAWINGS, load_drawings, split_entries
from mnist_app.runs.jobs import TrainingManager
from mnist_app.runs.store import RunStore

SMALL = RunConfig(limit=300, validation_size=100, epochs=1, batch_size=32)


def held_out_by_hand(entries: list[tuple[int, int]]) -> set[int]:
    """The rule as the README says it: each digit's 1st, 6th, 11th... drawing, by id."""
    held = set()
    for digit in range(10):
        ids = sorted(entry_id for entry_id, d in entries if d == digit)
        held |= set(ids[::5])
    return held


def add_mnist(class_set: ClassSet, start: int, count: int) -> list[int]:
    x, y = load_mnist()[2:]
    return [class_set.add(int(y[i]), x[i]) for i in range(start, start + count)]


@pytest.fixture
def store(lab_home, database_url) -> RunStore:
    """The run store, with the class set beside it: SQLite files, then PostgreSQL."""
    return RunStore(lab_home)


def test_the_held_out_fifth_is_each_digit_s_every_fifth_drawing_and_never_moves(store):
    class_set = ClassSet(store.directory)
    add_mnist(class_set, 0, 200)
    entries = [(e.id, e.digit) for e in class_set.entries()]
    split = class_set.split()
    assert set(split.held_out) == held_out_by_hand(entries)
    assert sorted(split.train + split.held_out) == sorted(e for e, _ in entries)
    assert 0.19 <= len(split.held_out) / 200 <= 0.25  # a fifth, rounded up per digit
    for digit in range(10):  # every digit drawn has drawings held out, and about a fifth
        mine = [e for e, d in entries if d == digit]
        held = [e for e in mine if e in split.held_out]
        assert held and len(held) == -(-len(mine) // 5)
    add_mnist(class_set, 200, 100)  # more drawings: the old ones stay where they were
    later = class_set.split()
    assert set(split.held_out) <= set(later.held_out) and set(split.train) <= set(later.train)
    assert set(later.held_out) == held_out_by_hand([(e.id, e.digit) for e in class_set.entries()])


def test_a_set_too_small_to_split_is_refused_before_a_run_is_stored(store):
    class_set = ClassSet(store.directory)
    config = SMALL.replace(class_digits=3)
    for entries in ([], [(1, 3), (2, 3), (3, 3), (4, 3)], [(i, i) for i in range(1, 10)]):
        split = split_entries(entries)  # 4 drawings; 9 all held out (each digit's first)
        with pytest.raises(ConfigError, match="class_digits: the class set has") as refused:
            split.check()
        assert refused.value.reason == "class_set_too_small"
    with pytest.raises(ConfigError, match=r"has 0 drawings .*at least 5") as refused:
        store.create(config)
    assert refused.value.values == {"drawings": 0, "train": 0, "held_out": 0, "needed": 5}
    assert store.list() == []
    x, y = load_mnist()[2:]
    for digit in (1, 1, 2, 2, 3):  # five drawings, two digits twice: one of each to train on
        class_set.add(digit, x[int(np.flatnonzero(y == digit)[0])])
    assert MIN_DRAWINGS == 5 and len(class_set.split().train) == 2
    run = store.get(store.create(config))
    assert run.class_drawings == class_set.split().train
    assert store.get(store.create(SMALL)).class_drawings == ()  # without the setting: none


def test_the_class_drawings_join_the_training_images_only_as_mnist_s_are_scaled(lab_home):
    class_set = ClassSet(lab_home)
    ids = add_mnist(class_set, 0, 30)
    drawings = load_drawings(RunStore(lab_home).class_set_engine(), tuple(ids[:7]))
    x_test, y_test = load_mnist()[2:]
    np.testing.assert_array_equal(drawings.images, x_test[:7])  # stored 28×28, pixel for pixel
    np.testing.assert_array_equal(drawings.digits, y_test[:7])
    for scaling in ("unit", "centered", "none"):
        config = SMALL.replace(class_digits=4, scaling=scaling)
        plain, added = prepare_data(config.replace(class_digits=0)), prepare_data(config, drawings)
        assert len(added.x_train) == 300 + 4 * 7  # after `limit`: N copies of each
        np.testing.assert_array_equal(added.x_train[:300], plain.x_train)
        expected = np.tile(scale_images(x_test[:7], scaling), (4, 1, 1))
        np.testing.assert_array_equal(added.x_train[300:], expected)
        np.testing.assert_array_equal(added.y_train[300:], np.tile(y_test[:7], 4))
        for name in ("x_val", "y_val", "x_test", "y_test"):  # validation and test untouched
            np.testing.assert_array_equal(getattr(added, name), getattr(plain, name))
    with pytest.raises(ValueError, match="class_digits"):
        prepare_data(SMALL.replace(class_digits=2))  # the drawings were never handed over


def distinctive_drawings(count: int) -> list[np.ndarray]:
    """A hollow box, moved about: no MNIST digit looks like it; the class calls it a 4."""
    boxes = []
    for i in range(count):
        image = np.zeros((28, 28), np.uint8)
        top, left = 5 + i % 4, 5 + (i // 4) % 4
        image[top : top + 15, left : left + 15] = 255
        image[top + 3 : top + 12, left + 3 : left + 12] = 0
        boxes.append(image)
    return boxes


def read_as(model_path: str, images: np.ndarray) -> np.ndarray:
    return predict_classes(load_model(model_path), scale_images(images, "unit")).argmax(axis=1)


def test_a_run_trains_on_the_class_s_drawings_and_is_scored_on_the_held_out_fifth(lab_home):
    store = RunStore(lab_home)
    class_set = ClassSet(lab_home)
    for image in distinctive_drawings(20):
        class_set.add(4, image)
    split = class_set.split()
    assert len(split.train) == 16 and len(split.held_out) == 4
    manager = TrainingManager(store, max_concurrent=1)
    with_class = manager.submit(SMALL.replace(class_digits=20))
    without = manager.submit(SMALL)
    runs = {}
    for run_id in (with_class, without):
        assert manager.wait(run_id, timeout=180).status == "finished"
        runs[run_id] = store.get(run_id)
    assert runs[with_class].class_drawings == split.train
    # Every image of an epoch is seen once: 300 of MNIST, and 20 copies of the 16 drawings.
    assert manager.snapshot(with_class).samples_total == 300 + 20 * 16
    assert manager.snapshot(without).samples_total == 300
    trained_on = load_drawings(store.class_set_engine(), split.train).images
    taught = np.mean(read_as(runs[with_class].model_path, trained_on) == 4)
    untaught = np.mean(read_as(runs[without].model_path, trained_on) == 4)
    assert taught >= 0.9 and taught > untaught + 0.5, (taught, untaught)
    # The leaderboard scores both on the four held-out boxes only, never on the sixteen.
    choices = [
        ModelChoice(r.id, ModelKind.FINISHED, "unit", r.model_path, r.test_accuracy, None,
                    r.class_drawings)
        for r in runs.values()
    ]  # fmt: skip
    board = {s.choice.key: s.class_accuracy for s in leaderboard(class_set, choices)}
    held = load_drawings(store.class_set_engine(), split.held_out).images
    for run_id, run in runs.items():
        assert board[run_id] == pytest.approx(np.mean(read_as(run.model_path, held) == 4))
    # Should a drawing it trained on be held out now (a deletion moved it), it is left out.
    path = runs[with_class].model_path
    skipped = model_accuracy(class_set, path, "unit", split.held_out[:2])
    assert skipped == pytest.approx(np.mean(read_as(path, held[2:]) == 4))


def test_a_continued_run_goes_on_with_its_parent_s_drawings(lab_home):
    store = RunStore(lab_home)
    class_set = ClassSet(lab_home)
    add_mnist(class_set, 0, 20)
    parent = store.get(store.create(SMALL.replace(class_digits=2)))
    add_mnist(class_set, 20, 20)  # the class drew more since: the continuation does not see them
    child = store.get(store.create(SMALL.replace(class_digits=2, epochs=2), parent=parent.id))
    assert child.class_drawings == parent.class_drawings != class_set.split().train


def test_the_cli_trains_with_class_digits_and_records_the_drawings(lab_home, capsys, monkeypatch):
    monkeypatch.setattr(managers, "_shared", None)  # the CLI's manager, over this test's store
    class_set = ClassSet(lab_home)
    add_mnist(class_set, 0, 25)
    argv = ["train", "--limit", "300", "--validation-size", "100", "--epochs", "1",
            "--batch-size", "64", "--class-digits", "3", "--json"]  # fmt: skip
    assert cli.main(argv) == 0
    run = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert run["status"] == "finished" and run["config"]["class_digits"] == 3
    assert tuple(run["class_drawings"]) == class_set.split().train
    class_set.delete([entry.id for entry in class_set.entries()][:22])
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: class_digits: the class set has 3 drawings") and (
        err.count("\n") == 1
    )


def test_a_run_whose_drawings_were_removed_since_it_was_queued_fails_saying_so(lab_home):
    store = RunStore(lab_home)
    class_set = ClassSet(lab_home)
    add_mnist(class_set, 0, 20)
    run_id = store.create(SMALL.replace(class_digits=2))
    trains_on = store.get(run_id).class_drawings
    class_set.delete(list(trains_on[:2]))
    manager = TrainingManager(store, max_concurrent=1)
    manager.train_stored(run_id)  # as a Ray trainer takes a queued run
    assert manager.wait(run_id, timeout=60).status == "failed"
    message = store.get(run_id).message
    assert f"2 of the {len(trains_on)} class drawings this run trains on were removed" in message


def test_drawings_must_be_mnist_like_images():
    with pytest.raises(ValueError, match="drawings"):
        Drawings(np.zeros((2, 28, 28), np.float32), np.zeros(2, np.uint8))
