"""The training engine on a few hundred real MNIST images."""

import dataclasses
import math
import os
import time
import zipfile

import keras
import numpy as np
import pytest

from mnist_app.engine.config import RANGES, ConfigError, RunConfig
from mnist_app.engine.evaluation import predict_classes
from mnist_app.engine.progress import Progress
from mnist_app.engine.records import Outcome
from mnist_app.engine.schedules import schedule_factors
from mnist_app.engine.status import RunStatus
from mnist_app.engine.training import batches_per_call, save_model_atomically, train
from mnist_app.runs.jobs import TrainingManager
from mnist_app.runs.store import RunStore

FINISHED, STOPPED, DIVERGED = RunStatus.FINISHED, RunStatus.STOPPED, RunStatus.DIVERGED
QUEUED, RUNNING, PAUSED = RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.PAUSED

SMALL = RunConfig(limit=400, validation_size=200, batch_size=40, epochs=2, seed=1)
EXPLODING = SMALL.replace(optimizer="sgd", learning_rate=10.0, scaling="none", depth=3, width=256)


def _without_timings(history):
    return [dataclasses.replace(epoch, seconds=None) for epoch in history]


def test_loss_falls_and_the_history_is_complete():
    progress = Progress()
    result = train(SMALL.replace(epochs=3), progress)
    snap = progress.snapshot()
    assert result.status == FINISHED
    assert [e.epoch for e in result.history] == [1, 2, 3]
    assert result.history[-1].loss < result.history[0].loss
    assert all(e.val_loss is not None and e.val_accuracy is not None for e in result.history)
    assert all(e.complete for e in result.history)
    assert len(snap.batch_loss) == 3 * 10  # 400 images / batch 40, 3 epochs
    assert np.mean(snap.batch_loss[-5:]) < np.mean(snap.batch_loss[:5])
    assert snap.samples_seen == 3 * 400
    assert 0.5 < result.test_accuracy <= 1.0  # the full 10,000-image test set


def test_per_batch_values_reproduce_keras_running_means():
    progress = Progress()
    train(SMALL.replace(epochs=1), progress)
    snap = progress.snapshot()
    # The mean of the per-batch losses (equal batches) is Keras' epoch loss.
    assert np.mean(snap.batch_loss) == pytest.approx(snap.history[0].loss, rel=1e-4)
    assert np.mean(snap.batch_accuracy) == pytest.approx(snap.history[0].accuracy, abs=1e-4)


def test_test_accuracy_is_keras_evaluate_of_the_trained_model():
    from mnist_app.engine.data import prepare_data

    result = train(SMALL.replace(epochs=1))
    data = prepare_data(SMALL)
    probabilities = predict_classes(result.model, data.x_test[:2000])
    ours = float((probabilities.argmax(axis=1) == data.y_test[:2000]).mean())
    keras_loss, keras_acc = result.model.evaluate(data.x_test[:2000], data.y_test[:2000], verbose=0)
    assert ours == pytest.approx(keras_acc, abs=1e-6)


def test_same_seed_same_result_and_another_seed_differs():
    a, b = train(SMALL), train(SMALL)
    c = train(SMALL.replace(seed=2))
    assert _without_timings(a.history) == _without_timings(b.history)
    assert a.test_accuracy == b.test_accuracy
    assert _without_timings(a.history) != _without_timings(c.history)


class _StopAfter(Progress):
    """Presses Stop from inside the training loop when batch `n` has just finished."""

    def __init__(self, n):
        super().__init__()
        self.n = n

    def add_batch(self, *args):
        super().add_batch(*args)
        if len(self.snapshot().batch_loss) == self.n:
            self.request_stop()


def test_stop_takes_effect_within_one_batch():
    progress = _StopAfter(3)
    result = train(SMALL.replace(epochs=5), progress)
    assert result.status == STOPPED
    assert len(progress.snapshot().batch_loss) == 3
    assert len(result.history) == 1 and not result.history[0].complete
    assert result.test_accuracy is not None  # a stopped model is still scored


