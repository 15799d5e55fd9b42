"""Training with live metrics: small Keras callbacks feed a thread-safe Progress object."""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from mnist_app.engine.config import CHANCE_LOSS, RunConfig
from mnist_app.engine.data import Drawings, prepare_data
from mnist_app.engine.feed import training_input
from mnist_app.engine.files import write_atomically
from mnist_app.engine.fused import use_fused_kernels
from mnist_app.engine.models import build_model
from mnist_app.engine.precision import resolve
from mnist_app.engine.progress import Progress
from mnist_app.engine.records import EpochRecord, Outcome
from mnist_app.engine.schedules import schedule_factors
from mnist_app.engine.status import RunStatus
from mnist_app.engine.weight_history import EpochWeights, WeightHistory

_seed_lock = threading.Lock()  # keras' global seed is shared by every thread
DIVERGENCE_LOSS = 1e6  # a loss this large means the weights have blown up
SATURATED_LOSS = 10 * CHANCE_LOSS  # far above chance: confidently wrong, saturated outputs
EVAL_BATCH = 1024  # images per batch when scoring (validation, test): results do not depend on it
CHANCE_ACCURACY = 0.2  # below this after two epochs (chance is 0.1), with no fall in the loss
# Small batches run several to one TensorFlow call (Keras' steps_per_execution); the callbacks
# see each group at its end. report-v3 (batch 32) took 18.1 s an epoch one by one here, 15.9 s
# in groups of 5 and 15.4 s in groups of 8. Not below 32 images, whose noisy curves are a lesson
# of their own.
GROUPED_BATCH_SIZE = 32  # the smallest batch that is grouped
IMAGES_PER_CALL = 256  # a group holds up to this many images
POINTS_PER_EPOCH = 50  # and the curves keep at least this many points an epoch


