"""Learning-rate schedules, judged against the Keras CosineDecay the code behind a run writes."""

import keras
import numpy as np
import pytest

from mnist_app.engine.schedules import ONECYCLE_START, onecycle_warmup_steps, schedule_factors


def _keras_curve(schedule: keras.optimizers.schedules.LearningRateSchedule, steps: int):
    return np.array([float(keras.ops.convert_to_numpy(schedule(step))) for step in range(steps)])


@pytest.mark.parametrize("total", [1, 20, 469, 938])
def test_cosine_is_keras_cosine_decay(total):
    expected = _keras_curve(keras.optimizers.schedules.CosineDecay(1.0, total), total)
    got = schedule_factors("cosine", total, np.arange(total))
    np.testing.assert_allclose(got, expected, atol=1e-6)


@pytest.mark.parametrize("total", [1, 4, 20, 469, 938])
def test_onecycle_is_keras_cosine_decay_with_a_warmup(total):
    warmup = onecycle_warmup_steps(total)
    keras_schedule = keras.optimizers.schedules.CosineDecay(
        ONECYCLE_START, max(1, total - warmup), warmup_target=1.0, warmup_steps=warmup
    )
    got = schedule_factors("onecycle", total, np.arange(total))
    np.testing.assert_allclose(got, _keras_curve(keras_schedule, total), atol=1e-6)


def test_onecycle_climbs_from_a_25th_to_the_peak_over_a_quarter_then_glides_to_zero():
    factors = schedule_factors("onecycle", 400, np.arange(401))
    assert factors[0] == pytest.approx(1 / 25)
    assert np.argmax(factors) == 100 and factors[100] == pytest.approx(1.0)
    assert np.all(np.diff(factors[:101]) > 0) and np.all(np.diff(factors[100:]) < 0)
    assert factors[400] == pytest.approx(0.0, abs=1e-12)


def test_constant_is_the_peak_throughout():
    assert np.array_equal(schedule_factors("constant", 10, np.arange(10)), np.ones(10))