def test_a_diverging_run_is_stopped_with_a_reason(tmp_path):
    progress = Progress()
    result = train(EXPLODING.replace(epochs=5), progress, model_path=tmp_path / "m.keras")
    assert result.status == DIVERGED and result.reason == "blew_up"
    assert "diverged" in result.message and "learning rate" in result.message
    assert len(progress.snapshot().batch_loss) < 5 * 10  # it did not run to the end
    assert result.model_path is None and not (tmp_path / "m.keras").exists()


# The probe's case: SGD, sigmoid, raw 0..255 inputs, learning rate 10. The loss never turns
# into NaN; it sits near 150-200 (a network that guesses scores 2.3) with 10% accuracy.
SATURATING = RunConfig(optimizer="sgd", activation="sigmoid", scaling="none", learning_rate=10.0,
                       limit=600, validation_size=0, batch_size=40, epochs=5, seed=1)  # fmt: skip


def test_saturated_outputs_are_a_divergence_not_a_finished_run():
    result = train(SATURATING)
    assert result.status == DIVERGED and result.reason == "saturated"
    assert len(result.history) == 2  # caught at the second epoch, not run to the fifth
    assert result.history[-1].loss > 10 * math.log(10)
    assert "far above the 2.3 of a network that just guesses" in result.message


def test_a_network_stuck_at_chance_is_stopped_with_its_reason():
    result = train(SMALL.replace(optimizer="sgd", learning_rate=1e-5, activation="sigmoid",
                                 epochs=4))  # fmt: skip
    assert result.status == DIVERGED and result.reason == "stuck"
    assert all(e.accuracy < 0.2 for e in result.history) and len(result.history) == 2
    assert "not learning" in result.message


def test_raw_inputs_that_start_high_but_come_down_are_not_a_divergence():
    result = train(SMALL.replace(scaling="none", epochs=3, validation_size=0, limit=600))
    assert result.history[0].loss > 10 * math.log(10)  # far above chance at first ...
    assert result.status == FINISHED and result.test_accuracy > 0.7  # ... and then it learns


def test_learning_rate_can_change_while_training():
    class ChangeAfterFirstEpoch(Progress):
        def add_batch(self, *args):
            super().add_batch(*args)
            if len(self.snapshot().batch_loss) == 10:
                self.set_learning_rate(0.05)

    result = train(SMALL, ChangeAfterFirstEpoch())
    assert result.history[0].learning_rate == pytest.approx(1e-3)
    assert result.history[1].learning_rate == pytest.approx(0.05)
    with pytest.raises(ValueError, match="learning_rate"):
        Progress().set_learning_rate(-1)


LOWEST_RATE, HIGHEST_RATE = RANGES["learning_rate"]


@pytest.mark.parametrize(
    "rate", [1e-9, LOWEST_RATE / 2, 0.0, -1.0, HIGHEST_RATE * 1.01, math.inf, math.nan]
)
def test_a_live_learning_rate_is_refused_where_a_run_config_refuses_it(rate):
    with pytest.raises(ConfigError, match="learning_rate"):
        RunConfig(learning_rate=rate)
    with pytest.raises(ValueError, match="learning_rate"):
        Progress().set_learning_rate(rate)


@pytest.mark.parametrize("rate", [LOWEST_RATE, 0.05, HIGHEST_RATE])
def test_a_live_learning_rate_is_taken_where_a_run_config_takes_it(rate):
    assert RunConfig(learning_rate=rate).learning_rate == rate
    progress = Progress()
    progress.set_learning_rate(rate)
    assert progress.take_pending_learning_rate() == rate


def _cosine(step: int, steps: int) -> float:
    return 0.5 * (1 + math.cos(math.pi * step / steps))


def test_cosine_schedule_glides_down_to_zero():
    progress = Progress()
    result = train(SMALL.replace(lr_schedule="cosine", learning_rate=0.01), progress)
    first, last = (e.learning_rate for e in result.history)
    assert first == pytest.approx(0.01 * _cosine(9, 20), rel=1e-5)  # the epochs' last batches
    assert last == pytest.approx(0.01 * _cosine(19, 20), rel=1e-5)


