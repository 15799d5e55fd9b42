"""Reading a drawn digit: which models can read it, loading them once, and what they read."""

from __future__ import annotations

import functools
import json
import logging
import os
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mnist_app.drawing.forward import Forward, Unsupported, load_forward
from mnist_app.drawing.preprocess import Prepared, model_input, prepare
from mnist_app.engine.data import PROJECT_ROOT, load_mnist
from mnist_app.engine.plan import IMAGE_SIDE, NUM_CLASSES
from mnist_app.engine.status import RunStatus
from mnist_app.runs.store import Run, RunStore

if TYPE_CHECKING:  # TensorFlow takes ~3 s to import: the Draw page reads without it
    import keras

    from mnist_app.runs.managers import RunManager

    Reader = keras.Model | Forward  # what read_digit reads with

DEFAULT_MODEL_ENV = "MNIST_LAB_DEFAULT_MODEL"  # path override for the shipped model
DEFAULT_MODEL = PROJECT_ROOT / "models" / "mnist-cnn.keras"
DEFAULT_KEY = "default"
TRAINING = (RunStatus.RUNNING, RunStatus.PAUSED)  # a live model to read with
SURE_FROM = 0.6  # below this probability the page says the model is not sure
# one grey image, with or without a channel axis
MNIST_INPUTS = ((IMAGE_SIDE, IMAGE_SIDE), (IMAGE_SIDE, IMAGE_SIDE, 1))
logger = logging.getLogger(__name__)


def default_model_path() -> Path:
    """The shipped model: $MNIST_LAB_DEFAULT_MODEL, else models/mnist-cnn.keras."""
    return Path(os.environ.get(DEFAULT_MODEL_ENV) or DEFAULT_MODEL)


class ModelFileError(ValueError):
    """A saved model the app cannot read digits with; `reason` names why, for a translated message.

    The reasons, which pages use as message keys (keep them stable):
    - "missing": there is no file at the path.
    - "corrupt": not a .keras file (a zip) or a damaged one: truncated, random bytes, a zip
      without Keras' config, weights that do not fit the layers...
    - "unsafe": loading it would run code stored in the file (a Lambda layer, for one), which
      Keras' safe mode refuses.
    - "wrong_shape": a working model, but not one 28×28 image in and 10 digit scores out.
    """

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def model_card(model_path: str | os.PathLike) -> dict:
    """The JSON card saved next to a model (config, test accuracy...), or {} if there is none.

    A card that cannot be read counts as none (and is logged): the model works without it.
    """
    card = Path(model_path).with_suffix(".json")
    if not card.exists():
        return {}
    try:
        content = json.loads(card.read_text(encoding="utf-8"))
        problem = card_problem(content)
    except (OSError, ValueError, RecursionError) as error:  # unreadable, not UTF-8, not JSON
        problem = str(error)
    if problem:
        logger.warning("ignoring the model card %s: %s", card, problem)
        return {}
    return content


_CARD_FIELDS = {"config": dict, "test_accuracy": (int, float), "preset": str}


def card_problem(card: object) -> str | None:
    """What is wrong with a card's content for the pages that show it, or None."""
    if not isinstance(card, dict):
        return f"a JSON {type(card).__name__}, not an object"
    for name, kind in _CARD_FIELDS.items():
        if card.get(name) is not None and not isinstance(card[name], kind):
            return f"{name} is a {type(card[name]).__name__}"
    return None


class ModelKind(StrEnum):
    """Which sort of model a choice reads with."""

    DEFAULT = "default"  # the shipped model (default_model_path)
    FINISHED = "finished"  # a run that was scored and saved (finished or stopped)
    TRAINING = "training"  # the run training now: its weights live in memory


@dataclass(frozen=True)
class ModelChoice:
    """One model the page can read with: the shipped one, a finished run, or the run training."""

    key: str  # DEFAULT_KEY or a run id
    kind: ModelKind
    scaling: str  # the input scaling it was trained with
    path: str | None = None  # None for the run being trained: its weights live in memory
    accuracy: float | None = None
    preset: str | None = None
    trained_on: tuple[int, ...] = ()  # the class set's drawings it trained on (class_digits)


