"""A Train setup as a short, readable link: `?preset=dnn-50-50&learning_rate=0.02`.

Only what differs from the preset (or from the defaults) goes into the link. Reading a link
keeps every value that can be trained, and refuses the others one by one, each with why, so a
link with one bad value still opens with everything else it says.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from mnist_app.engine.config import RANGES, ConfigError, RunConfig
from mnist_app.engine.presets import PRESETS
from mnist_app.experiments.sweeps import FIELDS, format_value, parse_value

SETUP_KEYS = ("preset", *FIELDS)  # the link's parameters; any other (run, lang...) is not ours


@dataclass(frozen=True)
class Refusal:
    """A value of a link that was not used: which setting, what it said, and why not."""

    field: str
    text: str
    reason: str  # "unknown_preset", "bad_value", "out_of_range" or "does_not_fit"
    values: dict = field(default_factory=dict)  # e.g. the allowed range
    error: ConfigError | None = None  # for "does_not_fit": what the config said, to translate


@dataclass(frozen=True)
class Setup:
    """What a link sets up: the preset it starts from, the config, and what it refused."""

    preset: str | None
    config: RunConfig
    refused: tuple[Refusal, ...] = ()


def setup_query(config: RunConfig, preset: str | None = None) -> dict[str, str]:
    """The link's parameters for a config: the preset, then each setting that differs from it."""
    base = PRESETS.get(preset or "") or RunConfig()
    query = {"preset": preset} if preset in PRESETS else {}
    for name in FIELDS:
        value = getattr(config, name)
        if value != getattr(base, name):
            query[name] = str(value).lower() if isinstance(value, bool) else format_value(value)
    return query


def read_setup(params: Mapping[str, str]) -> Setup:
    """The setup a link describes; values that cannot be trained are refused and left out."""
    refused: list[Refusal] = []
    preset = params.get("preset") or None
    if preset is not None and preset not in PRESETS:
        refused.append(Refusal("preset", preset, "unknown_preset"))
        preset = None
    base = PRESETS[preset] if preset else RunConfig()
    accepted = {}
    for name in FIELDS:
        if name not in params:
            continue
        text = params[name]
        try:
            value = parse_value(name, text)
            base.replace(**{name: value})  # this value alone, on the preset
        except ConfigError as error:
            refused.append(_refusal(name, text, error))
            continue
        accepted[name] = value
    while True:  # together: a value that does not fit with the others goes, with the reason
        try:
            return Setup(preset, base.replace(**accepted), tuple(refused))
        except ConfigError as error:
            name = error.field if error.field in accepted else _culprit(base, accepted)
            refused.append(Refusal(name, params[name], "does_not_fit", error=error))
            del accepted[name]


def _culprit(base: RunConfig, accepted: dict) -> str:
    """The value whose leaving out makes the rest fit (the network's size is no setting of its
    own): the last such in the link's order, else simply the last value."""
    for name in reversed(accepted):
        try:
            base.replace(**{k: v for k, v in accepted.items() if k != name})
        except ConfigError:
            continue
        return name
    return next(reversed(accepted))


def _refusal(name: str, text: str, error: ConfigError) -> Refusal:
    if error.reason == "bad_value":  # not a number, not one of the choices
        return Refusal(name, text, "bad_value")
    if name in RANGES and not error.reason:  # a plain range error from config.validate
        low, high = RANGES[name]
        return Refusal(
            name, text, "out_of_range", {"low": format_value(low), "high": format_value(high)}
        )
    return Refusal(name, text, "does_not_fit", error=error)
