"""The fused kernels compute what Keras' own Adam and BatchNormalization compute, and leave a
saved model plain Keras."""

from __future__ import annotations

import json
import logging
import zipfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from mnist_app.engine import fused
from mnist_app.engine.config import RunConfig
from mnist_app.engine.data import load_mnist
from mnist_app.engine.fused import fuse_adam, fuse_batch_norm, is_fused, use_fused_kernels
from mnist_app.engine.progress import Progress
from mnist_app.engine.training import Start, train


@pytest.fixture(scope="module")
def digits():
    x, y, _, _ = load_mnist()
    return (x[:256] / 255.0).astype("float32"), y[:256].astype("int32")


def small_net(batch_norm: bool = True, optimizer: str = "adam") -> keras.Model:
    """A convolution and a dense layer, each followed by batch normalization if asked."""
    keras.utils.set_random_seed(3)
    norm = [keras.layers.BatchNormalization()] if batch_norm else []
    model = keras.Sequential(
        [
            keras.Input((28, 28)),
            keras.layers.Reshape((28, 28, 1)),
            keras.layers.Conv2D(8, 5, strides=2, activation="relu"),
            *norm,
            keras.layers.Flatten(),
            keras.layers.Dense(32, activation="relu"),
            *[keras.layers.BatchNormalization() for _ in norm],
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    # Adam's usual epsilon (1e-7) turns a rounding difference in a near-zero gradient into a
    # step of up to the whole learning rate: after 16 steps the fused and Keras' own updates
    # differed by 2e-4 on an AVX2 CPU (2e-5 on the AVX-512 one this test was written on), so the
    # same formula is compared with an epsilon that keeps each step's rounding at float32's
    # (3e-7 apart on the AVX2 CPU).
    optimizers = {
        "adam": keras.optimizers.Adam(0.01, epsilon=1e-3),
        "sgd": keras.optimizers.SGD(0.05),
    }
    model.compile(optimizers[optimizer], "sparse_categorical_crossentropy")
    return model


def state_after_training(model: keras.Model, digits, steps: int) -> list[np.ndarray]:
    """Every weight (moving statistics included) and the optimizer's state after `steps`."""
    x, y = digits
    model.fit(x[: steps * 32], y[: steps * 32], batch_size=32, shuffle=False, verbose=0)
    return [v.numpy() for v in model.weights] + [v.numpy() for v in model.optimizer.variables]


def assert_same_state(ours: list[np.ndarray], theirs: list[np.ndarray], atol: float) -> None:
    assert len(ours) == len(theirs) > 6
    for mine, keras_own in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(mine, keras_own, rtol=0, atol=atol)


def test_fused_adam_trains_to_the_weights_and_moments_keras_adam_reaches(digits):
    start = small_net(batch_norm=False).get_weights()
    keras_state = state_after_training(small_net(batch_norm=False), digits, steps=16)
    fused = small_net(batch_norm=False)
    fuse_adam(fused.optimizer)
    fused_state = state_after_training(fused, digits, steps=16)
    assert_same_state(fused_state, keras_state, atol=1e-5)
    assert max(np.abs(a - b).max() for a, b in zip(start, keras_state, strict=False)) > 0.05


def test_fused_batch_norm_trains_to_the_weights_and_statistics_keras_reaches(digits):
    keras_state = state_after_training(small_net(optimizer="sgd"), digits, steps=8)
    fused = small_net(optimizer="sgd")
    use_fused_kernels(fused)
    fused_state = state_after_training(fused, digits, steps=8)
    assert_same_state(fused_state, keras_state, atol=1e-4)
    moving_variance = [v.numpy() for v in fused.weights if "moving_variance" in v.path]
    assert len(moving_variance) == 2 and not np.allclose(moving_variance[0], 1.0)


def test_the_swap_covers_adam_and_every_batch_norm_layer():
    model = use_fused_kernels(small_net())
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(norms) == 2 and all(is_fused(layer) for layer in norms)
    assert is_fused(model.optimizer)
    assert not any(is_fused(layer) for layer in model.layers if layer not in norms)


def test_batch_norm_inside_a_nested_model_is_fused_too():
    inner = keras.Sequential([keras.layers.Dense(8), keras.layers.BatchNormalization()])
    model = keras.Sequential([keras.Input((4,)), inner, keras.layers.Dense(2)])
    model.compile("adam", "mse")
    use_fused_kernels(model)
    assert is_fused(inner.layers[1]) and not is_fused(inner.layers[0])


def test_other_optimizers_and_amsgrad_keep_their_keras_step():
    for optimizer in (keras.optimizers.RMSprop(), keras.optimizers.Adam(amsgrad=True)):
        model = small_net()
        model.compile(optimizer, "sparse_categorical_crossentropy")
        use_fused_kernels(model)
        assert not is_fused(model.optimizer)


@pytest.mark.parametrize("dtype, tolerance", [("float32", 1e-4), ("mixed_bfloat16", 4e-2)])
@pytest.mark.parametrize("shape", [(32, 6, 6, 8), (32, 16)])
def test_fused_batch_norm_matches_keras_forward_backward_and_statistics(shape, dtype, tolerance):
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(2.0, 3.0, shape).astype("float32"))
    weights = tf.constant(rng.normal(size=shape).astype("float32"))  # a loss that mixes outputs
    layers = [keras.layers.BatchNormalization(dtype=dtype) for _ in range(2)]
    for layer in layers:
        layer.build(shape)
        layer.gamma.assign(np.linspace(0.5, 2.0, shape[-1]))
        layer.beta.assign(np.linspace(-1.0, 1.0, shape[-1]))
    keras_layer, fused_layer = layers
    fuse_batch_norm(fused_layer)
    results = []
    for layer in layers:
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.cast(layer(x, training=True), "float32")
            loss = tf.reduce_sum(y * weights)
        grads = tape.gradient(loss, [x, layer.gamma, layer.beta])
        results.append([y, *grads, layer.moving_mean, layer.moving_variance])
    for ours, theirs in zip(results[1], results[0], strict=True):
        ours, theirs = np.asarray(ours), np.asarray(theirs)
        scale = np.abs(theirs).max()
        assert np.abs(ours - theirs).max() <= tolerance * scale
    # inference uses the moving statistics, through Keras' own call
    np.testing.assert_allclose(
        np.asarray(fused_layer(x, training=False), "float32"),
        np.asarray(keras_layer(x, training=False), "float32"),
        atol=tolerance * 10,  # the moving statistics agree to rounding, scaled up by 1/√var
    )


def test_a_model_trained_with_fused_kernels_saves_as_plain_keras(tmp_path):
    config = RunConfig(arch="cnn", layers="conv8x5 bn pool dense16 bn", epochs=1, limit=512,
                       validation_size=0, batch_size=64)  # fmt: skip
    path = tmp_path / "run.keras"
    progress = Progress()
    result = train(config, progress, model_path=path)
    assert is_fused(progress.model.optimizer)
    with zipfile.ZipFile(path) as archive:
        saved = json.loads(archive.read("config.json"))
    modules = set(_modules(saved))
    assert modules and all(m.startswith("keras") for m in modules), modules
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert not is_fused(loaded.optimizer)
    x, _, _, _ = load_mnist()
    images = (x[:64] / 255.0).astype("float32")
    np.testing.assert_allclose(
        loaded.predict_on_batch(images), result.model.predict_on_batch(images), atol=1e-6
    )


def test_a_continued_run_trains_with_fused_kernels_again(tmp_path):
    config = RunConfig(arch="cnn", layers="conv8x5 bn pool dense16", epochs=1, limit=256,
                       validation_size=0, batch_size=64)  # fmt: skip
    path = tmp_path / "run.keras"
    first = train(config, Progress(), model_path=path)
    progress = Progress()
    second = train(config.replace(epochs=2), progress, start=Start(path, first.history))
    assert len(second.history) == 2
    assert is_fused(progress.model.optimizer)
    assert all(
        is_fused(layer)
        for layer in progress.model.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    )


def move_adams_moments(monkeypatch) -> None:
    """Make this Keras one whose Adam keeps its first moments under another name than the
    kernel reads (`_first_moments` for `_momentums`), with Keras' own update reading them there."""
    adam, keras_build = keras.optimizers.Adam, keras.optimizers.Adam.build

    def build(self, var_list):
        if not self.built:
            keras_build(self, var_list)
            self._first_moments = self._momentums
            del self._momentums

    def update_step(self, gradient, variable, learning_rate):  # Keras 3.15's, moments renamed
        ops, dtype = keras.ops, variable.dtype
        lr, gradient = ops.cast(learning_rate, dtype), ops.cast(gradient, dtype)
        step = ops.cast(self.iterations + 1, dtype)
        beta_1_power = ops.power(ops.cast(self.beta_1, dtype), step)
        beta_2_power = ops.power(ops.cast(self.beta_2, dtype), step)
        m = self._first_moments[self._get_variable_index(variable)]
        v = self._velocities[self._get_variable_index(variable)]
        alpha = lr * ops.sqrt(1 - beta_2_power) / (1 - beta_1_power)
        self.assign_add(m, ops.multiply(ops.subtract(gradient, m), 1 - self.beta_1))
        self.assign_add(v, ops.multiply(ops.subtract(ops.square(gradient), v), 1 - self.beta_2))
        self.assign_sub(variable, ops.divide(m * alpha, ops.add(ops.sqrt(v), self.epsilon)))

    monkeypatch.setattr(adam, "build", build)
    monkeypatch.setattr(adam, "update_step", update_step)


@pytest.fixture
def fresh_check():
    """The once-a-process check of Keras' internals made again, before and after the test."""
    fused._checked.cache_clear()
    yield
    fused._checked.cache_clear()


def test_a_keras_that_moved_the_internals_trains_on_plain_keras_and_says_so_once(
    digits, monkeypatch, caplog, fresh_check
):
    keras_state = state_after_training(small_net(batch_norm=False), digits, steps=16)
    assert fused.kernels_fit_keras() and fused.missing_internals() == ()
    fused._checked.cache_clear()
    move_adams_moments(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="mnist_app.engine.fused"):
        model = use_fused_kernels(small_net())
        unfused = use_fused_kernels(small_net(batch_norm=False))
        progress = Progress()
        config = RunConfig(
            layers="dense32 bn", epochs=2, limit=1024, validation_size=0, batch_size=32
        )
        result = train(config, progress)
    assert not any(is_fused(obj) for obj in [model.optimizer, *model.layers])
    assert not is_fused(progress.model.optimizer) and result.test_accuracy > 0.7
    warnings = [record.getMessage() for record in caplog.records if record.name == fused.__name__]
    assert len(warnings) == 1 and "plain Keras" in warnings[0], warnings
    assert "Adam._momentums" in warnings[0]
    # plain Keras' step trains to the weights and moments Keras' Adam reaches
    assert_same_state(state_after_training(unfused, digits, steps=16), keras_state, atol=1e-6)


def _modules(node) -> list[str]:
    """Every "module" named in a saved model's configuration."""
    if isinstance(node, dict):
        found = [node["module"]] if isinstance(node.get("module"), str) else []
        return found + [m for value in node.values() for m in _modules(value)]
    if isinstance(node, list):
        return [m for value in node for m in _modules(value)]
    return []