def model_choices(
    store: RunStore,
    manager: RunManager,
    keep: Callable[[list[Run]], list[Run]] | None = None,
) -> list[ModelChoice]:
    """The shipped model, the runs training now, then every finished run, newest first; only
    the runs `keep` keeps of the stored ones, if given (those a student may see)."""
    runs = store.list()  # unreadable rows are left out; the others still count
    runs = keep(runs) if keep is not None else runs
    choices = []
    default = default_model_path()
    if default.exists():
        card = model_card(default)
        scaling = card.get("config", {}).get("scaling", "unit")
        choices.append(
            ModelChoice(
                DEFAULT_KEY,
                ModelKind.DEFAULT,
                scaling,
                str(default),
                card.get("test_accuracy"),
                card.get("preset"),
            )
        )
    stored = {run.id: run for run in runs}
    for run_id in manager.models_in_memory():
        run, snap = stored.get(run_id), manager.snapshot(run_id)
        if run is not None and snap is not None and snap.status in TRAINING:
            choices.append(
                ModelChoice(run_id, ModelKind.TRAINING, run.config.scaling, None, None, run.preset)
            )
    for run in runs:
        path = store.model_file(run.id) if run.status.scored and run.model_path else None
        if path is not None:
            choices.append(
                ModelChoice(
                    run.id,
                    ModelKind.FINISHED,
                    run.config.scaling,
                    str(path),
                    run.test_accuracy,
                    run.preset,
                    run.class_drawings,
                )
            )
    return choices


def load_model(path: str | os.PathLike) -> keras.Model:
    """A saved model, loaded safely (no code from the file runs), once per file version.

    ModelFileError if there is no such file, or it cannot be loaded safely, or is no MNIST model.
    """
    try:
        modified = os.path.getmtime(path)
    except OSError as error:
        raise ModelFileError("missing", str(path)) from error
    with _loading:  # the start-up warm-up and a first page view wait for one load, not two
        return _load(str(path), modified)


_loading = threading.RLock()  # load_reader may fall back to load_model inside it


@functools.lru_cache(maxsize=8)
def _load(path: str, modified: float) -> keras.Model:
    if not zipfile.is_zipfile(path):  # also keeps Keras from trying its old HDF5 loader
        raise ModelFileError("corrupt", f"{path} is not a .keras (zip) file")
    import keras

    try:
        model = keras.saving.load_model(path, safe_mode=True)
    except Exception as error:  # a damaged file raises ValueError, KeyError, TypeError, OSError...
        reason = "unsafe" if "safe_mode" in str(error) else "corrupt"  # Keras' own advice
        raise ModelFileError(reason, f"{path}: {error}") from error
    check_shapes([t.shape[1:] for t in model.inputs], [t.shape[1:] for t in model.outputs], path)
    return model


def load_reader(path: str | os.PathLike) -> Reader:
    """What a saved model reads drawings with: its forward pass in numpy (mnist_app.drawing.forward:
    ~0.4 ms a drawing, no TensorFlow), or the Keras model for a file that module does not
    understand. Once per file version; ModelFileError as load_model."""
    try:
        modified = os.path.getmtime(path)
    except OSError as error:
        raise ModelFileError("missing", str(path)) from error
    with _loading:  # as load_model: the start-up warm-up and a first page view read it once
        return _reader(str(path), modified)


@functools.lru_cache(maxsize=8)
def _reader(path: str, modified: float) -> Reader:
    try:
        forward = load_forward(path)
    except Unsupported as why:  # a file of another kind, or damaged: Keras says which
        logger.info("reading with Keras: %s", why)
        return load_model(path)
    check_shapes([forward.input_shape[1:]], [forward.output_shape[1:]], path)
    return forward


def keras_model(reader: Reader) -> keras.Model:
    """The Keras model behind a reader (the inside view needs its layers)."""
    return load_model(reader.path) if isinstance(reader, Forward) else reader