def test_a_onecycle_run_climbs_to_its_peak_then_glides_down_to_zero():
    result = train(SMALL.replace(lr_schedule="onecycle", learning_rate=0.01))
    factors = schedule_factors("onecycle", 20, np.arange(20))  # 2 epochs of 10 batches
    assert np.argmax(factors) == 5  # the climb takes the first quarter
    first, last = (e.learning_rate for e in result.history)  # the epochs' last batches
    assert first == pytest.approx(0.01 * factors[9], rel=1e-5)
    assert last == pytest.approx(0.01 * factors[19], rel=1e-5)


def test_a_live_change_under_a_cosine_schedule_sets_the_rate_now_and_keeps_gliding():
    class ChangeAtBatch5(Progress):
        def add_batch(self, *args):
            super().add_batch(*args)
            if len(self.snapshot().batch_loss) == 5:
                self.set_learning_rate(0.02)

    result = train(SMALL.replace(lr_schedule="cosine", learning_rate=0.01), ChangeAtBatch5())
    # From batch 6 (step 5) on, the rate is peak × cosine with the peak chosen so that step 5
    # runs at exactly 0.02; it still reaches the schedule's end with the last batch.
    peak = 0.02 / _cosine(5, 20)
    first, last = (e.learning_rate for e in result.history)
    assert first == pytest.approx(peak * _cosine(9, 20), rel=1e-5)
    assert last == pytest.approx(peak * _cosine(19, 20), rel=1e-5)


# 400 batches of 32 (the last of 16 images): run in 50 groups of 8
GROUPED = RunConfig(limit=400 * 32 - 16, validation_size=0, batch_size=32, width=16, epochs=2,
                    seed=1)  # fmt: skip


@pytest.mark.parametrize(
    "batch_size, steps, group",
    [(32, 400, 8), (32, 1875, 5), (128, 469, 1), (64, 938, 2), (64, 150, 3), (8, 7500, 1),
     (16, 3750, 1), (40, 10, 1), (512, 118, 1)],
)  # fmt: skip
def test_small_batches_run_in_groups_that_divide_the_epoch(batch_size, steps, group):
    assert batches_per_call(batch_size, steps) == group


def test_grouped_batches_count_every_image_once_and_their_points_average_to_the_epoch():
    progress = Progress()
    result = train(GROUPED, progress)
    snap = progress.snapshot()
    assert result.status == FINISHED and all(e.complete for e in result.history)
    assert snap.batches_per_point == 8 and snap.batches_per_epoch == 400
    assert len(snap.batch_loss) == 2 * 50  # one point per group
    assert snap.batch == 400 and snap.samples_seen == 2 * GROUPED.train_size
    images = np.array([8 * 32] * 49 + [8 * 32 - 16])  # each point's images in an epoch
    for epoch, record in enumerate(result.history):
        points = np.array(snap.batch_loss[epoch * 50 : (epoch + 1) * 50])
        assert np.average(points, weights=images) == pytest.approx(record.loss, rel=1e-4)
    assert np.mean(snap.batch_loss[-10:]) < np.mean(snap.batch_loss[:10])


def test_stop_in_grouped_batches_takes_effect_after_the_group():
    progress = _StopAfter(1)
    result = train(GROUPED, progress)
    snap = progress.snapshot()
    assert result.status == STOPPED
    assert len(snap.batch_loss) == 1 and snap.samples_seen == 8 * 32 and snap.batch == 8


def test_grouped_batches_follow_the_cosine_schedule_group_by_group():
    result = train(GROUPED.replace(lr_schedule="cosine", learning_rate=0.01))
    # Each group runs at the rate of its first batch; the epochs' last groups begin at batch 392.
    first, last = (e.learning_rate for e in result.history)
    assert first == pytest.approx(0.01 * _cosine(392, 800), rel=1e-5)
    assert last == pytest.approx(0.01 * _cosine(400 + 392, 800), abs=1e-9)  # float32 cosine


