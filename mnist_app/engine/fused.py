"""Fused TensorFlow kernels for the two slowest steps of Keras 3 training on a CPU.

Keras 3 writes Adam's update and batch normalization out of single operations, each a pass over
memory: Adam makes about nine passes over every weight per batch, and BatchNormalization first
copies its bfloat16 input to float32 and then normalises, with a backward pass to match. Measured
here (2 cores, mixed bfloat16, `python bench/train_throughput.py --epochs-only`): report-v3 took
23 s an epoch, 17 s with TensorFlow's one-pass Adam kernel; lab-default 34-57 s, 18 s with both.

`use_fused_kernels(model)` swaps these steps on one built model's objects only. The layers and the
optimizer keep their Keras classes and configurations, so a saved file is plain Keras that loads
anywhere; the swap is redone on the model a continued run loads. Same maths: the tests compare
each kernel with Keras' own steps.

The kernels reach into Keras' internals (Adam's `_get_variable_index`, `_momentums` and
`_velocities`, a variable's `.value.handle`), which a new Keras may move. The first swap checks
them on a small Adam and BatchNormalization of its own; if one is not where it is expected, no
swap is made and training runs on plain Keras, with one warning in the log.
"""

from __future__ import annotations

import functools
import logging
import threading
import types

import keras
import tensorflow as tf

_FUSED = "_mnist_lab_fused"  # marks objects whose step has been swapped
_ADAM_STATE = ("amsgrad", "iterations", "beta_1", "beta_2", "epsilon", "_momentums", "_velocities")
_BATCH_NORM_STATE = ("gamma", "beta", "moving_mean", "moving_variance", "momentum", "epsilon")
_BATCH_NORM_STATE += ("renorm", "axis", "scale", "center", "trainable", "compute_dtype")
_check_lock = threading.Lock()
log = logging.getLogger(__name__)


