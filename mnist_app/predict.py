"""Reading a drawn digit: which models can read it, loading them once, and what they read."""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from mnist_app.data import PROJECT_ROOT
from mnist_app.jobs import TrainingManager
from mnist_app.preprocess import canvas_to_mnist, model_input
from mnist_app.store import FINISHED, RUNNING, RunStore

DEFAULT_MODEL_ENV = "MNIST_LAB_DEFAULT_MODEL"  # path override for the shipped model
DEFAULT_MODEL = PROJECT_ROOT / "models" / "mnist-cnn.keras"
DEFAULT_KEY = "default"
SURE_FROM = 0.6  # below this probability the page says the model is not sure


def default_model_path() -> Path:
    """The shipped model: $MNIST_LAB_DEFAULT_MODEL, else models/mnist-cnn.keras."""
    return Path(os.environ.get(DEFAULT_MODEL_ENV) or DEFAULT_MODEL)


def model_card(model_path: str | os.PathLike) -> dict:
    """The JSON card saved next to a model (config, test accuracy...), or {} if there is none."""
    card = Path(model_path).with_suffix(".json")
    return json.loads(card.read_text(encoding="utf-8")) if card.exists() else {}


@dataclass(frozen=True)
class ModelChoice:
    """One model the page can read with: the shipped one, a finished run, or the run training."""

    key: str  # DEFAULT_KEY or a run id
    kind: str  # "default", "finished" or "training"
    scaling: str  # the input scaling it was trained with
    path: str | None = None  # None for the run being trained: its weights live in memory
    accuracy: float | None = None
    preset: str | None = None


def model_choices(store: RunStore, manager: TrainingManager) -> list[ModelChoice]:
    """The shipped model, the runs training now, then every finished run, newest first."""
    choices = []
    default = default_model_path()
    if default.exists():
        card = model_card(default)
        scaling = card.get("config", {}).get("scaling", "unit")
        choices.append(
            ModelChoice(DEFAULT_KEY, "default", scaling, str(default),
                        card.get("test_accuracy"), card.get("preset"))
        )  # fmt: skip
    for job in manager.jobs():
        if job.progress.model is not None and job.progress.snapshot(False)["status"] == RUNNING:
            choices.append(ModelChoice(job.run_id, "training", job.config.scaling, None, None,
                                       job.preset))  # fmt: skip
    for run in store.list(status=FINISHED):
        if run["model_path"] and Path(run["model_path"]).exists():
            choices.append(
                ModelChoice(run["id"], "finished", run["config"].scaling, run["model_path"],
                            run["test_accuracy"], run["preset"])
            )  # fmt: skip
    return choices


def load_model(path: str | os.PathLike) -> keras.Model:
    """A saved model, loaded safely (no code from the file runs), once per file version."""
    return _load(str(path), os.path.getmtime(path))


@functools.lru_cache(maxsize=8)
def _load(path: str, modified: float) -> keras.Model:
    return keras.saving.load_model(path, safe_mode=True)


def choice_model(choice: ModelChoice, manager: TrainingManager) -> keras.Model | None:
    """The Keras model behind a choice: loaded from disk, or the live one being trained."""
    if choice.path is not None:
        return load_model(choice.path)
    job = manager.job(choice.key)
    return job.progress.model if job is not None else None


@dataclass(frozen=True)
class Reading:
    """What a model read in one image."""

    image: np.ndarray  # the 28×28 image the model saw, in [0, 1]
    probabilities: np.ndarray  # one per digit, summing to 1

    @property
    def digit(self) -> int:
        return int(np.argmax(self.probabilities))

    @property
    def confidence(self) -> float:
        return float(self.probabilities.max())

    @property
    def sure(self) -> bool:
        return self.confidence >= SURE_FROM


def read_digit(model: keras.Model, image: np.ndarray, scaling: str) -> Reading | None:
    """Preprocess a drawing or photo as MNIST was made and read it; None when there is no ink."""
    digit = canvas_to_mnist(image)
    if digit is None:
        return None
    # predict_on_batch runs the compiled graph: ~1 ms, where predict() costs ~35 ms.
    probabilities = model.predict_on_batch(model_input(digit, scaling)[np.newaxis])
    return Reading(digit, np.asarray(probabilities, dtype=np.float64)[0])
