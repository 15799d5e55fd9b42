"""A coach that reads a run's curves: what they show, the numbers that show it, and one next
experiment to try.

Diagnoses are tried in priority order (a run that diverges is also noisy, but the divergence
is what to fix first); every number they decide with is in THRESHOLDS.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

from mnist_app.engine.config import CHANCE_LOSS, RANGES, USUAL_LEARNING_RATES, RunConfig
from mnist_app.engine.records import METRICS, EpochRecord
from mnist_app.engine.status import RunStatus
from mnist_app.experiments.sweeps import Vary
from mnist_app.i18n import DEFAULT_LANGUAGE, decimal_mark, format_number, format_percent, translate


@dataclass(frozen=True)
class Thresholds:
    """Every number the coach decides with, and why it has that value."""

    # An epoch's training loss this many times its lowest so far: the epoch mean smooths the
    # batches' noise, so a tripling means the steps overshoot.
    blow_up_factor: float = 3.0
    # A loss this far above guessing (10 × 2.3) with accuracy at chance is confidently wrong:
    # saturated outputs. training.DivergenceGuard stops runs at the same line.
    saturated_loss: float = 10 * CHANCE_LOSS
    # A run stopped as diverged with its loss above twice guessing had saturated outputs (the
    # guard's other line), whereas one stopped near 2.3 was stuck.
    stopped_saturated_loss: float = 2 * CHANCE_LOSS
    # Chance is 10%; any network that learns at all is well above 12% after one epoch.
    chance_accuracy: float = 0.12
    # Validation loss lowest at least this many epochs before the end: one epoch may be noise.
    overfit_epochs: int = 2
    # ... and the last validation loss this fraction above that lowest, not just flat.
    overfit_rise: float = 0.02
    # The last epoch cut the training loss by more than this fraction: more epochs will help.
    still_learning_drop: float = 0.10
    # Only batches this small are blamed for noise (at 32 and more the spread is the data's).
    noisy_batch_size: int = 8
    # Spread of the batch losses: standard deviation over mean. Measured on 600 images over
    # the last 100 batches: 0.9 at batch size 4, 0.55 at 32.
    noisy_spread: float = 0.75
    # The spread is measured over this many last batches (the latest state, not the start).
    noisy_batches: int = 100
    # A learning rate this many times below the optimizer's usual one (usual_rates) is slow.
    slow_rate_factor: float = 10.0
    # ... and a run under this accuracy is far below what any network here reaches in a few
    # epochs at a usual rate (the default MLP on 600 images: 88% after 3 epochs with Adam).
    slow_accuracy: float = 0.9
    # A suggested learning rate is the current one divided or multiplied by this (a decade).
    rate_step: float = 10.0
    # The rate each optimizer is usually started at: Keras' defaults (0.01 for SGD, 0.001 for
    # the adaptive ones), but 1.0 for Adadelta (its paper's) and 0.01 for Adagrad and Ftrl,
    # which Keras' 0.001 barely moves. A rate slow_rate_factor below it is slow.
    usual_rates: dict = field(hash=False, default_factory=lambda: dict(USUAL_LEARNING_RATES))


THRESHOLDS = Thresholds()
DROPOUTS = (0.2, 0.5)  # the dropout values an overfitting run is suggested to try


@dataclass(frozen=True)
class Suggestion:
    """The next experiment: setting changes for one run, and optionally a sweep around it."""

    label: str
    changes: dict = field(default_factory=dict, hash=False)  # RunConfig fields → new values
    vary: Vary | None = None  # a sweep over one setting, on the config with `changes`


@dataclass(frozen=True)
class Advice:
    """A reading of a run's curves: a headline, its evidence and the suggested next step."""

    kind: str  # diverging, stuck, overfitting, still_learning, noisy, slow or healthy
    headline: str
    evidence: tuple[str, ...]
    suggestion: Suggestion | None


