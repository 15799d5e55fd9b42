"""Lessons: the course notebooks' hyperparameter exercises, each a one-click sweep.

Each lesson starts from the notebook's own setup (a preset), varies what the exercise varies,
and keeps the notebook's question and conclusion (in locales/lessons.*.json under
`lesson.<slug>.question` and `lesson.<slug>.notebook`) to set beside what the runs find, and,
value by value, the figures the notebook printed (notebook_figures.py) beside the runs' own.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mnist_app.engine.config import RunConfig
from mnist_app.engine.presets import PRESETS
from mnist_app.experiments.notebook_figures import Printed, printed
from mnist_app.experiments.sweeps import Sweep, make_vary

if TYPE_CHECKING:
    from mnist_app.runs.store import Run


@dataclass(frozen=True)
class Lesson:
    """One exercise: its notebook, the preset it starts from and the setting it varies."""

    slug: str
    notebook: str  # "004", "001"
    preset: str
    setting: str
    values: tuple
    changes: dict = field(default_factory=dict)  # where the lesson trains less than the notebook
    setup: dict = field(default_factory=dict)  # what the exercise itself changes in the preset

    @property
    def shortened(self) -> bool:
        """Whether it trains on fewer images or epochs than the notebook (and must say so)."""
        return bool(self.changes)

    @property
    def notebook_base(self) -> RunConfig:
        """The exercise's own setup: the preset with what the notebook changed for it."""
        return PRESETS[self.preset].replace(**self.setup)

    def sweep(self, **overrides: object) -> Sweep:
        """The lesson's runs; `overrides` (the CLI's --limit, --epochs) shrink every one."""
        base = self.notebook_base.replace(**(self.changes | overrides))
        return Sweep(base, (make_vary(self.setting, list(self.values)),), 1, self.preset, self.slug)


# 004 on its dnn-50-50 setup: two Dense 50 relu, Adam, batch 100, 5 epochs, 10,000 held out;
# its exercises 2 and 3 ("Profundidad", "Redes Profundas") stack layers of 500. Its exercises
# 10-12 are headings only: 10 ("Optimización Avanzada") is a lesson with nothing to compare.
# 001 on mlp-64-64: two Dense 64 relu, centred inputs, Adam, batch 32, 5 epochs; it prints a
# figure for that network only (its variants are built, or trained without printing a result).
# What each printed, value by value, is in notebook_figures.py.
LESSON_LIST: tuple[Lesson, ...] = (
    Lesson("004-width", "004", "dnn-50-50", "width", (50, 100, 200, 300, 500)),
    Lesson("004-depth", "004", "dnn-50-50", "depth", (2, 3), setup={"width": 500}),
    Lesson("004-deep", "004", "dnn-50-50", "depth", (3, 4, 5), setup={"width": 500}),
    Lesson("004-activation", "004", "dnn-50-50", "activation", ("relu", "sigmoid", "tanh")),
    Lesson("004-batch", "004", "dnn-50-50", "batch_size", (100, 10000)),
    # Batch size 1 takes 50,000 steps an epoch (about 85 s here): the lesson's 5 epochs take
    # some 7 minutes, as the notebook's did (118-144 s an epoch), for a figure to compare.
    Lesson("004-sgd", "004", "dnn-50-50", "batch_size", (1, 100)),
    Lesson("004-learning-rate", "004", "dnn-50-50", "learning_rate", (0.0001, 0.001, 0.02)),
    Lesson("004-optimizer", "004", "dnn-50-50", "optimizer", ("sgd", "rmsprop", "adam")),
    Lesson(
        "001-learning-rate", "001", "mlp-64-64", "learning_rate", (0.0001, 0.001, 0.005, 0.01, 0.1)
    ),
    Lesson(
        "001-batch", "001", "mlp-64-64", "batch_size", (8, 32, 64, 128, 1024), {"limit": 20_000}
    ),
    Lesson("001-depth", "001", "mlp-64-64", "depth", (1, 2, 3, 4)),
    Lesson("001-sigmoid", "001", "mlp-64-64", "activation", ("relu", "sigmoid")),
    Lesson("001-dropout", "001", "mlp-64-64", "dropout", (0.0, 0.2, 0.5)),
    Lesson("001-validation", "001", "mlp-64-64", "validation_size", (0, 6000, 12000)),
)
LESSONS: dict[str, Lesson] = {lesson.slug: lesson for lesson in LESSON_LIST}


# --- the notebook's figures beside ours ------------------------------------------------------
FLOOR = 0.015  # 1.5 points: further from the notebook's figure than this, the page says why
METRICS = ("val_accuracy", "test_accuracy")


@dataclass(frozen=True)
class ValueResult:
    """One value of a lesson: what its notebook printed and what this app's runs gave."""

    value: object
    printed: Printed | None  # None: the notebook printed nothing for this value
    here: dict[str, float | None]  # the runs' mean, per metric (None before any is scored)
    run_ids: tuple[str, ...] = ()

    def notebook(self, metric: str) -> float | None:
        return getattr(self.printed, metric) if self.printed else None

    def gap(self, metric: str) -> float | None:
        """Ours minus the notebook's, as a fraction; None where either is missing."""
        ours, theirs = self.here[metric], self.notebook(metric)
        return None if ours is None or theirs is None else ours - theirs

    @property
    def beyond_floor(self) -> bool:
        """Whether any figure is more than 1.5 points from the notebook's."""
        return any(abs(gap) > FLOOR for m in METRICS if (gap := self.gap(m)) is not None)

    def to_json(self) -> dict:
        return {
            "value": self.value,
            "notebook": {m: self.notebook(m) for m in METRICS},
            "here": dict(self.here),
        }


def last_val_accuracy(run: Run) -> float | None:
    """The validation accuracy of a run's last epoch, as Keras prints it after `fit`."""
    figures = [r.val_accuracy for r in run.history if r.val_accuracy is not None]
    return figures[-1] if figures else None


def lesson_results(lesson: Lesson, runs: list[Run]) -> list[ValueResult]:
    """Per value of the lesson, in its order: the notebook's figures and the mean of ours."""
    results = []
    for value in lesson.values:
        mine = [r for r in runs if getattr(r.config, lesson.setting) == value]
        scored = [r for r in mine if r.status.scored and r.test_accuracy is not None]
        figures = {
            "val_accuracy": [v for r in scored if (v := last_val_accuracy(r)) is not None],
            "test_accuracy": [r.test_accuracy for r in scored],
        }
        here = {m: (statistics.fmean(f) if f else None) for m, f in figures.items()}
        ids = tuple(r.id for r in mine)
        results.append(ValueResult(value, printed(lesson.slug, value), here, ids))
    return results


def lesson_json(lesson: Lesson, results: list[ValueResult]) -> dict:
    """One lesson as `reproduce --lessons --json` prints it."""
    return {
        "lesson": lesson.slug,
        "field": lesson.setting,
        "values": [result.to_json() for result in results],
    }
