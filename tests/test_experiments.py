"""Sweeps, comparisons, resume and delete: the experiments engine on real runs and a real store."""

from __future__ import annotations

import csv
import io
import math

import keras
import pytest

from mnist_app.engine.config import RANGES, ConfigError, RunConfig
from mnist_app.engine.presets import PRESETS
from mnist_app.engine.progress import Progress
from mnist_app.engine.records import Outcome
from mnist_app.engine.status import RunStatus
from mnist_app.engine.training import train
from mnist_app.experiments.lessons import LESSON_LIST
from mnist_app.experiments.sweeps import (
    MAX_RUNS,
    Sweep,
    best_point,
    differing_fields,
    estimate_seconds,
    load_sweep,
    make_vary,
    parse_value,
    parse_vary,
    run_name,
    start_sweep,
    suggest_values,
    sweep_points,
    sweep_progress,
)
from mnist_app.i18n import LANGUAGES, has_text
from mnist_app.runs.exports import history_csv
from mnist_app.runs.jobs import TrainingManager
from mnist_app.runs.store import RunInUseError, RunStore

TINY = RunConfig(limit=600, validation_size=200, batch_size=32, epochs=3)
WAIT = 300  # seconds: generous for a loaded machine; a run here takes about one


@pytest.fixture
def manager(lab_home):
    return TrainingManager(RunStore(lab_home), max_concurrent=1)


# --- sweeps: expansion and validation --------------------------------------------------------
def test_a_grid_with_repeats_expands_to_every_combination_and_seed():
    sweep = Sweep(
        TINY, (parse_vary("learning_rate=0.001,0.01"), parse_vary("width=16,32,64")), repeats=2
    )
    configs = sweep.configs()
    assert len(configs) == 2 * 3 * 2
    assert sweep.combinations()[:3] == [(0.001, 16), (0.001, 32), (0.001, 64)]
    assert [(c.learning_rate, c.width, c.seed) for c in configs[:2]] == [
        (0.001, 16, TINY.seed),
        (0.001, 16, TINY.seed + 1),
    ]
    assert {c.epochs for c in configs} == {TINY.epochs}  # what is not varied stays the base's
    assert Sweep.from_dict(sweep.to_dict()) == sweep


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        ("foo=1,2", "vary", "'foo' is not a setting"),
        ("width=abc", "width", "'abc' is not a whole number"),
        ("learning_rate=fast", "learning_rate", "'fast' is not a number"),
        ("learning_rate=nan", "learning_rate", "'nan' is not a number"),
        ("activation=relu,swish", "activation", "'swish' is not one of relu"),
        ("augment=maybe", "augment", "'maybe' is not true or false"),
        ("activation=relu,relu", "activation", "'relu' is given twice"),
        ("width=", "width", "give at least one value"),
        ("learning_rate", "vary", "write it as FIELD=V1,V2"),
    ],
)
def test_a_bad_field_or_value_is_refused_naming_it(text, field, words):
    with pytest.raises(ConfigError) as caught:
        parse_vary(text)
    assert caught.value.field == field
    assert words in str(caught.value)


def test_a_value_out_of_range_is_refused_before_anything_trains(manager):
    sweep = Sweep(TINY, (parse_vary("width=16,0"),))
    with pytest.raises(ConfigError, match=r"width: width=0: 0 is outside the allowed range"):
        start_sweep(manager, sweep)
    assert manager.store.list() == [] and manager.store.sweeps() == []


@pytest.mark.parametrize(
    ("vary", "repeats", "words"),
    [
        ((("width", tuple(range(1, 6))), ("depth", (1, 2, 3, 4, 5))), 1, "^vary: 25 runs: a sweep"),
        # The cap counts runs, repeats included: a 4×3 grid with 5 repeats is 60 runs, not 12.
        ((("width", (8, 16, 32, 64)), ("depth", (1, 2, 3))), 5, "12 combinations × 5 repeats = 60"),
        ((("width", (8, 16, 32, 64, 128)),), 5, "25 runs: a sweep trains at most 24 runs"),
        ((("width", (16, 32)),), 0, "repeats: 0 is outside the allowed range 1..5"),
        ((("width", (16, 32)),), 6, "repeats: 6 is outside the allowed range 1..5"),
        ((("width", (16,)), ("width", (32,))), 1, "two different ones"),
        ((("seed", (1, 2)),), 2, "already repeats"),
        ((), 1, "vary one setting"),
    ],
)
def test_a_sweep_s_shape_is_checked(vary, repeats, words):
    sweep = Sweep(TINY, tuple(make_vary(name, list(values)) for name, values in vary), repeats)
    with pytest.raises(ConfigError, match=words):
        sweep.configs()
    assert MAX_RUNS == 24


def test_values_parse_as_the_setting_s_type():
    assert parse_value("augment", "yes") is True
    assert parse_value("batch_size", "1e4") == 10_000 and isinstance(
        parse_value("batch_size", "1e4"), int
    )
    assert parse_value("learning_rate", "2e-2") == 0.02
    assert parse_value("layers", " conv32x3 pool ") == "conv32x3 pool"


