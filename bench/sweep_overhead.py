"""A sweep's wall time against the same runs trained one by one, and one against two at a time.

    python bench/sweep_overhead.py [--rounds 3]

For an MLP sweep (dnn-50-50, four learning rates, 2 epochs on all 50,000 images) and a CNN
sweep (fast-cnn, two learning rates, 1 epoch on 20,000 images) it times, in alternating order:
- one by one: each run queued on its own and waited for before the next (what a teacher did
  before sweeps existed: one Start per value);
- the sweep, one training at a time (the default);
- the sweep, two trainings at a time (MNIST_LAB_MAX_TRAININGS=2).
It prints each variant's median wall time and its ratio to one by one.

Measured here (2026-11-23, 3 rounds): the sweep took ×0.974 (MLP) and ×1.007 (CNN) of one by
one. Two at a time took ×0.850 for the MLPs but ×1.044 for the CNNs, whose convolutions already
use both cores; so the default stays one training at a time (MNIST_LAB_MAX_TRAININGS=1): the
CNN runs are the long ones, and two at a time also halves the speed of each live curve.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mnist_app.engine.presets import PRESETS  # noqa: E402
from mnist_app.experiments.sweeps import Sweep, make_vary, start_sweep  # noqa: E402
from mnist_app.runs.jobs import TrainingManager  # noqa: E402
from mnist_app.runs.store import RunStore  # noqa: E402

SWEEPS = {
    "mlp dnn-50-50 ×4 lr": Sweep(
        PRESETS["dnn-50-50"].replace(epochs=2),
        (make_vary("learning_rate", [0.0003, 0.001, 0.003, 0.01]),),
    ),
    "cnn fast-cnn ×2 lr": Sweep(
        PRESETS["fast-cnn"].replace(epochs=1, limit=20_000),
        (make_vary("learning_rate", [0.002, 0.005]),),
    ),
}


def one_by_one(sweep: Sweep) -> float:
    manager = TrainingManager(RunStore(tempfile.mkdtemp()), max_concurrent=1)
    start = time.perf_counter()
    for config in sweep.configs():
        manager.wait(manager.submit(config))
    return time.perf_counter() - start


def as_sweep(sweep: Sweep, at_once: int) -> float:
    manager = TrainingManager(RunStore(tempfile.mkdtemp()), max_concurrent=at_once)
    start = time.perf_counter()
    sweep_id = start_sweep(manager, sweep)
    for run in manager.store.sweep_runs(sweep_id):
        manager.wait(run.id)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    variants = {
        "one by one": one_by_one,
        "sweep, 1 at a time": lambda s: as_sweep(s, 1),
        "sweep, 2 at a time": lambda s: as_sweep(s, 2),
    }
    for name, sweep in SWEEPS.items():
        one_by_one(sweep)  # warm-up: data loaded, kernels traced once
        times: dict[str, list[float]] = {variant: [] for variant in variants}
        for round_ in range(args.rounds):
            order = list(variants) if round_ % 2 == 0 else list(reversed(variants))
            for variant in order:
                times[variant].append(variants[variant](sweep))
        base = statistics.median(times["one by one"])
        print(f"{name} ({len(sweep.configs())} runs, {args.rounds} rounds, medians):")
        for variant, seconds in times.items():
            median = statistics.median(seconds)
            print(f"  {variant:<20} {median:6.1f} s   ×{median / base:.3f}")


if __name__ == "__main__":
    main()