@dataclass(frozen=True)
class _Curves:
    """A history as typed series; a value that is missing or not a finite number is None."""

    epochs: list[int]
    loss: list[float | None]
    accuracy: list[float | None]
    val_loss: list[float | None]
    val_accuracy: list[float | None]
    batch_loss: list[float | None]
    ended: bool  # the run has done all its epochs (or is no longer training)
    diverged: bool  # stopped as diverged by training.DivergenceGuard


@dataclass(frozen=True)
class _Finding:
    kind: str
    evidence: list[tuple[str, dict]]  # catalogue keys with their (formatted) values
    suggestion: tuple[str, dict, dict, Vary | None] | None  # label key, values, changes, vary


def read_curves(
    config: RunConfig,
    history: list[EpochRecord],
    batch_loss: list[float] | None = None,
    status: RunStatus | None = None,
    language: str = DEFAULT_LANGUAGE,
    thresholds: Thresholds | None = None,
) -> Advice | None:
    """Read a live or finished run's curves; None while there is nothing to read yet."""
    curves = _parse(config, history or [], batch_loss or [], status)
    if not curves.epochs and not curves.diverged and None not in curves.batch_loss:
        return None
    limits = thresholds or THRESHOLDS
    say = _Numbers(language)
    for diagnose in (_diverging, _stuck, _overfitting, _still_learning, _noisy, _slow):
        finding = diagnose(curves, config, limits, say)
        if finding is not None:
            break
    else:
        finding = _healthy(curves, say)
    suggestion = None
    if finding.suggestion is not None:
        key, values, changes, vary = finding.suggestion
        label = translate(f"coach.try.{key}", language, **values)
        suggestion = Suggestion(label, changes, vary)
    evidence = tuple(translate(f"coach.evidence.{k}", language, **v) for k, v in finding.evidence)
    headline = translate(f"coach.{finding.kind}", language)
    return Advice(finding.kind, headline, evidence, suggestion)


# --- the diagnoses, in priority order ---------------------------------------------------------
def _diverging(c: _Curves, config: RunConfig, limits: Thresholds, say: _Numbers):
    evidence = []
    lowest = None  # (loss, epoch index) lowest so far
    for i, loss in enumerate(c.loss):
        if loss is None:
            evidence = [("not_a_number", {"epoch": c.epochs[i]})]
            break
        if lowest is not None and loss > limits.blow_up_factor * lowest[0]:
            low, at = lowest
            evidence = [
                (
                    "jump",
                    {
                        "epoch": c.epochs[i],
                        "loss": say.loss(loss),
                        "factor": say.number(loss / low, 1),
                        "low": say.loss(low),
                        "low_epoch": c.epochs[at],
                    },
                )
            ]
            break
        if lowest is None or loss < lowest[0]:
            lowest = (loss, i)
    if not evidence and c.loss:
        loss, accuracy = c.loss[-1], c.accuracy[-1]
        at_chance = accuracy is not None and accuracy <= limits.chance_accuracy
        stopped = c.diverged and loss > limits.stopped_saturated_loss
        if stopped or (loss > limits.saturated_loss and at_chance):
            evidence = [
                (
                    "far_above_chance",
                    {
                        "epoch": c.epochs[-1],
                        "loss": say.loss(loss),
                        "chance": say.loss(CHANCE_LOSS),
                    },
                )
            ]
    if not evidence and None in c.batch_loss:
        evidence = [("batch_not_a_number", {})]
    if not evidence and c.diverged and not c.epochs:
        evidence = [("stopped_early", {})]
    if not evidence:
        return None
    return _Finding("diverging", evidence, _rate_change(config, 1 / limits.rate_step, say))