def test_numbers_get_log_spaced_suggestions_and_choices_their_options():
    rates = suggest_values("learning_rate", PRESETS["dnn-50-50"])
    assert 0.001 in rates and len(rates) >= 5
    ratios = [b / a for a, b in zip(rates, rates[1:], strict=False)]
    assert all(2 < r < 4 for r in ratios)  # 1, 3, 10, 30... : even steps on a log axis
    assert suggest_values("activation", TINY) == ["relu", "sigmoid", "tanh", "elu", "selu",
                                                  "gelu", "leaky_relu", "linear"]  # fmt: skip
    assert suggest_values("augment", TINY) == [False, True]
    assert suggest_values("depth", TINY) == list(range(0, 9))
    for name in ("width", "batch_size", "epochs", "limit", "filters", "dropout"):
        values = suggest_values(name, TINY)
        assert values == sorted(values) and len(set(values)) == len(values) >= 3, name
        low, high = RANGES[name]
        assert all(low <= value <= high for value in values), name


# --- comparing runs ----------------------------------------------------------------------------
def test_the_legend_names_only_what_differs(manager):
    configs = [TINY.replace(epochs=1), TINY.replace(epochs=1, learning_rate=0.02)]
    ids = [manager.submit(c) for c in configs]
    for run_id in ids:
        manager.wait(run_id, WAIT)
    runs = [manager.store.get(run_id) for run_id in ids]
    differing = differing_fields([r.config for r in runs])
    assert differing == ["learning_rate"]
    assert [run_name(r, differing) for r in runs] == ["lr = 0.001", "lr = 0.02"]
    manager.store.set_label(ids[0], "  the   baseline ", "Adam's default rate")
    assert run_name(manager.store.get(ids[0]), differing) == "the baseline"
    assert manager.store.get(ids[0]).note == "Adam's default rate"
    with pytest.raises(ValueError, match="at most 80 characters"):
        manager.store.set_label(ids[0], "x" * 81, "")
    # A history as CSV: one row per epoch, the same figures.
    run = manager.store.get(ids[1])
    rows = list(csv.DictReader(io.StringIO(history_csv(run))))
    assert len(rows) == len(run.history) == 1
    assert math.isclose(float(rows[0]["val_accuracy"]), run.history[0].val_accuracy)
    assert math.isclose(float(rows[0]["learning_rate"]), 0.02, rel_tol=1e-6)


# --- a sweep through the queue -----------------------------------------------------------------
def test_a_sweep_trains_its_runs_through_the_queue_and_ranks_the_values(manager):
    sweep = Sweep(TINY.replace(epochs=1), (parse_vary("learning_rate=0.001,0.01"),))
    sweep_id = start_sweep(manager, sweep)
    runs = manager.store.sweep_runs(sweep_id)
    assert [r.config.learning_rate for r in runs] == [0.001, 0.01]
    assert all(r.sweep_id == sweep_id for r in runs)
    for run in runs:
        manager.wait(run.id, WAIT)
    runs = manager.store.sweep_runs(sweep_id)
    assert all(r.status == RunStatus.FINISHED for r in runs)
    points = sweep_points(sweep, runs)
    assert [p.values for p in points] == [(0.001,), (0.01,)]
    assert [p.run_ids for p in points] == [(runs[0].id,), (runs[1].id,)]
    best = best_point(points)
    assert best.mean_accuracy == max(r.test_accuracy for r in runs)
    progress = sweep_progress(manager, runs)
    assert progress.ended == 2 and progress.fraction_done == 1.0 and progress.eta_seconds == 0.0
    assert load_sweep(manager, sweep_id) == sweep
    assert load_sweep(manager, "0" * 12) is None


def test_a_held_sweep_reports_its_runs_as_queued_and_not_done(manager):
    sweep = Sweep(TINY.replace(epochs=1), (parse_vary("width=8,16"),))
    sweep_id = start_sweep(manager, sweep, paused=True)
    runs = manager.store.sweep_runs(sweep_id)
    progress = sweep_progress(manager, runs)
    assert progress.runs == 2 and progress.ended == 0 and progress.fraction_done == 0.0
    assert progress.eta_seconds is None  # nothing trained yet: no speed to go by
    with pytest.raises(RunInUseError):
        manager.store.delete(runs[0].id)
    for run in runs:
        manager.stop(run.id)
        manager.wait(run.id, WAIT)
    assert {r.status for r in manager.store.sweep_runs(sweep_id)} == {RunStatus.STOPPED}


