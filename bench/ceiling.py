"""How fast a preset's epoch can be on this machine at all: its arithmetic over the CPU's peak.

Usage: python bench/ceiling.py [--presets report-v3 lab-default fast-cnn] [--rounds 5]
Counts the multiply-adds of one training step of each preset from its built Keras model (every
Conv2D and Dense layer: forward, the gradient of the weights, and the gradient of the inputs for
all but the first layer), measures the machine's best rate for the same work (TensorFlow's
matrix product of two 2048×2048 matrices, in float32 and in bfloat16, on all cores; the best of
--rounds), and prints the fewest seconds a 60k-image epoch could take if every multiply-add
ran at that best rate, which no real training step does (batch norm, pooling, dropout, the
augmentation, the optimizer and the small shapes of a batch of 32 all add time).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from mnist_app.engine.models import build_model  # noqa: E402
from mnist_app.engine.precision import resolve  # noqa: E402
from mnist_app.engine.presets import PRESETS  # noqa: E402

SIDE = 2048  # the matrices of the peak measurement
EPOCH_IMAGES = 60_000


def multiply_adds(model: keras.Model) -> tuple[int, int]:
    """(forward, whole training step) multiply-adds per image of the model's Conv2D and Dense
    layers; the first such layer needs no gradient of its input."""
    forward = step = 0
    first = True
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            _, height, width, filters = layer.output.shape
            kernel_height, kernel_width, channels, _ = layer.kernel.shape
            count = height * width * filters * kernel_height * kernel_width * channels
        elif isinstance(layer, keras.layers.Dense):
            count = layer.kernel.shape[0] * layer.kernel.shape[1]
        else:
            continue
        forward += count
        step += count * (2 if first else 3)
        first = False
    return forward, step


def peak_rate(dtype: tf.DType, rounds: int) -> float:
    """The best multiply-adds per second of a large matrix product in `dtype`."""
    rng = np.random.default_rng(0)
    a = tf.constant(rng.standard_normal((SIDE, SIDE)), dtype)
    b = tf.constant(rng.standard_normal((SIDE, SIDE)), dtype)
    product = tf.function(lambda: tf.matmul(a, b))
    product().numpy()  # warm-up: tracing, oneDNN's kernel choice
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        product().numpy()
        best = min(best, time.perf_counter() - start)
    return SIDE**3 / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["report-v3", "lab-default", "fast-cnn"])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    rates = {"float32": peak_rate(tf.float32, args.rounds),
             "bfloat16": peak_rate(tf.bfloat16, args.rounds)}  # fmt: skip
    for name, rate in rates.items():
        print(f"peak: {SIDE}×{SIDE} matrix product in {name}: {2 * rate / 1e9:,.0f} GFLOP/s")
    for slug in args.presets:
        config = PRESETS[slug]
        precision = resolve(config)
        forward, step = multiply_adds(build_model(config))
        epoch = step * EPOCH_IMAGES
        print(f"{slug} (batch {config.batch_size}, trains in {precision}): "
              f"{2 * forward / 1e6:.1f} MFLOP forward, {2 * step / 1e6:.1f} MFLOP a training "
              f"step per image, {2 * epoch / 1e12:.2f} TFLOP an epoch; at peak an epoch takes "
              f"at least {epoch / rates[precision]:.1f} s in {precision} "
              f"({epoch / rates['float32']:.1f} s in float32)")  # fmt: skip


if __name__ == "__main__":
    main()
