"""The course's classic experiments as presets, each with the test accuracy its notebook
printed, and the pitfalls: the same experiments with a mistake made on purpose."""

from __future__ import annotations

from dataclasses import dataclass

from mnist_app.engine.config import RunConfig, built_in_caps


@dataclass(frozen=True)
class Preset:
    """A classic experiment from the course notebooks, with the figure they reported.

    Its description, in each language, is `preset.<slug>` in locales/presets.*.json.
    """

    slug: str
    config: RunConfig
    reported_accuracy: float | None  # test accuracy the notebook printed, as a fraction


def _preset(slug: str, reported: float | None, **fields: object) -> Preset:
    with built_in_caps():  # a server's lower cap refuses it when it is trained, not here
        return Preset(slug, RunConfig(**fields), reported)


def _variant(slug: str, base: RunConfig, reported: float | None, **changes: object) -> Preset:
    with built_in_caps():
        return Preset(slug, base.replace(**changes), reported)


PRESET_LIST: tuple[Preset, ...] = (
    _preset(
        "chollet-512",
        0.9792,
        width=512,
        depth=1,
        optimizer="rmsprop",
        batch_size=128,
        epochs=5,
        validation_size=0,
    ),
    _preset(
        "mlp-64-64",
        0.9562,
        width=64,
        depth=2,
        scaling="centered",
        batch_size=32,
        epochs=5,
        validation_size=0,
    ),
    _preset(
        "report-v1",
        0.9762,
        width=128,
        depth=1,
        batch_size=32,
        epochs=15,
        validation_size=0,
    ),
    _preset(
        "report-v2",
        0.9822,
        arch="cnn",
        layers="conv32x3 pool drop0.25",
        batch_size=32,
        epochs=15,
        validation_size=0,
    ),
    _preset(
        "report-v3",
        0.9915,
        arch="cnn",
        layers="conv32x4 conv64x3 pool drop0.2 dense248 dense124 drop0.4",
        batch_size=32,
        epochs=20,
        validation_size=0,
    ),
    _preset(
        "slides-sigmoid",
        0.098,
        width=10,
        depth=1,
        activation="sigmoid",
        optimizer="sgd",
        learning_rate=0.01,
        batch_size=32,
        epochs=5,
        validation_size=0,
    ),
    _preset(
        "dnn-50-50",
        0.97,
        width=50,
        depth=2,
        batch_size=100,
        epochs=5,
        validation_size=10000,
    ),
    _preset(
        "fast-cnn",
        None,
        arch="cnn",
        layers="conv16x5 pool conv32x5 pool dense64",
        optimizer="adam",
        learning_rate=0.012,
        lr_schedule="onecycle",
        batch_size=80,
        epochs=1,
        validation_size=0,
    ),
    _preset(
        "lab-default",
        None,
        arch="cnn",
        layers="conv32x3 bn conv32x3 bn pool drop0.1 conv64x3 bn conv64x3 bn pool drop0.2 "
        "dense128 bn drop0.3",
        batch_size=128,
        epochs=15,
        validation_size=0,
        augment=True,
    ),
)
_COURSE = {p.slug: p.config for p in PRESET_LIST}
# Mistakes on purpose (see experiments/pitfalls.py): each lands where the mistake takes it.
PITFALL_LIST: tuple[Preset, ...] = (
    _variant("pitfall-unscaled-test", _COURSE["dnn-50-50"], None, unscaled_test=True),
    _variant("pitfall-labels-255", _COURSE["slides-sigmoid"], 0.098, labels_255=True),
    _preset(
        "pitfall-no-activation",
        None,
        width=128,
        depth=3,
        activation="linear",
        epochs=5,
        validation_size=10_000,
    ),
    _variant("pitfall-lr-too-high", _COURSE["dnn-50-50"], None, learning_rate=1.0),
)
PRESET_LIST += PITFALL_LIST
PRESETS: dict[str, RunConfig] = {p.slug: p.config for p in PRESET_LIST}
PRESET_INFO: dict[str, Preset] = {p.slug: p for p in PRESET_LIST}
