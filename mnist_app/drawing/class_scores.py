"""The Class digits leaderboard: every saved model scored on the class's held-out fifth, the
drawings no run trains on (mnist_app/runs/class_drawings.py), beside its MNIST test accuracy."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

from mnist_app.drawing.classset import ClassSet
from mnist_app.drawing.predict import ModelChoice, ModelFileError, load_model


@dataclass(frozen=True)
class Standing:
    """One model on the leaderboard: MNIST's test set beside the class's held-out fifth."""

    choice: ModelChoice
    class_accuracy: float | None  # None: no held-out drawings, or a model that would not load
    problem: str | None = None  # ModelFileError's reason, if it would not load


def leaderboard(class_set: ClassSet, choices: list[ModelChoice]) -> list[Standing]:
    """Every saved model scored on the class set's held-out fifth, best first; a model is never
    scored on a drawing it trained on."""
    standings = []
    for choice in choices:
        if choice.path is None:  # a run still training: its weights change under the score
            continue
        try:
            accuracy = model_accuracy(class_set, choice.path, choice.scaling, choice.trained_on)
            standings.append(Standing(choice, accuracy))
        except ModelFileError as error:
            standings.append(Standing(choice, None, error.reason))
    return sorted(standings, key=lambda s: (s.class_accuracy is None, -(s.class_accuracy or 0)))


def model_accuracy(
    class_set: ClassSet,
    model_path: str | os.PathLike,
    scaling: str,
    trained_on: tuple[int, ...] = (),
) -> float | None:
    """`ClassSet.evaluate` for a saved model, remembered until the model file or the set changes.

    ModelFileError if the model cannot be loaded safely.
    """
    modified = os.path.getmtime(model_path) if Path(model_path).exists() else 0.0
    revision = class_set.revision()
    return _cached_accuracy(class_set, revision, str(model_path), modified, scaling, trained_on)


@functools.lru_cache(maxsize=256)
def _cached_accuracy(
    class_set: ClassSet,
    revision: str,
    model_path: str,
    modified: float,
    scaling: str,
    trained_on: tuple[int, ...],
) -> float | None:
    return class_set.evaluate(load_model(model_path), scaling, trained_on)
