"""Experiments: sweeps of one or two hyperparameters, and comparisons of runs.

A `Sweep` is a base config, the values of one setting (or two, for a grid) and a number of
repeats with different seeds. It expands into plain RunConfigs, all checked before anything
trains, and its runs go through the same training queue as any other run.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import statistics
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mnist_app.engine.config import CHOICES, RANGES, ConfigError, RunConfig, model_size
from mnist_app.i18n import setting_value_text, translate
from mnist_app.runs.store import Run

if TYPE_CHECKING:
    from mnist_app.runs.managers import RunManager

MAX_RUNS = 24  # runs in one sweep: values (× values of a grid) × repeats
MAX_REPEATS = 5
MAX_COMPARE = 10
FIELDS = {f.name: f.type for f in dataclasses.fields(RunConfig)}
# Names short enough for a legend: "lr = 0.02", not "learning_rate = 0.02".
LOG_FIELDS = ("learning_rate", "batch_size", "limit", "validation_size", "width", "filters")


@dataclass(frozen=True)
class Vary:
    """One setting of a sweep and the values it takes."""

    field: str
    values: tuple

    @property
    def log_scale(self) -> bool:
        """Whether its values are best shown on a log axis (learning rate, batch size...)."""
        positive = all(isinstance(v, int | float) and v > 0 for v in self.values)
        return self.field in LOG_FIELDS and positive


def parse_value(name: str, text: str) -> object:
    """One value of a setting from text, as the setting's type; ConfigError names the setting."""
    if name not in FIELDS:
        raise ConfigError(
            "vary", f"{name!r} is not a setting (settings: {', '.join(FIELDS)})", "unknown_field"
        )
    text, kind = text.strip(), FIELDS[name]
    try:
        if kind == "bool":
            words = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
            return words[text.lower()]
        if kind == "int":
            value = float(text)
            if not value.is_integer():
                raise ValueError
            return int(value)
        if kind == "float":
            value = float(text)
            if not math.isfinite(value):
                raise ValueError
            return value
    except (ValueError, KeyError):
        wanted = {"bool": "true or false", "int": "a whole number", "float": "a number"}[kind]
        raise ConfigError(name, f"{text!r} is not {wanted}", "bad_value", value=text) from None
    if name in CHOICES and text not in CHOICES[name]:
        raise ConfigError(
            name, f"{text!r} is not one of {', '.join(CHOICES[name])}", "bad_value", value=text
        )
    return text


def parse_vary(text: str) -> Vary:
    """`FIELD=V1,V2,...` (the CLI's --vary) as a Vary; ConfigError names what is wrong."""
    name, sep, values = text.partition("=")
    name = name.strip().replace("-", "_")
    if not sep or not name:
        raise ConfigError(
            "vary", f"{text!r}: write it as FIELD=V1,V2,... (e.g. learning_rate=0.001,0.01)"
        )
    parsed = [parse_value(name, part) for part in values.split(",") if part.strip()]
    return make_vary(name, parsed)


def make_vary(name: str, values: list) -> Vary:
    """A Vary from typed values: at least one, none given twice."""
    if name not in FIELDS:
        parse_value(name, "")  # raises the unknown-setting error
    if not values:
        raise ConfigError(name, "give at least one value to try", "no_values")
    seen = set()
    for value in values:
        if value in seen:
            raise ConfigError(name, f"{value!r} is given twice", "repeated_value", value=value)
        seen.add(value)
    return Vary(name, tuple(values))


