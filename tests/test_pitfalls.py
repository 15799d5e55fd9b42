"""Mistakes on purpose: real runs that make them, what the result panel says, and 'fix it'."""

from __future__ import annotations

import numpy as np
import pytest
from apptest_text import open_page, texts, wait_for_results

import mnist_app.runs.managers as managers
from mnist_app.engine.config import RunConfig
from mnist_app.engine.data import load_mnist, prepare_data
from mnist_app.engine.presets import PRESETS
from mnist_app.engine.status import RunStatus
from mnist_app.engine.training import train
from mnist_app.experiments.pitfalls import find_mistakes, without_mistakes
from mnist_app.runs.jobs import TrainingManager
from mnist_app.runs.managers import shared_manager
from mnist_app.runs.store import RunStore

SMALL = {"limit": 2000, "validation_size": 500, "epochs": 2}
pytestmark = pytest.mark.usefixtures("prepared_server")


def trained(config: RunConfig):
    manager = TrainingManager(RunStore())
    run_id = manager.submit(config)
    manager.wait(run_id, timeout=300)
    return manager.store.get(run_id)


def test_the_switches_make_the_notebooks_mistakes_in_the_data_only():
    data = prepare_data(RunConfig(limit=300, validation_size=100, labels_255=True))
    _, y_train, x_test, y_test = load_mnist()
    assert data.y_train.max() == pytest.approx(9 / 255)  # what notebook 003 fed the network
    assert np.array_equal(data.y_test, y_test)  # tested on the true labels
    unscaled = prepare_data(RunConfig(limit=300, validation_size=100, unscaled_test=True))
    assert unscaled.x_train.max() == 1.0 and unscaled.x_val.max() == 1.0
    assert unscaled.x_test.max() == 255.0  # notebook 004: tested on raw pixels


def test_labels_divided_by_255_score_the_share_of_zeros_as_notebook_003_did():
    run = trained(PRESETS["pitfall-labels-255"].replace(**SMALL))
    zeros = float(np.mean(load_mnist()[3] == 0))
    assert run.test_accuracy == pytest.approx(zeros, abs=0.005)  # 9.8%: it answers 0 for all
    (mistake,) = find_mistakes(run)
    assert mistake.kind == "labels_255" and mistake.evidence["labels"].startswith("0, 0.0039")
    assert mistake.fixed == run.config.replace(labels_255=False)


def test_stacked_linear_layers_are_one_linear_map_and_a_huge_rate_kills_the_network():
    config = PRESETS["pitfall-no-activation"].replace(**SMALL)
    model = train(config).model
    # Multiply the layers out: one weight matrix and one bias do exactly what the deep net does.
    weights, bias = np.eye(784), np.zeros(784)
    for layer in model.layers:
        if layer.get_weights():
            kernel, layer_bias = layer.get_weights()
            weights, bias = weights @ kernel, bias @ kernel + layer_bias
    images = prepare_data(config).x_test[:200].reshape(200, -1)
    logits = images @ weights + bias
    collapsed = np.exp(logits - logits.max(1, keepdims=True))
    collapsed /= collapsed.sum(1, keepdims=True)
    deep = model.predict_on_batch(prepare_data(config).x_test[:200])
    assert np.allclose(collapsed, deep, atol=1e-4)  # logistic regression in disguise
    assert weights.shape == (784, 10)
    linear = trained(config)
    assert [m.kind for m in find_mistakes(linear)] == ["no_activation"]
    assert find_mistakes(trained(config.replace(activation="relu"))) == []

    dead = trained(PRESETS["pitfall-lr-too-high"].replace(limit=5000, validation_size=500))
    assert dead.status == RunStatus.DIVERGED  # stopped, with its reason, not "finished"
    (mistake,) = find_mistakes(dead)
    assert mistake.kind == "lr_too_high" and mistake.evidence["peak"] > 10 * np.log(10)
    assert mistake.fixed.learning_rate == 0.001


def test_a_healthy_run_has_no_mistakes_and_fixing_undoes_each():
    healthy = trained(RunConfig(**SMALL))
    assert find_mistakes(healthy) == []
    both = trained(RunConfig(unscaled_test=True, labels_255=True, **SMALL))
    kinds = [m.kind for m in find_mistakes(both)]
    assert kinds == ["labels_255", "unscaled_test"]
    assert without_mistakes(both.config, find_mistakes(both)) == RunConfig(**SMALL)


def test_the_result_panel_explains_the_mistake_and_fix_it_starts_the_run_without_it(monkeypatch):
    monkeypatch.setattr(managers, "_shared", None)
    at = open_page("pages/train.py", lang="es")
    at.selectbox(key="train_preset").set_value("pitfall-labels-255").run()
    at.select_slider(key="train_limit").set_value(1000)
    at.select_slider(key="train_validation_size").set_value(100)
    assert at.toggle(key="train_labels_255").value is True  # the preset made the mistake
    at.button(key="train_start").click().run()
    wait_for_results(at)
    panel = texts(at.markdown)
    assert "Keras las lee todas como el dígito 0" in panel and "0, 0,0039" not in panel
    assert "0, 0.0039" in panel  # the label values it was given, as Python prints them
    mistaken = at.query_params["run"]
    at.button(key="train_fix").click().run()
    fixed_id = at.query_params["run"]
    assert fixed_id != mistaken and at.toggle(key="train_labels_255").value is False
    result = shared_manager().wait(fixed_id, timeout=300)
    assert result.status == RunStatus.FINISHED and result.test_accuracy > 0.5
    assert shared_manager().store.get(fixed_id).config.labels_255 is False