def test_model_is_saved_as_a_loadable_keras_file(tmp_path):
    path = tmp_path / "run.keras"
    result = train(SMALL.replace(epochs=1), model_path=path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    images = np.random.default_rng(0).random((4, 28, 28), dtype=np.float32)
    np.testing.assert_allclose(
        predict_classes(loaded, images), predict_classes(result.model, images), rtol=1e-5, atol=1e-6
    )
    assert [p.name for p in tmp_path.iterdir()] == ["run.keras"]  # no temporary files left


def test_save_is_atomic_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "run.keras"
    model = train(SMALL.replace(epochs=1), model_path=path).model
    before = path.read_bytes()

    def half_write(filepath, *args, **kwargs):
        with open(filepath, "wb") as out:
            out.write(before[: len(before) // 2])
        raise OSError("disk full")

    monkeypatch.setattr(model, "save", half_write)
    with pytest.raises(OSError, match="disk full"):
        save_model_atomically(model, path)
    assert path.read_bytes() == before
    assert zipfile.is_zipfile(path)
    assert [p.name for p in tmp_path.iterdir()] == ["run.keras"]


def test_manager_runs_in_background_and_records_in_the_store(lab_home):
    manager = TrainingManager(RunStore(lab_home), max_concurrent=1)
    run_id = manager.submit(SMALL.replace(epochs=1), preset=None)
    result = manager.wait(run_id, timeout=120)
    assert result.status == FINISHED
    stored = manager.store.get(run_id)
    assert stored.status == FINISHED
    assert stored.test_accuracy == pytest.approx(result.test_accuracy)
    assert len(stored.history) == 1
    assert keras.saving.load_model(stored.model_path).count_params() > 0
    live = manager.snapshot(run_id)
    assert len(live.batch_loss) == math.ceil(400 / 40)  # this process trained it: per batch

    # Another process (a restarted server) sees the same run through the store: per epoch only.
    later = TrainingManager(RunStore(lab_home)).snapshot(run_id)
    assert later.status == FINISHED and later.batch_loss == []
    assert _without_timings(later.history) == _without_timings(live.history)
    assert later.test_accuracy == pytest.approx(result.test_accuracy)
    assert later.epoch == 1 and later.epochs == 1
    assert later.fraction_done == 1.0 and later.samples_per_second > 0
    assert TrainingManager(RunStore(lab_home)).snapshot("no-such-run") is None


def test_queued_runs_know_their_place_and_can_be_stopped_from_another_thread(lab_home):
    manager = TrainingManager(RunStore(lab_home), max_concurrent=1)
    first = manager.submit(SMALL.replace(epochs=50), paused=True)  # holds before batch one
    second = manager.submit(SMALL)
    third = manager.submit(SMALL)
    _wait_for_status(manager, first, PAUSED)
    assert manager.job(second).progress.snapshot().queue_position == 1
    assert manager.job(third).progress.snapshot().queue_position == 2
    assert manager.store.get(third).status == QUEUED

    manager.stop(second)  # never starts
    manager.stop(first)  # paused: stops at once
    assert manager.wait(first, timeout=60).status == STOPPED
    assert manager.wait(second, timeout=60).status == STOPPED
    assert manager.store.get(second).history == []
    assert manager.wait(third, timeout=120).status == FINISHED
    assert len(manager.job(first).progress.snapshot().batch_loss) <= 1


def _wait_for_status(manager, run_id, status, timeout=60):
    """Until the training thread has reached `status` (it gets there on its own time)."""
    deadline = time.monotonic() + timeout
    while manager.snapshot(run_id).status != status:
        assert time.monotonic() < deadline, f"{run_id} is still {manager.snapshot(run_id).status}"
        time.sleep(0.02)


def test_pause_holds_after_the_current_batch_and_continue_goes_on_where_it_was(lab_home):
    manager = TrainingManager(RunStore(lab_home), max_concurrent=1)
    run_id = manager.submit(SMALL.replace(epochs=3), paused=True)
    _wait_for_status(manager, run_id, PAUSED)
    held = manager.snapshot(run_id)
    assert held.batch_loss == [] and held.samples_seen == 0 and held.train_seconds == 0.0
    time.sleep(0.5)  # a pause of known length, so the clock can be checked to leave it out
    assert manager.snapshot(run_id) == held  # nothing moves while paused
    manager.resume(run_id)
    result = manager.wait(run_id, timeout=120)
    assert result.status == FINISHED and len(result.history) == 3
    snap = manager.snapshot(run_id)
    assert snap.samples_seen == 3 * 400 and len(snap.batch_loss) == 30  # no batch lost or doubled
    fit_seconds = manager.job(run_id).result.fit_seconds
    assert result.train_seconds < fit_seconds - 0.4  # the half second paused not counted


def test_pause_mid_run_then_stop_while_paused(lab_home):
    class PauseAfter(Progress):  # presses Pause from inside the loop when batch 3 has finished
        def add_batch(self, *args):
            super().add_batch(*args)
            if len(self.snapshot().batch_loss) == 3:
                self.pause()

    manager = TrainingManager(RunStore(lab_home), max_concurrent=1)
    run_id = manager.submit(SMALL.replace(epochs=5), paused=True)
    job = manager.job(run_id)
    job.progress.__class__ = PauseAfter
    manager.resume(run_id)
    _wait_for_status(manager, run_id, PAUSED)
    assert len(manager.snapshot(run_id).batch_loss) == 3  # held right after its third batch
    manager.stop(run_id)
    result = manager.wait(run_id, timeout=120)
    assert result.status == STOPPED and result.test_accuracy is not None
    assert len(manager.snapshot(run_id).batch_loss) == 3  # Stop while paused: no batch more


def test_old_finished_jobs_are_dropped_from_memory_but_kept_in_the_store(lab_home, monkeypatch):
    import mnist_app.runs.jobs as jobs

    monkeypatch.setattr(jobs, "KEEP_FINISHED_JOBS", 1)
    manager = TrainingManager(RunStore(lab_home), max_concurrent=1)
    tiny = SMALL.replace(epochs=1, limit=80, validation_size=0)
    ids = []
    for _ in range(3):
        ids.append(manager.submit(tiny))
        manager.wait(ids[-1], timeout=120)
    assert [job.run_id for job in manager.jobs()] == ids[1:]
    assert all(manager.store.get(run_id).status == FINISHED for run_id in ids)


def test_submit_can_wait_for_a_free_slot_to_start_the_run(lab_home):
    manager = TrainingManager(RunStore(lab_home), max_concurrent=1)
    first = manager.submit(SMALL.replace(epochs=50), settle=30, paused=True)  # held at batch 0
    assert manager.job(first).left_queue.is_set()  # a free slot: it left the queue before return
    assert manager.snapshot(first).status in (RUNNING, PAUSED) and manager.is_active(first)
    second = manager.submit(SMALL, settle=30)  # no free slot: returns at once, still queued
    assert manager.snapshot(second).status == QUEUED and manager.is_active(second)
    manager.stop(second)
    manager.stop(first)
    assert manager.wait(first, timeout=60).status == STOPPED
    assert manager.wait(second, timeout=60).status == STOPPED
    assert not manager.is_active(first) and not manager.is_active(second)
    # A run this process does not train is active as long as the store says so.
    elsewhere = manager.store.create(SMALL)
    manager.store.mark_running(elsewhere)
    assert manager.is_active(elsewhere)
    manager.store.record_outcome(elsewhere, Outcome(FINISHED))
    assert not manager.is_active(elsewhere) and not manager.is_active("no-such-run")


def test_half_written_model_files_left_by_a_killed_process_are_cleared_at_start(lab_home):
    import mnist_app.runs.managers as managers

    models = RunStore(lab_home).models_dir
    old, fresh = models / ".saving-run-old.keras", models / ".saving-run-now.keras"
    for leftover in (old, fresh):
        leftover.write_bytes(b"PK half a zip")
    an_hour_ago = time.time() - 3700
    os.utime(old, (an_hour_ago, an_hour_ago))
    managers._shared = None
    try:
        managers.shared_manager()  # a server or CLI starts on this store
    finally:
        managers._shared = None
    assert not old.exists()
    assert fresh.exists()  # may be another live process's save in progress: left alone


def test_a_model_is_only_ever_saved_as_a_keras_file(tmp_path):
    model = train(SMALL.replace(epochs=1)).model
    with pytest.raises(ValueError, match=r"must end in \.keras"):
        save_model_atomically(model, tmp_path / "model.h5")
    assert list(tmp_path.iterdir()) == []
