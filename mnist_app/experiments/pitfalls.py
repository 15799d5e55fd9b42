"""Mistakes on purpose: what went wrong in a run, the evidence, and the same run without it.

Two of the course notebooks made a mistake by accident (004 tested on raw 0..255 images a
network trained on scaled ones; 003 divided the labels by 255); two more are classics (no
activation between layers; a learning rate far too high). Each can be made on purpose — the
first two are RunConfig switches, all four are presets — and after the run, `find_mistakes`
says which were made, with the numbers that show it, and `Mistake.fixed` is the run without.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mnist_app.engine.config import CHANCE_LOSS, USUAL_LEARNING_RATES, RunConfig, layer_plan
from mnist_app.engine.plan import Dense
from mnist_app.engine.status import RunStatus
from mnist_app.i18n import format_number, format_percent, translate
from mnist_app.runs.store import Run

BLOWN_UP_LOSS = 10 * CHANCE_LOSS  # an epoch's loss this far above guessing: the weights blew up
INPUT_RANGES = {"unit": (0.0, 1.0), "centered": (-0.5, 0.5), "none": (0.0, 255.0)}
LOGISTIC_REGRESSION_ACCURACY = 0.92  # one Dense(10) layer on MNIST, for comparison


@dataclass(frozen=True)
class Mistake:
    """One mistake a run made: a word for it, the numbers that show it, the run without it."""

    kind: str  # "unscaled_test", "labels_255", "no_activation", "lr_too_high"
    evidence: dict
    fixed: RunConfig


def find_mistakes(run: Run) -> list[Mistake]:
    """The mistakes this run made, in the order they matter (none for a healthy run)."""
    config, found = run.config, []
    if config.labels_255:
        given = np.arange(10) / 255
        found.append(
            Mistake(
                "labels_255",
                {
                    "labels": ", ".join(
                        f"{v:.4f}".rstrip("0").rstrip(".") or "0" for v in given[:4]
                    )
                    + f" … {given[-1]:.4f}",
                    "accuracy": run.test_accuracy,
                },
                config.replace(labels_255=False),
            )
        )
    if config.unscaled_test:
        low, high = INPUT_RANGES[config.scaling]
        last = run.history[-1] if run.history else None
        found.append(
            Mistake(
                "unscaled_test",
                {
                    "train_low": low,
                    "train_high": high,
                    "test_low": 0.0,
                    "test_high": 255.0,
                    "val_accuracy": last.val_accuracy if last else None,
                    "accuracy": run.test_accuracy,
                    "test_loss": run.test_loss,
                },
                config.replace(unscaled_test=False),
            )
        )
    linear = _linear_dense_layers(config)
    if linear >= 1:
        found.append(
            Mistake(
                "no_activation",
                {
                    "layers": linear,
                    "accuracy": run.test_accuracy,
                    "logistic": LOGISTIC_REGRESSION_ACCURACY,
                },
                config.replace(activation="relu"),
            )
        )
    losses = [record.loss for record in run.history]
    blew_up = any(loss is None or loss > BLOWN_UP_LOSS for loss in losses)
    usual = USUAL_LEARNING_RATES[config.optimizer]
    if (blew_up or run.status == RunStatus.DIVERGED) and config.learning_rate > 10 * usual:
        known = [loss for loss in losses if loss is not None]
        found.append(
            Mistake(
                "lr_too_high",
                {
                    "rate": config.learning_rate,
                    "usual": usual,
                    "times": config.learning_rate / usual,
                    "peak": max(known) if known else None,
                    "last": known[-1] if known else None,
                    "chance": CHANCE_LOSS,
                },
                config.replace(learning_rate=usual),
            )
        )
    return found


def explain(mistake: Mistake, language: str) -> str:
    """What went wrong, in plain words with its numbers written the language's way."""
    return translate(f"mistake.{mistake.kind}", language, **_written(mistake.evidence, language))


def _written(evidence: dict, language: str) -> dict[str, str]:
    text = {}
    for name, value in evidence.items():
        if value is None:
            text[name] = "–"
        elif isinstance(value, str):  # made here (the label values), not typed by anyone
            text[name] = value
        elif name in ("accuracy", "val_accuracy", "logistic"):
            text[name] = format_percent(value, 2, language)
        elif name in ("rate", "usual", "train_low", "train_high", "test_low", "test_high"):
            text[name] = f"{value:g}".replace(".", "," if language == "es" else ".")
        else:
            text[name] = format_number(value, 2 if abs(value) < 100 else 0, language)
    return text


def without_mistakes(config: RunConfig, mistakes: list[Mistake]) -> RunConfig:
    """The config with every mistake undone (each Mistake.fixed undoes only its own)."""
    changes = {}
    for mistake in mistakes:
        fixed = mistake.fixed.to_dict()
        changes |= {k: v for k, v in fixed.items() if v != getattr(config, k)}
    return config.replace(**changes)


def _linear_dense_layers(config: RunConfig) -> int:
    """Hidden dense layers with no activation: they multiply into one linear map."""
    if config.activation != "linear":
        return 0
    return sum(isinstance(spec, Dense) for spec in layer_plan(config))
