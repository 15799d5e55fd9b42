"""float32 vs mixed bfloat16: training time and test accuracy, same presets, same seeds.

Usage: python bench/precision.py [--seeds 42,7,2026] [--presets fast-cnn,chollet-512]
For each preset and seed, trains it in both precisions (alternating, so drift on the machine
hits both alike) through the engine, and prints each run's seconds and test accuracy, then per
preset the median time ratio (bfloat16 / float32) and the accuracy gap next to the spread
between seeds: what `auto` chooses is worth it where the ratio is well under 1 and the gap is
within the seeds' own spread.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mnist_app.engine.precision import native_bf16, resolve  # noqa: E402
from mnist_app.engine.presets import PRESETS  # noqa: E402
from mnist_app.engine.progress import Progress  # noqa: E402
from mnist_app.engine.training import train  # noqa: E402

PRECISIONS = ("float32", "bfloat16")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="42,7,2026")
    parser.add_argument("--presets", default="fast-cnn,chollet-512")
    parser.add_argument("--epochs", type=int, default=0, help="override the presets' epochs")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    print(f"native bf16 on this CPU: {native_bf16()}")
    for slug in args.presets.split(","):
        base = PRESETS[slug].replace(validation_size=0)
        if args.epochs:
            base = base.replace(epochs=args.epochs)
        print(f"{slug} ({base.epochs} epochs; auto picks {resolve(base)}):")
        train(base.replace(epochs=1, limit=2_000), Progress())  # warm-up: tracing, data
        seconds = {p: [] for p in PRECISIONS}
        accuracy = {p: [] for p in PRECISIONS}
        for seed in seeds:
            for precision in PRECISIONS:
                result = train(base.replace(seed=seed, precision=precision), Progress())
                seconds[precision].append(result.train_seconds)
                accuracy[precision].append(result.test_accuracy)
                print(f"  seed {seed:<5} {precision:<9} {result.train_seconds:6.2f} s  "
                      f"{result.test_accuracy:.2%}")  # fmt: skip
        ratio = statistics.median(seconds["bfloat16"]) / statistics.median(seconds["float32"])
        gap = statistics.median(accuracy["bfloat16"]) - statistics.median(accuracy["float32"])
        spread = max(max(a) - min(a) for a in accuracy.values())
        print(f"  median time bfloat16/float32 ×{ratio:.2f}; median accuracy "
              f"{statistics.median(accuracy['float32']):.2%} → "
              f"{statistics.median(accuracy['bfloat16']):.2%} ({gap:+.2%}; seeds spread up to "
              f"{spread:.2%})")  # fmt: skip


if __name__ == "__main__":
    main()