def _stuck(c: _Curves, config: RunConfig, limits: Thresholds, say: _Numbers):
    seen = [a for a in (c.accuracy[-1:] + c.val_accuracy[-1:]) if a is not None]
    if not seen or max(seen) > limits.chance_accuracy:
        return None
    rate = say.rate(config.learning_rate)
    evidence = [
        ("at_chance", {"epoch": c.epochs[-1], "accuracy": say.percent(max(seen))}),
        ("checks", {"rate": rate}),
    ]
    if config.scaling == "none":
        evidence.append(("raw_inputs", {}))
        return _Finding("stuck", evidence, ("unit_scaling", {}, {"scaling": "unit"}, None))
    # A rate far below the usual one is stuck for being too slow, not for overshooting.
    factor = limits.rate_step if _slow_rate(config, limits) else 1 / limits.rate_step
    return _Finding("stuck", evidence, _rate_change(config, factor, say))


def _overfitting(c: _Curves, config: RunConfig, limits: Thresholds, say: _Numbers):
    scored = [i for i, v in enumerate(c.val_loss) if v is not None]
    if len(scored) <= limits.overfit_epochs:
        return None
    best = min(scored, key=lambda i: c.val_loss[i])
    end = scored[-1]
    rising = c.val_loss[end] > (1 + limits.overfit_rise) * c.val_loss[best]
    train_then, train_now = c.loss[best], c.loss[end]
    falling = train_then is not None and train_now is not None and train_now < train_then
    if end - best < limits.overfit_epochs or not rising or not falling:
        return None
    evidence = [
        (
            "overfit",
            {
                "best": c.epochs[best],
                "low": say.loss(c.val_loss[best]),
                "epoch": c.epochs[end],
                "now": say.loss(c.val_loss[end]),
                "train_then": say.loss(train_then),
                "train_now": say.loss(train_now),
            },
        )
    ]
    train_acc, val_acc = c.accuracy[end], c.val_accuracy[end]
    if train_acc is not None and val_acc is not None:
        evidence.append(("gap", {"train": say.percent(train_acc), "val": say.percent(val_acc)}))
    higher = [d for d in DROPOUTS if d > config.dropout and d <= RANGES["dropout"][1]]
    if higher:
        values = (config.dropout, *higher)
        vary = Vary("dropout", values)
        shown = ", ".join(say.number(v, 1) for v in values)
        return _Finding(
            "overfitting", evidence, ("dropout", {"values": shown}, {"dropout": higher[0]}, vary)
        )
    if not config.augment:
        return _Finding("overfitting", evidence, ("augment", {}, {"augment": True}, None))
    epochs = max(c.epochs[best], int(RANGES["epochs"][0]))
    return _Finding(
        "overfitting", evidence, ("best_epoch", {"epochs": epochs}, {"epochs": epochs}, None)
    )


def _still_learning(c: _Curves, config: RunConfig, limits: Thresholds, say: _Numbers):
    drop = _last_drop(c)
    if not c.ended or drop is None or drop <= limits.still_learning_drop:
        return None
    evidence = [
        (
            "last_drop",
            {
                "percent": say.percent(drop),
                "before": say.loss(c.loss[-2]),
                "after": say.loss(c.loss[-1]),
                "epoch": c.epochs[-1],
            },
        )
    ]
    more = min(config.epochs * 2, int(RANGES["epochs"][1]))
    if _slow_rate(config, limits) or more == config.epochs:
        return _Finding("still_learning", evidence, _rate_change(config, limits.rate_step, say))
    return _Finding(
        "still_learning", evidence, ("more_epochs", {"epochs": more}, {"epochs": more}, None)
    )


def _noisy(c: _Curves, config: RunConfig, limits: Thresholds, say: _Numbers):
    recent = [v for v in c.batch_loss[-limits.noisy_batches :] if v is not None]
    if config.batch_size > limits.noisy_batch_size or len(recent) < 2:
        return None
    mean = statistics.fmean(recent)
    spread = statistics.pstdev(recent) / mean if mean > 0 else 0.0
    if spread <= limits.noisy_spread:
        return None
    evidence = [
        (
            "spread",
            {"batch": config.batch_size, "spread": say.percent(spread), "batches": len(recent)},
        )
    ]
    bigger = min(32, config.train_size)
    if bigger <= config.batch_size:
        return _Finding("noisy", evidence, _rate_change(config, 1 / limits.rate_step, say))
    return _Finding(
        "noisy", evidence, ("bigger_batch", {"batch": bigger}, {"batch_size": bigger}, None)
    )


