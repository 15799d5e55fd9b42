"""Lessons: the course notebooks' hyperparameter exercises, each a one-click sweep.

Each lesson starts from the notebook's own setup (a preset), varies what the exercise varies,
and keeps the notebook's question and conclusion (in locales/lessons.*.json under
`lesson.<slug>.question` and `lesson.<slug>.notebook`) to set beside what the runs find.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mnist_app.engine.config import PRESETS
from mnist_app.experiments.sweeps import Sweep, make_vary


@dataclass(frozen=True)
class Lesson:
    """One exercise: its notebook, the preset it starts from and the setting it varies."""

    slug: str
    notebook: str  # "004", "001"
    preset: str
    setting: str
    values: tuple
    changes: dict = field(default_factory=dict)  # where the lesson trains less than the notebook

    @property
    def shortened(self) -> bool:
        """Whether it trains on fewer images or epochs than the notebook (and must say so)."""
        return bool(self.changes)

    def sweep(self) -> Sweep:
        base = PRESETS[self.preset].replace(**self.changes)
        return Sweep(base, (make_vary(self.setting, list(self.values)),), 1, self.preset, self.slug)


# 004 on its dnn-50-50 setup: two Dense 50 relu, Adam, batch 100, 5 epochs, 10,000 held out.
# 001 on mlp-64-64: two Dense 64 relu, centred inputs, Adam, batch 32, 5 epochs.
LESSON_LIST: tuple[Lesson, ...] = (
    Lesson("004-width", "004", "dnn-50-50", "width", (50, 100, 200, 500)),
    Lesson("004-depth", "004", "dnn-50-50", "depth", (2, 3, 4, 5)),
    Lesson("004-activation", "004", "dnn-50-50", "activation", ("relu", "sigmoid", "tanh")),
    # Batch size 1 takes 60,000 steps an epoch (over a minute here): 10,000 images keep the
    # lesson to a few minutes and the point (many small steps against very few big ones) stands.
    Lesson(
        "004-batch",
        "004",
        "dnn-50-50",
        "batch_size",
        (1, 100, 10000),
        {"limit": 10_000, "validation_size": 10_000},
    ),
    Lesson("004-learning-rate", "004", "dnn-50-50", "learning_rate", (0.0001, 0.001, 0.02)),
    Lesson("001-learning-rate", "001", "mlp-64-64", "learning_rate", (0.0001, 0.001, 0.01, 0.1)),
    Lesson("001-batch", "001", "mlp-64-64", "batch_size", (8, 32, 128, 1024), {"limit": 20_000}),
    Lesson("001-depth", "001", "mlp-64-64", "depth", (1, 2, 3, 4)),
    Lesson("001-sigmoid", "001", "mlp-64-64", "activation", ("relu", "sigmoid")),
    Lesson("001-dropout", "001", "mlp-64-64", "dropout", (0.0, 0.2, 0.5)),
    Lesson("001-validation", "001", "mlp-64-64", "validation_size", (0, 6000, 12000)),
)
LESSONS: dict[str, Lesson] = {lesson.slug: lesson for lesson in LESSON_LIST}
