"""Robustness: seconds to measure one CNN at 6 families x 6 strengths, and what it measures.

Usage: python bench/robustness.py [--model models/mnist-cnn.keras] [--rounds 3] [--sample N]
       python bench/robustness.py --lessons
Prints the median seconds of `measure` for the shipped CNN (floor: <= 15 s for all 36 points),
the images behind each point, how long the changes themselves take, and the accuracy table.
--lessons also trains a 64-64 MLP (mlp-64-64) and a CNN without augmentation (fast-cnn) and
prints the three side by side at the strongest points: a CNN survives shifts an MLP does not,
augmentation helps with turns, zooms and shifts.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mnist_app.cli.robustness import robustness_table  # noqa: E402
from mnist_app.cli.terminal import table_console  # noqa: E402
from mnist_app.drawing.predict import default_model_path, load_model, model_card  # noqa: E402
from mnist_app.engine.data import load_mnist  # noqa: E402
from mnist_app.engine.presets import PRESETS  # noqa: E402
from mnist_app.engine.training import train  # noqa: E402
from mnist_app.inspect.robustness import FAMILIES, SAMPLE, SEED, measure, sample_indices  # noqa: E402

FLOOR_SECONDS = 15.0


def time_changes(sample: int) -> float:
    """Seconds to make the 30 changed copies of the sample (numpy only, no model)."""
    images = load_mnist()[2][sample_indices(sample)]
    started = time.perf_counter()
    for family in FAMILIES:
        for strength in family.strengths:
            if strength:
                family.change(images, strength, SEED)
    return time.perf_counter() - started


def shipped(args: argparse.Namespace):
    model = load_model(args.model)
    scaling = model_card(args.model).get("config", {}).get("scaling", "unit")
    seconds = []
    for _ in range(args.rounds):
        result = measure(model, scaling, args.sample)
        seconds.append(result.seconds)
    median = statistics.median(seconds)
    print(f"model {args.model} ({scaling} scaling)")
    rounds = ", ".join(f"{s:.1f}" for s in seconds)
    verdict = "ok" if median <= FLOOR_SECONDS else "MISSED"
    print(f"6 families x 6 strengths: median {median:.1f} s over {args.rounds} rounds ({rounds}; "
          f"the first builds the graph); floor <= {FLOOR_SECONDS:.0f} s: {verdict}")  # fmt: skip
    print(f"images per point: {result.sample:,} (strength 0: all 10,000, shared by the families)")
    print(f"  of which the changes (numpy): {time_changes(args.sample):.2f} s")
    table_console().print(robustness_table(result))
    return result


def lessons(cnn_result, sample: int) -> None:
    """The shipped CNN beside a 64-64 MLP and a CNN trained without augmentation."""
    rows = [("shipped CNN (augmented)", cnn_result)]
    with tempfile.TemporaryDirectory() as folder:
        for slug in ("mlp-64-64", "fast-cnn"):
            config = PRESETS[slug]
            path = Path(folder) / f"{slug}.keras"
            started = time.perf_counter()
            run = train(config, model_path=path)
            print(f"trained {slug} in {time.perf_counter() - started:.0f} s: "
                  f"test accuracy {run.test_accuracy:.2%}")  # fmt: skip
            rows.append((f"{slug} (no augmentation)", measure(load_model(path), config.scaling,
                                                             sample)))  # fmt: skip
    picks = [("shift", 4), ("shift", 6), ("rotation", 30), ("rotation", 45), ("scale", 60),
             ("noise", 32), ("thickness", -1), ("inversion", 0.1)]  # fmt: skip
    print(f"{'':<28}{'plain':>8}" + "".join(f"{f'{n} {s:g}':>14}" for n, s in picks))
    for name, result in rows:
        plain = result.families["shift"][0].accuracy
        cells = []
        for family, strength in picks:
            [point] = [p for p in result.families[family] if p.strength == strength]
            cells.append(f"{point.accuracy:>8.1%} ±{point.margin:4.1%}")
        print(f"{name:<28}{plain:>8.2%}" + "".join(f"{c:>14}" for c in cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(default_model_path()))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sample", type=int, default=SAMPLE, help="images per changed point")
    parser.add_argument("--lessons", action="store_true", help="also an MLP and fast-cnn")
    args = parser.parse_args()
    result = shipped(args)
    if args.lessons:
        lessons(result, args.sample)


if __name__ == "__main__":
    main()