@dataclass(frozen=True)
class Sweep:
    """A base config, the settings it varies (one, or two for a grid) and the repeats."""

    base: RunConfig
    vary: tuple[Vary, ...]
    repeats: int = 1
    preset: str | None = None
    lesson: str | None = None  # the lesson it replays, if any

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(v.field for v in self.vary)

    def combinations(self) -> list[tuple]:
        """Every combination of values, in order: one tuple per point of the result."""
        return list(itertools.product(*(v.values for v in self.vary)))

    def configs(self) -> list[RunConfig]:
        """Every run's config, each repeat with the next seed; ConfigError names the setting
        and value of the first run that could not be trained."""
        check_shape(self)
        configs = []
        for values in self.combinations():
            changes = dict(zip(self.fields, values, strict=True))
            for repeat in range(self.repeats):
                seed = changes.get("seed", self.base.seed) + repeat
                try:
                    configs.append(self.base.replace(**(changes | {"seed": seed})))
                except ConfigError as error:
                    where = ", ".join(f"{k}={v}" for k, v in changes.items())
                    problem = str(error).removeprefix(f"{error.field}: ")
                    raise ConfigError(
                        error.field, f"{where}: {problem}", error.reason, **error.values
                    ) from None
        return configs

    def to_dict(self) -> dict:
        return {
            "base": self.base.to_dict(),
            "vary": [[v.field, list(v.values)] for v in self.vary],
            "repeats": self.repeats,
            "preset": self.preset,
            "lesson": self.lesson,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Sweep:
        return cls(
            RunConfig.from_dict(data["base"]),
            tuple(make_vary(name, list(values)) for name, values in data["vary"]),
            int(data.get("repeats", 1)),
            data.get("preset"),
            data.get("lesson"),
        )


def check_shape(sweep: Sweep) -> None:
    """One or two different settings, 1..MAX_REPEATS repeats, at most MAX_RUNS runs in all."""
    if not 1 <= len(sweep.vary) <= 2 or len(set(sweep.fields)) != len(sweep.vary):
        raise ConfigError("vary", "vary one setting, or two different ones for a grid")
    if not 1 <= sweep.repeats <= MAX_REPEATS:
        raise ConfigError(
            "repeats", f"{sweep.repeats!r} is outside the allowed range 1..{MAX_REPEATS}"
        )
    points = math.prod(len(v.values) for v in sweep.vary)
    runs = points * sweep.repeats  # the cap is on what trains: every repeat is a run
    if runs > MAX_RUNS:
        count = f"{points} combinations × {sweep.repeats} repeats = " if sweep.repeats > 1 else ""
        raise ConfigError(
            "vary",
            f"{count}{runs} runs: a sweep trains at most {MAX_RUNS} runs, repeats included",
            "too_many_runs",
            runs=runs,
        )
    if "seed" in sweep.fields and sweep.repeats > 1:
        raise ConfigError("repeats", "a sweep over the seed already repeats: use 1 repeat")


def start_sweep(
    manager: RunManager, sweep: Sweep, paused: bool = False, student: str | None = None
) -> str:
    """Check every run, store the sweep and queue its runs (`student`'s); the sweep's id."""
    configs = sweep.configs()
    manager.store.class_drawings_for(max(configs, key=lambda c: c.class_digits))  # or refused
    sweep_id = manager.store.create_sweep(sweep.to_dict())
    for config in configs:
        preset = sweep.preset if config == sweep.base else None
        manager.submit(config, preset, paused=paused, sweep_id=sweep_id, student=student)
    return sweep_id


def load_sweep(manager: RunManager, sweep_id: str) -> Sweep | None:
    """A stored sweep, or None if there is none (or its description no longer parses)."""
    data = manager.store.get_sweep(sweep_id)
    try:
        return Sweep.from_dict(data) if data else None
    except (ConfigError, KeyError, TypeError, ValueError):
        return None


def suggest_values(name: str, base: RunConfig) -> list:
    """Values worth trying for a setting: its choices, or log-spaced numbers around the base."""
    kind = FIELDS[name]
    if name in CHOICES:
        return list(CHOICES[name])
    if kind == "bool":
        return [False, True]
    if name not in RANGES:
        return [getattr(base, name)]
    low, high = RANGES[name]
    current = getattr(base, name)
    if kind == "float" and low == 0:  # dropout: a linear range
        return [round(x, 2) for x in (0.0, 0.1, 0.2, 0.3, 0.5) if x <= high]
    if name == "seed":
        return [base.seed + k for k in range(3)]
    if kind == "int" and high - low <= 10:  # depth, conv blocks, kernel size: every value
        return list(range(int(low), int(high) + 1))
    centre = float(current) if current > 0 else math.sqrt(max(low, 1) * high)  # limit 0 = all
    spread = (centre / 100, centre * 100) if kind == "float" else (centre / 8, centre * 8)
    mantissas = (1, 3) if kind == "float" else (1, 2, 5)
    return [_round(v, kind) for v in log_steps(*spread, mantissas) if low <= v <= high]


def log_steps(low: float, high: float, mantissas: tuple[float, ...] = (1, 2, 5)) -> list[float]:
    """Log-spaced round numbers from low to high: 1, 2, 5, 10, 20, 50... (or other mantissas)."""
    steps, decade = [], 10.0 ** math.floor(math.log10(low))
    while decade <= high:
        steps += [float(f"{m * decade:.6g}") for m in mantissas if low <= m * decade <= high]
        decade *= 10
    return steps


def _round(value: float, kind: str) -> float | int:
    return round(value) if kind == "int" else float(f"{value:.1g}")


# --- comparing runs -----------------------------------------------------------------------
def differing_fields(configs: list[RunConfig]) -> list[str]:
    """The settings whose value is not the same in every config, in RunConfig's order."""
    dicts = [c.to_dict() for c in configs]
    return [name for name in FIELDS if len({repr(d[name]) for d in dicts}) > 1]


def format_value(value: object) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def setting_text(name: str, value: object, lang: str | None = None) -> str:
    """One setting as a legend names it: `lr = 0.02` on the command line; on a page, in its
    language `lang`: `tasa = 0,02`, `aumento = sí`."""
    if lang is None:
        return f"{short_name(name)} = {format_value(value)}"
    return f"{short_name(name, lang)} = {setting_value_text(name, value, lang)}"


def short_name(name: str, lang: str = "en") -> str:
    """A setting's name where room is short (legends, the terminal): lr, batch; tasa, lote."""
    return translate(f"short.{name}", lang)


def run_name(run: Run, differing: list[str], lang: str | None = None) -> str:
    """What tells this run apart from the others compared with it: its label, else the
    settings that differ ("lr = 0.02"; in a page's language with `lang`), else its id."""
    if run.label:
        return run.label
    parts = [setting_text(name, getattr(run.config, name), lang) for name in differing]
    return ", ".join(parts) if parts else run.id


# --- a sweep's result ---------------------------------------------------------------------
@dataclass(frozen=True)
class SweepPoint:
    """One combination of values and how its runs (one per repeat) did."""

    values: tuple
    run_ids: tuple[str, ...]
    accuracies: tuple[float, ...]  # of the runs that were scored
    seconds: tuple[float, ...]

    @property
    def mean_accuracy(self) -> float | None:
        return statistics.fmean(self.accuracies) if self.accuracies else None

    @property
    def spread(self) -> float:
        """Standard deviation of the accuracy over the repeats (0 with one)."""
        return statistics.stdev(self.accuracies) if len(self.accuracies) > 1 else 0.0

    @property
    def mean_seconds(self) -> float | None:
        return statistics.fmean(self.seconds) if self.seconds else None


def sweep_points(sweep: Sweep, runs: list[Run]) -> list[SweepPoint]:
    """The sweep's result: one point per combination, in the sweep's order."""
    points = []
    for values in sweep.combinations():
        mine = [r for r in runs if tuple(getattr(r.config, f) for f in sweep.fields) == values]
        scored = [r for r in mine if r.status.scored and r.test_accuracy is not None]
        points.append(
            SweepPoint(
                values,
                tuple(r.id for r in mine),
                tuple(r.test_accuracy for r in scored),
                tuple(r.train_seconds or 0.0 for r in scored),
            )
        )
    return points


def best_point(points: list[SweepPoint]) -> SweepPoint | None:
    """The combination with the highest mean test accuracy, or None before any is scored."""
    scored = [p for p in points if p.mean_accuracy is not None]
    return max(scored, key=lambda p: p.mean_accuracy) if scored else None


# --- a sweep's progress -------------------------------------------------------------------
@dataclass(frozen=True)
class SweepProgress:
    """How far a sweep's runs are, as one bar: images trained of all its runs' images."""

    runs: int
    ended: int  # runs no longer queued or training
    samples_seen: int
    samples_total: int
    train_seconds: float

    @property
    def fraction_done(self) -> float:
        return min(self.samples_seen / self.samples_total, 1.0) if self.samples_total else 0.0

    @property
    def eta_seconds(self) -> float | None:
        """Time left at the speed so far (runs one after another), None before any batch."""
        if self.ended == self.runs:
            return 0.0
        if self.samples_seen == 0 or self.train_seconds <= 0:
            return None
        rate = self.samples_seen / self.train_seconds
        return max(self.samples_total - self.samples_seen, 0) / rate


def sweep_progress(manager: RunManager, runs: list[Run]) -> SweepProgress:
    """The sweep's progress from its runs' live snapshots (or stored ones)."""
    seen = total = ended = 0
    seconds = 0.0
    for run in runs:
        planned = run.config.train_size * run.config.epochs
        snap = manager.snapshot(run.id)
        if snap is None or not manager.is_active(run.id):
            ended += 1
            seen, total = seen + planned, total + planned  # an ended run is all done
        else:
            seen, total = seen + snap.samples_seen, total + planned
        seconds += snap.train_seconds if snap is not None else 0.0
    return SweepProgress(len(runs), ended, seen, total, seconds)


# --- how long it will take ----------------------------------------------------------------
# Fitted to runs on the 2-core class machine (2026-11: MLPs at batch 1 to 10,000, three CNNs):
# each training step costs about 1.3 ms whatever its size; each image 10 µs, plus 5 ns per value
# its layers output and 0.015 ns per multiply-add. A forward pass alone costs about a third.
STEP_SECONDS = 1.3e-3
IMAGE_SECONDS = 1e-5
ACTIVATION_SECONDS = 5e-9
MAC_SECONDS = 1.5e-11
RUN_SECONDS = 2.0  # building the model, the first traced step, scoring the test set


def estimate_seconds(config: RunConfig) -> float:
    """Roughly how long a run takes on this kind of machine (±50%): for "about 3 min"."""
    size = model_size(config)
    macs = sum(
        layer.params * (math.prod(layer.output_shape[:2]) if len(layer.output_shape) == 3 else 1)
        for layer in size.layers
    )
    per_image = IMAGE_SECONDS + size.activations_per_image * ACTIVATION_SECONDS + macs * MAC_SECONDS
    steps = math.ceil(config.train_size / config.batch_size)
    epoch = steps * STEP_SECONDS + config.train_size * per_image
    scoring = (config.validation_size * config.epochs + 10_000) * per_image / 3
    return RUN_SECONDS + config.epochs * epoch + scoring


def estimate_sweep_seconds(sweep: Sweep) -> float:
    """Roughly how long a sweep's runs take, one after another."""
    return sum(estimate_seconds(config) for config in sweep.configs())