def batches_per_call(batch_size: int, steps: int) -> int:
    """How many batches run back to back before the callbacks (live curves, Pause, Stop) run.

    The groups divide the epoch's `steps` exactly: the training stream runs on into the next
    epoch, and a group must not take batches from it.
    """
    if batch_size < GROUPED_BATCH_SIZE:
        return 1
    most = max(1, min(IMAGES_PER_CALL // batch_size, steps // POINTS_PER_EPOCH))
    return max(k for k in range(1, most + 1) if steps % k == 0)


# --- the callbacks: one job each --------------------------------------------------------------
class BatchMetrics(keras.callbacks.Callback):
    """Publishes each batch's own loss and accuracy (or each group's, where batches run in
    groups), and a record of each epoch."""

    def __init__(self, progress: Progress, train_size: int, batch_size: int, on_epoch=None):
        super().__init__()
        self.progress = progress
        self.train_size = train_size
        self.batch_size = batch_size
        self.on_epoch = on_epoch  # optional callable(EpochRecord), e.g. to persist history
        self._seen = 0  # samples so far in this epoch
        self._loss_sum = 0.0  # running sums behind Keras' running means
        self._correct = 0.0
        self._epoch_start = 0.0

    def on_train_begin(self, logs=None):
        self.progress.start_clock()

    def on_epoch_begin(self, epoch, logs=None):
        self._seen, self._loss_sum, self._correct = 0, 0.0, 0.0
        self._epoch_start = time.perf_counter()
        self.progress.update(batch=0)

    def on_train_batch_end(self, batch, logs=None):
        logs = logs or {}
        # `batch` is the last of the group Keras just ran (past the epoch's end in a short one)
        seen = min((batch + 1) * self.batch_size, self.train_size)
        n = seen - self._seen
        if n <= 0:
            return
        # Keras reports running means over the epoch; recover these batches' own values.
        loss_sum = float(logs.get("loss", math.nan)) * seen
        correct = float(logs.get("accuracy", math.nan)) * seen
        batch_loss = (loss_sum - self._loss_sum) / n
        batch_acc = (correct - self._correct) / n
        self._seen = seen
        self._loss_sum, self._correct = loss_sum, correct
        batches = math.ceil(n / self.batch_size)
        self.progress.add_batch(batch_loss, min(max(batch_acc, 0.0), 1.0), n, batches)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        record = EpochRecord(
            epoch=epoch + 1,
            loss=_float(logs.get("loss")),
            accuracy=_float(logs.get("accuracy")),
            val_loss=_float(logs.get("val_loss")),
            val_accuracy=_float(logs.get("val_accuracy")),
            seconds=time.perf_counter() - self._epoch_start,
            learning_rate=current_learning_rate(self.model),
            complete=self._seen >= self.train_size,
        )
        self.progress.add_epoch(record)
        if self.on_epoch is not None:
            self.on_epoch(record)


class PauseAndStop(keras.callbacks.Callback):
    """Holds the run while it is paused, and ends it after the batch in which Stop came."""

    def __init__(self, progress: Progress):
        super().__init__()
        self.progress = progress

    def on_train_begin(self, logs=None):
        self.progress.hold_while_paused()  # paused before it started: hold before batch one

    def on_train_batch_end(self, batch, logs=None):
        self.progress.hold_while_paused()
        if self.progress.stop_requested:
            self.model.stop_training = True


class LearningRateControl(keras.callbacks.Callback):
    """Applies the learning-rate schedule and the changes a user makes while training.

    With the constant schedule, a change simply becomes the rate from the next batch on.
    Under a schedule the rate is `peak × factor(step)` (`schedule_factors`); a change sets a
    new peak such that the rate is the chosen value right now, and it keeps following the
    schedule down to 0 by the last batch from there.
    """

    def __init__(self, progress: Progress, config: RunConfig, steps_per_epoch: int):
        super().__init__()
        self.progress = progress
        self.peak = config.learning_rate
        self.steps_per_epoch = steps_per_epoch
        self.schedule = config.lr_schedule if config.lr_schedule != "constant" else None
        self.total_steps = config.epochs * steps_per_epoch
        self._factors = np.ones(0)  # the schedule's factor at each step of this epoch

    def on_train_begin(self, logs=None):
        self.progress.update(learning_rate=current_learning_rate(self.model))

    def on_epoch_begin(self, epoch, logs=None):
        if self.schedule is not None:  # one vectorised call per epoch, not one per batch
            first = epoch * self.steps_per_epoch
            steps = np.arange(first, first + self.steps_per_epoch)
            self._factors = schedule_factors(self.schedule, self.total_steps, steps)

    def on_train_batch_begin(self, batch, logs=None):
        # `batch`: the first of the batches Keras runs next (in a group, all at this rate)
        chosen = self.progress.take_pending_learning_rate()
        if self.schedule is not None:
            factor = self._factors[min(batch, len(self._factors) - 1)]
            if chosen is not None:
                self.peak = chosen / max(factor, 1e-6)
            self._set(self.peak * factor)
        elif chosen is not None:
            self._set(chosen)

    def _set(self, rate: float) -> None:
        self.model.optimizer.learning_rate = rate
        self.progress.update(learning_rate=float(rate))


class DivergenceGuard(keras.callbacks.Callback):
    """Stops a run that has gone wrong, and says why in `reason` and `message`.

    Three ways, each with its own message: the loss blew up (NaN, infinite or huge: checked
    every batch); the outputs saturated (an epoch's loss far above the 2.3 of guessing and not
    coming down, or above twice it with accuracy at chance: confidently wrong); or it is stuck
    (after two epochs every accuracy under 20% and the loss not falling).
    """

    MESSAGES = {
        "blew_up": "The loss blew up (NaN, infinite or above 1e6): the run diverged. "
        "Try a smaller learning rate, scaled inputs or another optimizer.",
        "saturated": "The loss is {loss:.0f}, far above the {chance:.1f} of a network that "
        "just guesses: the outputs saturated and the network is confidently wrong, so the run "
        "diverged. Try a smaller learning rate or scaled inputs.",
        "stuck": "Accuracy is stuck at chance level ({accuracy:.0%}) and the loss is not "
        "falling: the network is not learning. Try scaled inputs, another activation or "
        "another learning rate.",
    }

    def __init__(self):
        super().__init__()
        self.reason: str | None = None
        self.message = ""
        self._epochs: list[tuple[float, float]] = []  # (loss, accuracy) of each epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = float((logs or {}).get("loss", math.nan))  # the epoch's running mean
        if not math.isfinite(loss) or loss > DIVERGENCE_LOSS:
            self._diverge("blew_up")

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        loss, accuracy = float(logs.get("loss", math.nan)), float(logs.get("accuracy", 0.0))
        self._epochs.append((loss, accuracy))
        if self.reason is not None or len(self._epochs) < 2:
            return
        previous_loss = self._epochs[-2][0]
        at_chance = all(acc < CHANCE_ACCURACY for _, acc in self._epochs)
        # A first epoch may start far above chance (raw 0..255 inputs do) and still come down.
        not_coming_down = loss > SATURATED_LOSS and loss >= 0.9 * previous_loss
        if not_coming_down or (at_chance and loss > 2 * CHANCE_LOSS):
            self._diverge("saturated", loss=loss, chance=CHANCE_LOSS)
        elif at_chance and (loss >= 0.98 * self._epochs[0][0] or self._dead(loss, previous_loss)):
            self._diverge("stuck", accuracy=accuracy)

    @staticmethod
    def _dead(loss: float, previous_loss: float) -> bool:
        """The loss sits at the 2.3 of guessing and no longer falls: after a first epoch that
        blew up (a learning rate far too high), the network died and outputs the same for all."""
        return abs(loss - CHANCE_LOSS) < 0.1 * CHANCE_LOSS and loss >= 0.98 * previous_loss

    def on_train_end(self, logs=None):
        # A one-epoch run: far above chance and no better than guessing is saturated too.
        if self.reason is None and len(self._epochs) == 1:
            loss, accuracy = self._epochs[0]
            if loss > 2 * CHANCE_LOSS and accuracy < CHANCE_ACCURACY:
                self._diverge("saturated", loss=loss, chance=CHANCE_LOSS)

    def _diverge(self, reason: str, **values: float) -> None:
        self.reason = reason
        self.message = self.MESSAGES[reason].format(**values)
        self.model.stop_training = True


class Checkpoint(keras.callbacks.Callback):
    """Saves the model (weights and optimizer state) at the end of every epoch, atomically,
    so a run whose process dies loses at most one epoch and can be continued."""

    def __init__(self, path: str | os.PathLike):
        super().__init__()
        self.path = path

    def on_epoch_end(self, epoch, logs=None):
        save_model_atomically(self.model, self.path)


@dataclass(frozen=True)
class Start:
    """Where a continued run begins: its parent's saved model and the epochs it already has."""

    model_path: str | os.PathLike
    history: list[EpochRecord]


def current_learning_rate(model: keras.Model) -> float:
    return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))


