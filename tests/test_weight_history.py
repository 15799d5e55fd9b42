"""Weights over training: recorded by real short runs and kept in the run store."""

import functools
import math
import sqlite3
from pathlib import Path

import keras
import numpy as np
import pytest

from mnist_app.engine.config import RunConfig
from mnist_app.engine.models import build_model
from mnist_app.engine.records import Outcome
from mnist_app.engine.status import RunStatus
from mnist_app.engine.training import train
from mnist_app.engine.weight_history import (
    HISTOGRAM_BINS,
    EpochWeights,
    describe,
    layers_with_weights,
)
from mnist_app.runs.jobs import TrainingManager
from mnist_app.runs.store import RunStore
from mnist_app.runs.weights import recorded_weights

# A small CNN with every kind of layer: convolution, batch norm, pooling, dropout, dense.
CNN = RunConfig(arch="cnn", layers="conv8x3 bn pool drop0.2 dense16", limit=300, epochs=2,
                validation_size=100, batch_size=64, seed=3)  # fmt: skip


@pytest.fixture(scope="module")
def trained(tmp_path_factory):  # also used by test_weights_view.py
    """A real two-epoch CNN run through the manager (as the pages and the CLI train), and a run
    that continues it for one more epoch; trained once per process, for test_weights_view.py
    too (the same xdist group: tests/conftest.py). No test changes them."""
    return _trained(tmp_path_factory.getbasetemp())


@functools.cache
def _trained(basetemp: Path):
    manager = TrainingManager(RunStore(basetemp / "weights-run"))
    parent = manager.submit(CNN)
    assert manager.wait(parent, timeout=180).status is RunStatus.FINISHED
    child = manager.continue_run(parent, 1)
    assert manager.wait(child, timeout=180).status is RunStatus.FINISHED
    return manager.store, parent, child


def test_every_layer_with_weights_is_recorded_from_epoch_0_on(trained):
    store, parent, _ = trained
    history = recorded_weights(store, parent)
    assert [record.epoch for record in history] == [0, 1, 2]
    model = build_model(CNN)
    kernels = {w.path.split("/")[0]: w for w in model.trainable_weights if w.name == "kernel"}
    for record in history:
        assert [layer.name for layer in record.layers] == list(kernels)  # conv, dense, output
        assert [layer.kind for layer in record.layers] == ["Conv2D", "Dense", "Dense"]
        for layer in record.layers:
            assert layer.shape == tuple(kernels[layer.name].shape)
            assert len(layer.counts) == HISTOGRAM_BINS and len(layer.edges) == HISTOGRAM_BINS + 1
            assert sum(layer.counts) == layer.size and layer.nonfinite == 0
            assert layer.edges[0] == layer.low and layer.edges[-1] == pytest.approx(layer.high)
            assert layer.gradient_norm > 0 and math.isfinite(layer.gradient_norm)


def test_epoch_0_is_the_freshly_built_model_with_the_same_seed(trained):
    store, parent, _ = trained
    first = recorded_weights(store, parent)[0]
    keras.utils.set_random_seed(CNN.seed)
    fresh = build_model(CNN)
    for layer, recorded in zip(layers_with_weights(fresh), first.layers, strict=True):
        expected = describe(keras.ops.convert_to_numpy(layer.kernel))
        assert recorded.counts == expected["counts"] and recorded.edges == expected["edges"]
        assert recorded.std == expected["std"]


def test_training_moves_the_weights_and_the_histograms_follow(trained):
    store, parent, _ = trained
    start, end = recorded_weights(store, parent)[0], recorded_weights(store, parent)[-1]
    assert all(a.counts != b.counts for a, b in zip(start.layers, end.layers, strict=True))


def test_a_continued_run_goes_on_numbering_from_its_parent(trained):
    store, parent, child = trained
    assert [epoch for epoch, _ in store.weight_stats(child)] == [2, 3]  # its start, its epoch
    history = recorded_weights(store, child, parent)
    assert [record.epoch for record in history] == [0, 1, 2, 3]
    # It starts from the parent's saved weights: the same histograms, the same gradients.
    own_start = EpochWeights.from_payload(2, store.weight_stats(child)[0][1])
    parent_end = recorded_weights(store, parent)[-1]
    for mine, theirs in zip(own_start.layers, parent_end.layers, strict=True):
        assert mine.counts == theirs.counts and mine.edges == theirs.edges
        assert mine.gradient_norm == pytest.approx(theirs.gradient_norm, rel=1e-4)


def test_train_hands_every_record_to_on_weights():
    records = []
    train(CNN.replace(epochs=1, arch="mlp", layers="", width=16), on_weights=records.append)
    assert [r.epoch for r in records] == [0, 1]
    assert [layer.kind for layer in records[0].layers] == ["Dense", "Dense"]


def test_nan_weights_are_counted_apart_and_the_rest_still_binned():
    values = np.array([0.1, -0.2, np.nan, np.inf, 0.3], dtype=np.float32)
    described = describe(values)
    assert described["nonfinite"] == 2 and sum(described["counts"]) == 3
    assert described["low"] == pytest.approx(-0.2) and described["high"] == pytest.approx(0.3)
    nothing = describe(np.full(4, np.nan))
    assert nothing["nonfinite"] == 4 and nothing["edges"] == () and nothing["std"] is None


def test_the_stats_are_deleted_with_the_run(lab_home):
    store = RunStore(lab_home)
    run_id, other = store.create(CNN), store.create(CNN)
    for rid in (run_id, other):
        store.record_outcome(rid, Outcome(RunStatus.FINISHED))
        store.add_weight_stats(rid, 0, [{"name": "x"}])
    assert store.weight_stats(run_id) == [(0, [{"name": "x"}])]
    assert store.delete(run_id)
    assert store.weight_stats(run_id) == [] and len(store.weight_stats(other)) == 1


def test_an_older_store_without_the_table_gets_it_and_its_runs_have_no_stats(lab_home):
    lab_home.mkdir(parents=True)
    with sqlite3.connect(lab_home / "runs.sqlite3") as db:
        db.execute("CREATE TABLE runs (id TEXT PRIMARY KEY, created_at REAL NOT NULL, "
                   "updated_at REAL NOT NULL, status TEXT NOT NULL, preset TEXT, config TEXT "
                   "NOT NULL)")  # fmt: skip
    store = RunStore(lab_home)
    run_id = store.create(CNN)
    assert store.weight_stats(run_id) == [] and recorded_weights(store, run_id) == []


def test_a_continued_run_whose_parent_was_deleted_shows_its_own_epochs(lab_home):
    store = RunStore(lab_home)
    run_id = store.create(CNN)
    store.add_weight_stats(run_id, 2, [])
    assert [r.epoch for r in recorded_weights(store, run_id, parent="0123456789ab")] == [2]
