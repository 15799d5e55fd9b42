"""Typed records that cross the package: a finished epoch, and a run's or a sweep's live view.

An `EpochRecord` is built by training, kept by the store and read by the charts, the coach, the
pitfalls and the terminal. The store keeps each as the JSON object `to_json` gives, keys in this
order, so runs stored before it was a class read and are written back the same. A `LiveView` is
what the Train and Sweeps pages draw and the live API answers (its `to_json`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from mnist_app.engine.status import RunStatus


@dataclass(frozen=True)
class EpochRecord:
    """One finished epoch's figures; a metric is None when it blew up (NaN or infinite), and
    the validation metrics are None when the run has no validation set."""

    epoch: int  # 1 for the first epoch
    loss: float | None = None
    accuracy: float | None = None
    val_loss: float | None = None
    val_accuracy: float | None = None
    seconds: float | None = None  # the epoch's training time
    learning_rate: float | None = None  # the rate at the epoch's end
    complete: bool = True  # False when Stop came before the epoch's last batch

    def metric(self, name: str) -> float | None:
        """A metric by its name: "loss", "accuracy", "val_loss" or "val_accuracy"."""
        if name not in METRICS:
            raise ValueError(f"{name!r} is not an epoch metric: one of {', '.join(METRICS)}")
        return getattr(self, name)

    def to_json(self) -> dict:
        """The record as the store writes it (a JSON object)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> EpochRecord:
        """A stored epoch; ValueError if it has no epoch number. A figure that is missing or
        not a number reads as None (a missing `complete` as True)."""
        if not isinstance(data, dict):
            raise ValueError("history is not a list of epochs")
        epoch = data.get("epoch")
        if isinstance(epoch, bool) or not isinstance(epoch, int):
            raise ValueError(f"an epoch of the history has no epoch number: {epoch!r}")
        figures = {name: _number(data.get(name)) for name in FIGURES}
        complete = data.get("complete", True)
        return cls(epoch, complete=complete if isinstance(complete, bool) else True, **figures)


METRICS = ("loss", "accuracy", "val_loss", "val_accuracy")
FIGURES = (*METRICS, "seconds", "learning_rate")


def history_from_json(data: object) -> list[EpochRecord]:
    """A stored history (a list of epoch objects) as records; ValueError if it is not one."""
    if not isinstance(data, list):
        raise ValueError("history is not a list of epochs")
    return [EpochRecord.from_json(record) for record in data]


def history_to_json(history: list[EpochRecord]) -> list[dict]:
    """A history as the store writes it."""
    return [record.to_json() for record in history]


def _number(value: object) -> float | None:
    """A stored figure as it was written (an int stays an int, so it is written back the
    same), or None if it is not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


@dataclass(frozen=True, kw_only=True)
class LiveView:
    """What a live panel shows of a run (`run_id`) or of a sweep (`sweep_id`): its status, a
    line of text, how far it is and its learning curves as plain chart data."""

    run_id: str | None = None
    sweep_id: str | None = None
    lang: str
    status: RunStatus
    active: bool  # queued, training or paused: the page keeps asking
    queue_position: int
    progress: float  # 0..1
    text: str
    charts: tuple[dict, ...]  # mnist_app.figures.charts.curve_chart's shape

    def to_json(self) -> dict:
        """The view as the live API answers it and the page's canvases draw it."""
        subject = {"run_id": self.run_id} if self.sweep_id is None else {"sweep_id": self.sweep_id}
        return subject | {
            "lang": self.lang,
            "status": str(self.status),
            "active": self.active,
            "queue_position": self.queue_position,
            "progress": self.progress,
            "text": self.text,
            "charts": list(self.charts),
        }


@dataclass(frozen=True)
class Outcome:
    """How a run ended: what `RunStore.record_outcome` writes."""

    status: RunStatus
    message: str = ""
    reason: str = ""  # a word for a translated explanation, e.g. "saturated" for a divergence
    history: list[EpochRecord] = field(default_factory=list)
    test_loss: float | None = None
    test_accuracy: float | None = None
    train_seconds: float = 0.0  # first batch to last, pauses not counted
    model_path: str | None = None
    precision: str = ""  # what it trained in: "float32" or "bfloat16" ("" if it never began)
