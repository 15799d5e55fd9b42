"""Training with live metrics: a Keras callback feeds a thread-safe Progress object."""

from __future__ import annotations

import copy
import math
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import keras

from mnist_app.config import RunConfig
from mnist_app.data import prepare_data
from mnist_app.models import build_model
from mnist_app.store import DIVERGED, FINISHED, QUEUED, RUNNING, STOPPED

_seed_lock = threading.Lock()  # keras' global seed is shared by every thread
DIVERGENCE_LOSS = 1e6  # a loss this large means the weights have blown up


class Progress:
    """Live state of one run, written by the training thread and read by anyone."""

    def __init__(self, epochs: int = 0):
        self._lock = threading.Lock()
        self.status = QUEUED
        self.message = ""
        self.epochs = epochs
        self.epoch = 0  # epochs completed
        self.batch = 0  # batches completed in the current epoch
        self.batches_per_epoch = 0
        self.batch_loss: list[float] = []  # each batch's own loss, in order
        self.batch_accuracy: list[float] = []
        self.history: list[dict] = []  # one dict per finished epoch
        self.samples_seen = 0
        self.samples_total = 0
        self.train_seconds = 0.0
        self.learning_rate: float | None = None
        self.test_loss: float | None = None
        self.test_accuracy: float | None = None
        self.queue_position = 0
        self._started: float | None = None
        self._stop = threading.Event()
        self._pending_lr: float | None = None
        self.model: keras.Model | None = None  # the model being trained, for live predictions

    # --- control, from any thread -------------------------------------------------------
    def request_stop(self) -> None:
        """Ask the run to stop after the current batch."""
        self._stop.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def set_learning_rate(self, value: float) -> None:
        """Change the learning rate from the next batch on."""
        if not (math.isfinite(value) and 0 < value <= 10):
            raise ValueError(f"learning_rate: {value!r} is outside the allowed range 1e-06..10")
        with self._lock:
            self._pending_lr = float(value)

    def take_pending_learning_rate(self) -> float | None:
        with self._lock:
            value, self._pending_lr = self._pending_lr, None
            return value

    # --- updates, from the training thread ---------------------------------------------
    def update(self, **fields: object) -> None:
        with self._lock:
            for name, value in fields.items():
                setattr(self, name, value)

    def add_batch(self, loss: float, accuracy: float, samples: int) -> None:
        with self._lock:
            self.batch += 1
            self.batch_loss.append(loss)
            self.batch_accuracy.append(accuracy)
            self.samples_seen += samples
            if self._started is not None:
                self.train_seconds = time.perf_counter() - self._started

    def add_epoch(self, record: dict) -> None:
        with self._lock:
            self.history.append(record)
            self.epoch = record["epoch"]

    def start_clock(self) -> None:
        with self._lock:
            self._started = time.perf_counter()

    # --- reading --------------------------------------------------------------------------
    def snapshot(self, batches: bool = True) -> dict:
        """A consistent copy of everything, safe to read while training goes on."""
        with self._lock:
            rate = self.samples_seen / self.train_seconds if self.train_seconds > 0 else 0.0
            remaining = max(self.samples_total - self.samples_seen, 0)
            return {
                "status": self.status,
                "message": self.message,
                "epoch": self.epoch,
                "epochs": self.epochs,
                "batch": self.batch,
                "batches_per_epoch": self.batches_per_epoch,
                "batch_loss": list(self.batch_loss) if batches else [],
                "batch_accuracy": list(self.batch_accuracy) if batches else [],
                "history": copy.deepcopy(self.history),
                "samples_seen": self.samples_seen,
                "samples_total": self.samples_total,
                "train_seconds": self.train_seconds,
                "samples_per_second": rate,
                "eta_seconds": remaining / rate if rate > 0 else None,
                "learning_rate": self.learning_rate,
                "test_loss": self.test_loss,
                "test_accuracy": self.test_accuracy,
                "queue_position": self.queue_position,
            }