def _slow(c: _Curves, config: RunConfig, limits: Thresholds, say: _Numbers):
    accuracy = c.accuracy[-1] if c.accuracy else None
    first, last = (c.loss[0], c.loss[-1]) if c.loss else (None, None)
    if accuracy is None or first is None or last is None or len(c.epochs) < 2:
        return None
    if accuracy >= limits.slow_accuracy or not _slow_rate(config, limits):
        return None
    usual = limits.usual_rates.get(config.optimizer, 1e-3)
    evidence = [
        (
            "slow",
            {
                "first": say.loss(first),
                "last": say.loss(last),
                "epochs": len(c.epochs),
                "accuracy": say.percent(accuracy),
            },
        ),
        (
            "slow_rate",
            {
                "rate": say.rate(config.learning_rate),
                "usual": say.rate(usual),
                "optimizer": config.optimizer,
            },
        ),
    ]
    return _Finding("slow", evidence, _rate_change(config, limits.rate_step, say))


def _healthy(c: _Curves, say: _Numbers) -> _Finding:
    evidence = []
    first, last = (c.loss[0], c.loss[-1]) if c.loss else (None, None)
    if first is not None and last is not None:
        evidence.append(("loss_fell", {"first": say.loss(first), "last": say.loss(last)}))
    accuracy = c.val_accuracy[-1] if c.val_accuracy else None
    if accuracy is not None:
        evidence.append(("val_accuracy", {"accuracy": say.percent(accuracy)}))
    return _Finding("healthy", evidence, None)


# --- helpers ----------------------------------------------------------------------------------
def _rate_change(config: RunConfig, factor: float, say: _Numbers):
    low, high = RANGES["learning_rate"]
    rate = float(f"{min(max(config.learning_rate * factor, low), high):.2g}")
    return (
        "lower_rate" if factor < 1 else "higher_rate",
        {"rate": say.rate(rate)},
        {"learning_rate": rate},
        None,
    )


def _slow_rate(config: RunConfig, limits: Thresholds) -> bool:
    usual = limits.usual_rates.get(config.optimizer, 1e-3)
    return config.learning_rate <= usual / limits.slow_rate_factor


def _last_drop(c: _Curves) -> float | None:
    """How much the last epoch cut the training loss, as a fraction of the epoch before."""
    if len(c.loss) < 2 or c.loss[-2] is None or c.loss[-1] is None or c.loss[-2] <= 0:
        return None
    return (c.loss[-2] - c.loss[-1]) / c.loss[-2]


def _parse(config: RunConfig, history: list[EpochRecord], batch_loss: list, status) -> _Curves:
    epochs = [record.epoch for record in history]
    series = {name: [_value(record.metric(name)) for record in history] for name in METRICS}
    ended = len(history) >= config.epochs or (status is not None and not status.active)
    diverged = status == RunStatus.DIVERGED
    batches = [_value(v) for v in batch_loss]
    return _Curves(epochs, batch_loss=batches, ended=ended, diverged=diverged, **series)


def _value(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


class _Numbers:
    """Numbers written the language's way: losses, percentages, learning rates."""

    def __init__(self, language: str):
        self.language = language

    def number(self, value: float, decimals: int = 0) -> str:
        return format_number(value, decimals, self.language)

    def loss(self, value: float) -> str:
        decimals = 4 if abs(value) < 0.01 else 2 if abs(value) < 100 else 0
        return self.number(value, decimals)

    def percent(self, fraction: float) -> str:
        return format_percent(fraction, 1, self.language)

    def rate(self, value: float) -> str:
        text = f"{value:.10f}".rstrip("0").rstrip(".") if value < 1 else f"{value:g}"
        return decimal_mark(text, self.language)