def use_fused_kernels(model: keras.Model) -> keras.Model:
    """Train `model` with fused kernels for Adam and BatchNormalization, where they apply."""
    if isinstance(model.optimizer, keras.optimizers.Adam):
        fuse_adam(model.optimizer)
    for layer in _all_layers(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            fuse_batch_norm(layer)
    return model


def _all_layers(model: keras.layers.Layer):
    """Every layer inside `model`, nested models' layers included."""
    for layer in getattr(model, "layers", []):
        yield layer
        yield from _all_layers(layer)


def fuse_adam(optimizer: keras.optimizers.Adam) -> None:
    """Update with the one-pass kernel (not with amsgrad, which the kernel lacks)."""
    if not optimizer.amsgrad:
        _swap(optimizer, "update_step", _adam_step)


def fuse_batch_norm(layer: keras.layers.BatchNormalization) -> None:
    """Normalise while training with the fused kernel."""
    _swap(layer, "call", _batch_norm_call)


def is_fused(obj: object) -> bool:
    """Whether `obj` (an optimizer or a layer) runs a fused kernel."""
    return getattr(obj, _FUSED, False)


def _swap(obj: object, method: str, function) -> None:
    if not kernels_fit_keras():  # plain Keras then: the warning is in the log
        return
    setattr(obj, method, types.MethodType(function, obj))
    setattr(obj, _FUSED, True)


def kernels_fit_keras() -> bool:
    """Whether this Keras keeps the internals the kernels use where they expect them: checked
    once a process, and said once in the log if not."""
    with _check_lock:  # trainings start on several threads
        return _checked()


@functools.cache
def _checked() -> bool:
    missing = missing_internals()
    if missing:
        found = f"Keras {keras.__version__} has no {', '.join(missing)}"
        log.warning("fused kernels off, training on plain Keras: %s", found)
    return not missing


def missing_internals() -> tuple[str, ...]:
    """The Keras internals the kernels use that a small built Adam and BatchNormalization lack
    (named explicitly, so Keras' numbering of the model's own layers is left as it was)."""
    variable = keras.Variable([0.0], dtype="float32", name="fused_check")
    adam = keras.optimizers.Adam(name="fused_check")
    adam.build([variable])
    missing = [f"Adam.{name}" for name in _ADAM_STATE if not hasattr(adam, name)]
    if not missing:
        try:  # the handles the kernel updates in place
            index = adam._get_variable_index(variable)
            for slots in (adam._momentums, adam._velocities):
                tf.convert_to_tensor(slots[index].value.handle)
            tf.convert_to_tensor(variable.handle)
        except (AttributeError, KeyError, IndexError, TypeError, ValueError) as error:
            missing.append(f"Adam's variable handles ({type(error).__name__}: {error})")
    layer = keras.layers.BatchNormalization(name="fused_check")
    layer.build((None, 4))
    missing += [f"BatchNormalization.{n}" for n in _BATCH_NORM_STATE if not hasattr(layer, n)]
    return tuple(missing)


def _adam_step(self: keras.optimizers.Adam, gradient, variable, learning_rate) -> None:
    """Keras' Adam update of one variable in TensorFlow's one-pass ApplyAdam kernel.

    Both compute m += (g - m)(1 - β1), v += (g² - v)(1 - β2) and
    w -= lr·√(1 - β2ᵗ)/(1 - β1ᵗ) · m / (√v + ε).
    """
    if isinstance(gradient, tf.IndexedSlices):  # sparse gradients: Keras' own step
        return keras.optimizers.Adam.update_step(self, gradient, variable, learning_rate)
    index = self._get_variable_index(variable)
    m, v = self._momentums[index], self._velocities[index]
    dtype = variable.dtype
    step = tf.cast(self.iterations + 1, dtype)
    beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
    tf.raw_ops.ResourceApplyAdam(
        var=variable.handle,
        m=m.value.handle,
        v=v.value.handle,
        beta1_power=tf.pow(beta_1, step),
        beta2_power=tf.pow(beta_2, step),
        lr=tf.cast(learning_rate, dtype),
        beta1=beta_1,
        beta2=beta_2,
        epsilon=tf.cast(self.epsilon, dtype),
        grad=tf.cast(gradient, dtype),
        use_locking=False,
    )


def _batch_norm_call(self: keras.layers.BatchNormalization, inputs, training=None, mask=None):
    """Keras' BatchNormalization while training, in TensorFlow's FusedBatchNormV3 kernel.

    The kernel normalises a bfloat16 input without a float32 copy, with statistics and scale in
    float32. Anything else (inference, a mask, renormalisation, another axis) is Keras' own call.
    """
    rank = len(inputs.shape)
    if (
        not (training and self.trainable)
        or mask is not None
        or self.renorm
        or rank not in (2, 4)
        or self.axis not in (-1, rank - 1)
    ):
        return keras.layers.BatchNormalization.call(self, inputs, training=training, mask=mask)
    x = tf.reshape(inputs, [-1, 1, 1, inputs.shape[-1]]) if rank == 2 else inputs
    channels = x.shape[-1]
    scale = tf.cast(self.gamma, "float32") if self.scale else tf.ones([channels])
    offset = tf.cast(self.beta, "float32") if self.center else tf.zeros([channels])
    y, mean, variance, *_ = tf.raw_ops.FusedBatchNormV3(
        x=x,
        scale=scale,
        offset=offset,
        mean=tf.zeros([0]),
        variance=tf.zeros([0]),
        epsilon=self.epsilon,
        exponential_avg_factor=1.0,
        data_format="NHWC",
        is_training=True,
    )
    shape = tf.shape(x)
    count = tf.cast(shape[0] * shape[1] * shape[2], "float32")
    variance = variance * (count - 1.0) / count  # the kernel returns it unbiased; Keras biased
    momentum = self.momentum
    self.moving_mean.assign(self.moving_mean * momentum + mean * (1.0 - momentum))
    self.moving_variance.assign(self.moving_variance * momentum + variance * (1.0 - momentum))
    if rank == 2:
        y = tf.reshape(y, tf.shape(inputs))
    return tf.cast(y, self.compute_dtype)