class LiveMetrics(keras.callbacks.Callback):
    """Publishes per-batch and per-epoch metrics to a Progress; obeys Stop and LR changes."""

    def __init__(self, progress: Progress, config: RunConfig, train_size: int, on_epoch=None):
        super().__init__()
        self.progress = progress
        self.train_size = train_size
        self.batch_size = config.batch_size
        self.base_lr = config.learning_rate
        self.cosine = config.lr_schedule == "cosine"
        self.total_steps = config.epochs * math.ceil(train_size / config.batch_size)
        self._step = 0
        self.on_epoch = on_epoch  # optional callable(epoch_record), e.g. to persist history
        self.diverged = False
        self._seen = 0  # samples so far in this epoch
        self._loss_sum = 0.0  # running sums behind Keras' running means
        self._correct = 0.0
        self._epoch_start = 0.0

    def on_train_begin(self, logs=None):
        self.progress.update(learning_rate=self._current_lr())
        self.progress.start_clock()

    def on_epoch_begin(self, epoch, logs=None):
        self._seen, self._loss_sum, self._correct = 0, 0.0, 0.0
        self._epoch_start = time.perf_counter()
        self.progress.update(batch=0)

    def on_train_batch_begin(self, batch, logs=None):
        new_lr = self.progress.take_pending_learning_rate()
        if new_lr is not None:
            self.base_lr = new_lr  # with a cosine schedule, the new peak
        if self.cosine:
            new_lr = self.base_lr * 0.5 * (1 + math.cos(math.pi * self._step / self.total_steps))
        self._step += 1
        if new_lr is not None:
            self.model.optimizer.learning_rate = new_lr
            self.progress.update(learning_rate=new_lr)

    def on_train_batch_end(self, batch, logs=None):
        logs = logs or {}
        n = min(self.batch_size, self.train_size - self._seen)
        # Keras reports running means over the epoch; recover this batch's own values.
        loss_sum = float(logs.get("loss", math.nan)) * (self._seen + n)
        correct = float(logs.get("accuracy", math.nan)) * (self._seen + n)
        batch_loss = (loss_sum - self._loss_sum) / n
        batch_acc = (correct - self._correct) / n
        self._seen += n
        self._loss_sum, self._correct = loss_sum, correct
        self.progress.add_batch(batch_loss, min(max(batch_acc, 0.0), 1.0), n)
        if not math.isfinite(loss_sum) or loss_sum / self._seen > DIVERGENCE_LOSS:
            self.diverged = True
            self.model.stop_training = True
        elif self.progress.stop_requested:
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        record = {
            "epoch": epoch + 1,
            "loss": _float(logs.get("loss")),
            "accuracy": _float(logs.get("accuracy")),
            "val_loss": _float(logs.get("val_loss")),
            "val_accuracy": _float(logs.get("val_accuracy")),
            "seconds": time.perf_counter() - self._epoch_start,
            "learning_rate": self._current_lr(),
            "complete": self._seen >= self.train_size,
        }
        self.progress.add_epoch(record)
        if self.on_epoch is not None:
            self.on_epoch(record)

    def _current_lr(self) -> float:
        return float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))


def _float(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


@dataclass
class RunResult:
    """What a finished, stopped or diverged run produced."""

    status: str
    history: list[dict] = field(default_factory=list)
    test_loss: float | None = None
    test_accuracy: float | None = None
    train_seconds: float = 0.0  # first batch to last, as the live view shows it
    fit_seconds: float = 0.0  # the whole model.fit call, validation included
    model_path: str | None = None
    message: str = ""
    model: keras.Model | None = None


def train(
    config: RunConfig,
    progress: Progress | None = None,
    model_path: str | os.PathLike | None = None,
    on_epoch=None,
) -> RunResult:
    """Train a model for the config on MNIST, reporting to `progress`; save it if given a path."""
    progress = progress or Progress()
    data = prepare_data(config)
    steps = math.ceil(len(data.x_train) / config.batch_size)
    progress.update(
        status=RUNNING,
        epochs=config.epochs,
        batches_per_epoch=steps,
        samples_total=len(data.x_train) * config.epochs,
    )
    with _seed_lock:
        keras.utils.set_random_seed(config.seed)
        model = build_model(config)
    progress.model = model
    live = LiveMetrics(progress, config, len(data.x_train), on_epoch=on_epoch)
    validation = (data.x_val, data.y_val) if len(data.x_val) else None
    fit_start = time.perf_counter()
    model.fit(
        data.x_train,
        data.y_train,
        batch_size=config.batch_size,
        epochs=config.epochs,
        validation_data=validation,
        callbacks=[live],
        verbose=0,
    )
    snap = progress.snapshot(batches=False)
    result = RunResult(
        status=FINISHED,
        history=snap["history"],
        model=model,
        train_seconds=snap["train_seconds"],
        fit_seconds=time.perf_counter() - fit_start,
    )
    if live.diverged:
        result.status = DIVERGED
        result.message = (
            "The loss blew up (NaN, infinite or above 1e6): the run diverged. "
            "Try a smaller learning rate, scaled inputs or another optimizer."
        )
    else:
        if progress.stop_requested:
            result.status = STOPPED
            result.message = "Stopped by the user."
        result.test_loss, result.test_accuracy = (
            float(v) for v in model.evaluate(data.x_test, data.y_test, batch_size=1024, verbose=0)
        )
        if model_path is not None:
            save_model_atomically(model, model_path)
            result.model_path = str(model_path)
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
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".keras")
    os.close(fd)
    try:
        model.save(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