def _float(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class RunResult(Outcome):
    """How a run ended, with the trained model and the time the whole fit call took."""

    fit_seconds: float = 0.0  # the whole model.fit call, validation included
    model: keras.Model | None = None


def train(
    config: RunConfig,
    progress: Progress | None = None,
    model_path: str | os.PathLike | None = None,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    start: Start | None = None,
    on_weights: Callable[[EpochWeights], None] | None = None,
    extra: Drawings | None = None,
) -> RunResult:
    """Train a model for the config on MNIST, reporting to `progress`; save it if given a path.

    With a path the model is also saved after every epoch. With `start`, training continues
    the saved model (weights and optimizer state) from the epoch after `start.history`'s last,
    up to `config.epochs` in all. With `on_weights`, each layer's weights are described before
    training and after every epoch (mnist_app.engine.weight_history) and handed to it. `extra`:
    the class's drawings a config with `class_digits` adds to the training images.
    """
    progress = progress or Progress()
    data = prepare_data(config, extra)
    steps = math.ceil(len(data.x_train) / config.batch_size)
    first_epoch = len(start.history) if start else 0
    progress.update(
        status=RunStatus.RUNNING,
        epochs=config.epochs,
        epoch=first_epoch,
        history=list(start.history) if start else [],
        batches_per_epoch=steps,
        batches_per_point=batches_per_call(config.batch_size, steps),
        samples_total=len(data.x_train) * (config.epochs - first_epoch),
    )
    with _seed_lock:
        keras.utils.set_random_seed(config.seed)
        model = keras.models.load_model(start.model_path) if start else build_model(config)
    use_fused_kernels(model)  # same maths, fewer passes over memory (mnist_app/engine/fused.py)
    model.steps_per_execution = batches_per_call(config.batch_size, steps)
    progress.model = model
    guard = DivergenceGuard()
    # The checkpoint comes first: `on_epoch` (in BatchMetrics) may hand the epoch's file on.
    callbacks = [Checkpoint(model_path)] if model_path is not None else []
    callbacks += [
        LearningRateControl(progress, config, steps),
        BatchMetrics(progress, len(data.x_train), config.batch_size, on_epoch),
        guard,
        PauseAndStop(progress),
    ]
    if on_weights is not None:
        callbacks.append(
            WeightHistory(data.x_train, data.y_train, config.seed, on_weights, first_epoch)
        )
    validation = (data.x_val, data.y_val) if len(data.x_val) else None
    fit_start = time.perf_counter()
    model.fit(
        **training_input(data.x_train, data.y_train, config, first_epoch),
        epochs=config.epochs,
        initial_epoch=first_epoch,
        validation_data=validation,
        # Scoring needs no small batches: at the training's batch size of 1, the 10,000
        # validation images took 10 s an epoch here, more than the training itself.
        validation_batch_size=EVAL_BATCH,
        callbacks=callbacks,
        verbose=0,
    )
    fit_seconds = time.perf_counter() - fit_start
    snap = progress.snapshot(batches=False)
    ended = {
        "history": snap.history,
        "train_seconds": snap.train_seconds,
        "precision": resolve(config),
    }
    if guard.reason is not None:
        if model_path is not None:  # its epoch checkpoints hold the diverged weights
            Path(model_path).unlink(missing_ok=True)
        result = RunResult(
            RunStatus.DIVERGED, guard.message, guard.reason, fit_seconds=fit_seconds, **ended
        )
    else:
        stopped = progress.stop_requested
        scores = model.evaluate(data.x_test, data.y_test, batch_size=EVAL_BATCH, verbose=0)
        test_loss, test_accuracy = (float(v) for v in scores)
        if model_path is not None:
            save_model_atomically(model, model_path)
        result = RunResult(
            RunStatus.STOPPED if stopped else RunStatus.FINISHED,
            "Stopped by the user." if stopped else "",
            test_loss=test_loss,
            test_accuracy=test_accuracy,
            model_path=str(model_path) if model_path is not None else None,
            fit_seconds=fit_seconds,
            model=model,
            **ended,
        )
    progress.update(
        status=result.status,
        message=result.message,
        test_loss=result.test_loss,
        test_accuracy=result.test_accuracy,
    )
    return result


def save_model_atomically(model: keras.Model, path: str | os.PathLike) -> Path:
    """Write a .keras file so that readers see the old file or the whole new one, never half."""
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"{path}: a model file must end in .keras")
    return write_atomically(path, model.save)