def check_shapes(inputs: list[tuple], outputs: list[tuple], path: str) -> None:
    """ModelFileError("wrong_shape") unless the model reads one 28×28 image into 10 scores."""
    inputs, outputs = [tuple(shape) for shape in inputs], [tuple(shape) for shape in outputs]
    if len(inputs) != 1 or inputs[0] not in MNIST_INPUTS or outputs != [(NUM_CLASSES,)]:
        raise ModelFileError(
            "wrong_shape", f"{path} takes {inputs} and gives {outputs}: not an MNIST model"
        )


def choice_model(choice: ModelChoice, manager: RunManager) -> Reader:
    """What a choice reads with: its saved model (load_reader), or the live one being trained.

    ModelFileError("missing") if it is gone (a live run this process no longer holds).
    """
    if choice.path is not None:
        return load_reader(choice.path)
    model = manager.models_in_memory().get(choice.key)
    if model is None:
        raise ModelFileError("missing", f"run {choice.key} is no longer in this server's memory")
    return model


@dataclass(frozen=True)
class Reading:
    """What a model read in one image."""

    image: np.ndarray  # the 28×28 image the model saw, in [0, 1]
    probabilities: np.ndarray  # one per digit, summing to 1
    looks_like_digit: bool  # False for noise, blots and scribbles: then the reading means nothing

    @property
    def digit(self) -> int:
        return int(np.argmax(self.probabilities))

    @property
    def confidence(self) -> float:
        return float(self.probabilities.max())

    @property
    def sure(self) -> bool:
        return self.confidence >= SURE_FROM


def read_digit(model: Reader, image: np.ndarray, scaling: str) -> Reading | None:
    """Preprocess a drawing or photo as MNIST was made and read it; None when there is no ink."""
    return read_prepared(model, prepare(image), scaling)


def read_prepared(model: Reader, prepared: Prepared | None, scaling: str) -> Reading | None:
    """`read_digit` of a drawing already prepared (`preprocess.prepare`); None for no ink."""
    if prepared is None:
        return None
    probabilities = read_one(model, model_input(prepared.image, scaling))
    return Reading(prepared.image, probabilities, prepared.looks_like_digit)


def read_one(model: Reader, image: np.ndarray) -> np.ndarray:
    """The model's ten probabilities for one image (already in its input scaling)."""
    if isinstance(model, Forward):
        return model(image).astype(np.float64)[0]
    import tensorflow as tf

    batch = tf.constant(image.reshape((1, *model.input_shape[1:])), tf.float32)  # ± a channel
    return np.asarray(_forward(model)(batch), dtype=np.float64)[0]


@functools.lru_cache(maxsize=8)
def _forward(model: keras.Model):
    """A Keras model's forward pass on one image, traced once. Calling the traced graph directly
    took ~1.15 ms here, predict_on_batch ~1.3-1.7 ms (it finds its trace again on every call),
    predict() ~35 ms."""
    import tensorflow as tf

    spec = tf.TensorSpec((1, *model.input_shape[1:]), tf.float32)
    return tf.function(
        lambda batch: model(batch, training=False), autograph=False
    ).get_concrete_function(spec)


def warm_up() -> None:
    """Read the shipped model and one drawn stroke with it, so that a first visitor's first
    reading waits for neither (the server starts this in the background).
    """
    path = default_model_path()
    try:
        reader = load_reader(path)
    except ModelFileError as error:  # the Draw page says what is wrong when it is opened
        logger.warning("the shipped model was not warmed up: %s", error)
        return
    stroke = np.zeros((IMAGE_SIDE * 10, IMAGE_SIDE * 10), np.uint8)
    stroke[40:240, 130:150] = 255  # a 1
    read_digit(reader, stroke, model_card(path).get("config", {}).get("scaling", "unit"))


def read_test_image(model: Reader, index: int, scaling: str) -> tuple[Reading, int]:
    """What a model reads in MNIST test image `index`, and the digit it really is."""
    _, _, x_test, y_test = load_mnist()
    if not 0 <= index < len(x_test):
        raise IndexError(f"test images are numbered 0..{len(x_test) - 1}, not {index}")
    digit = x_test[index] / 255.0
    probabilities = read_one(model, model_input(digit, scaling))
    return Reading(digit, probabilities, looks_like_digit=True), int(y_test[index])