# --- resume --------------------------------------------------------------------------------
def test_a_continued_run_goes_on_from_its_parent_rather_than_restarting(manager):
    parent_id = manager.submit(TINY)
    manager.wait(parent_id, WAIT)
    parent = manager.store.get(parent_id)
    child_id = manager.continue_run(parent_id, 2)
    manager.wait(child_id, WAIT)
    child = manager.store.get(child_id)
    fresh_id = manager.submit(TINY.replace(epochs=1))
    manager.wait(fresh_id, WAIT)
    fresh_first = manager.store.get(fresh_id).history[0].loss

    assert child.status == RunStatus.FINISHED and child.parent == parent_id
    assert [r.epoch for r in child.history] == [1, 2, 3, 4, 5]
    assert child.history[:3] == parent.history  # the curves run on from the parent's epochs
    assert child.config.epochs == 5
    parent_last, child_first = parent.history[-1].loss, child.history[3].loss
    assert child_first < 0.5 * fresh_first  # far below a fresh run's first epoch
    assert abs(child_first - parent_last) < 0.5 * (fresh_first - parent_last)  # close to its last


def test_every_epoch_is_checkpointed_with_its_optimizer_state(tmp_path):
    path = tmp_path / "run.keras"
    seen = []

    def look(record):
        if record.epoch == 1:  # the epoch's checkpoint is on disk before anyone hears of it
            saved = keras.models.load_model(path)
            seen.append(int(keras.ops.convert_to_numpy(saved.optimizer.iterations)))

    config = TINY.replace(epochs=2, validation_size=0)
    train(config, Progress(), model_path=path, on_epoch=look)
    assert seen == [math.ceil(config.train_size / config.batch_size)]


def test_an_interrupted_run_continues_from_its_last_checkpoint(manager):
    run_id = manager.submit(TINY.replace(epochs=2))
    manager.wait(run_id, WAIT)
    run = manager.store.get(run_id)  # as if its process died after epoch 2's checkpoint
    manager.store.record_outcome(
        run_id, Outcome(RunStatus.INTERRUPTED, "killed", history=run.history)
    )
    child_id = manager.continue_run(run_id, 1)
    manager.wait(child_id, WAIT)
    child = manager.store.get(child_id)
    assert child.status == RunStatus.FINISHED and len(child.history) == 3
    assert child.history[2].loss < run.history[0].loss


def test_runs_that_cannot_be_continued_are_refused_with_the_reason(manager):
    with pytest.raises(ConfigError, match="there is no run"):
        manager.continue_run("0" * 12, 1)
    held = manager.submit(TINY, paused=True)
    queued = manager.submit(TINY)  # behind the held run in the one slot
    for run_id in (held, queued):
        with pytest.raises(ConfigError) as caught:
            manager.continue_run(run_id, 1)
        assert caught.value.reason == "in_use"
    manager.stop(queued)
    manager.wait(queued, WAIT)
    with pytest.raises(ConfigError) as caught:
        manager.continue_run(queued, 1)  # stopped before it started: nothing to continue
    assert caught.value.reason == "not_continuable" and "0 epochs" in str(caught.value)
    manager.stop(held)
    manager.wait(held, WAIT)
    done = manager.submit(TINY.replace(epochs=1))
    manager.wait(done, WAIT)
    for more in (200, 0):
        with pytest.raises(ConfigError, match=r"more epochs: give 1\.\.199"):
            manager.continue_run(done, more)
    manager.store.model_path(done).unlink()
    with pytest.raises(ConfigError) as caught:
        manager.continue_run(done, 1)
    assert caught.value.reason == "not_continuable" and "no saved model" in str(caught.value)


# --- delete --------------------------------------------------------------------------------
def test_delete_removes_the_row_and_its_files(manager):
    run_id = manager.submit(TINY.replace(epochs=1))
    manager.wait(run_id, WAIT)
    store = manager.store
    model = store.model_path(run_id)
    leftover = store.models_dir / f".saving-{run_id}-abc.keras"
    leftover.write_bytes(b"half")
    other = manager.submit(TINY.replace(epochs=1))
    manager.wait(other, WAIT)
    assert model.exists()
    assert store.delete(run_id) is True
    assert store.get(run_id) is None and not model.exists() and not leftover.exists()
    assert store.delete(run_id) is False
    assert store.get(other) is not None and store.model_path(other).exists()  # only that one


# --- lessons and time estimates ------------------------------------------------------------
def test_every_lesson_expands_and_speaks_both_languages():
    for lesson in LESSON_LIST:
        configs = lesson.sweep().configs()
        assert len(configs) == len(lesson.values) >= 2, lesson.slug
        assert lesson.sweep().lesson == lesson.slug
        for language in LANGUAGES:
            for part in ("question", "notebook"):
                assert has_text(f"lesson.{lesson.slug}.{part}", language), (lesson.slug, part)
        if lesson.shortened:
            assert all(getattr(c, k) == v for c in configs for k, v in lesson.changes.items())


def test_time_estimates_grow_with_the_work():
    base = PRESETS["dnn-50-50"]
    assert estimate_seconds(base.replace(batch_size=1)) > 10 * estimate_seconds(base)
    assert estimate_seconds(base.replace(epochs=10)) > 1.5 * estimate_seconds(base)
    assert estimate_seconds(PRESETS["report-v3"]) > 10 * estimate_seconds(PRESETS["report-v1"])
