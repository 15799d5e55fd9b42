"""Server time to read one drawing: 280×280 RGBA canvas image → ten probabilities.

Usage: python bench/predict_latency.py [--model models/mnist-cnn.keras] [--calls 500] [--rounds 3]
Prints p50/p95 of canvas → probabilities with the Draw page's reader (load_reader: the model's
forward pass in numpy, mnist_app/drawing/forward.py) over --calls calls after a warm-up, in each of
--rounds rounds and their median (the floors are judged on it), then of its stages:
cutting out and centring the ink (evened_ink + work_to_mnist), telling a digit from a scribble
(measure_ink), and the model (read_one), with Keras beside it for reference (its forward pass
traced once, and predict_on_batch). Floors on canvas → probabilities (cutting out the ink, the
model): p50 <= 1 ms (issue 12), p95 <= 10 ms; the whole reading adds the digit-or-scribble
check, printed too.
Not counted (printed for reference): decoding the canvas's PNG, which streamlit-drawable-canvas
does when the page reads `image_data`.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from mnist_app.drawing.predict import (  # noqa: E402
    default_model_path,
    load_model,
    load_reader,
    model_card,
    read_digit,
    read_one,
)
from mnist_app.drawing.preprocess import evened_ink, measure_ink, model_input, work_to_mnist  # noqa: E402

P50_FLOOR, P95_FLOOR = 1.0, 10.0


def canvas_image(rng: np.random.Generator) -> np.ndarray:
    """A 7 as the canvas sends it: white 20-px strokes on an opaque black 280×280 RGBA image."""
    picture = Image.new("RGBA", (280, 280), (0, 0, 0, 255))
    corners = np.array([(60, 50), (220, 50), (120, 240)]) + rng.integers(-15, 16, (3, 2))
    ImageDraw.Draw(picture).line([tuple(p) for p in corners], fill="white", width=20, joint="curve")
    return np.asarray(picture)


def timings(call, inputs: list, warmup: int = 100) -> np.ndarray:
    """Milliseconds per call, one input after another."""
    for item in inputs[:warmup]:
        call(item)
    spent = []
    for item in inputs:
        start = time.perf_counter()
        call(item)
        spent.append(time.perf_counter() - start)
    return np.array(spent) * 1000


def line(name: str, ms: np.ndarray) -> None:
    p50, p95 = np.percentile(ms, [50, 95])
    print(f"{name:<44} p50 {p50:6.2f} ms   p95 {p95:6.2f} ms   ({len(ms)} calls)")


def probabilities(model, image: np.ndarray, scaling: str) -> np.ndarray:
    """What read_digit does for the probabilities, without its digit-or-scribble check."""
    return read_one(model, model_input(work_to_mnist(evened_ink(image)), scaling))


def png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(default_model_path()))
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    model, keras_model = load_reader(args.model), load_model(args.model)
    scaling = model_card(args.model).get("config", {}).get("scaling", "unit")
    rng = np.random.default_rng(0)
    images = [canvas_image(rng) for _ in range(args.calls)]
    works = [evened_ink(image) for image in images]
    inputs = [model_input(work_to_mnist(work), scaling) for work in works]
    print(f"model {args.model}")
    rounds = [
        timings(lambda image: probabilities(model, image, scaling), images)
        for _ in range(args.rounds)
    ]
    for number, spent in enumerate(rounds, 1):
        line(f"canvas image → probabilities, round {number}", spent)
    p50, p95 = (np.median([np.percentile(spent, q) for spent in rounds]) for q in (50, 95))
    print(f"{'canvas image → probabilities, median':<44} p50 {p50:6.2f} ms   p95 {p95:6.2f} ms")
    line("  cut out and centre the ink", timings(lambda i: work_to_mnist(evened_ink(i)), images))
    line("  model (read_one)", timings(lambda x: read_one(model, x), inputs))
    line(
        "whole reading, with the scribble check",
        timings(lambda image: read_digit(model, image, scaling), images),
    )
    line("  digit or scribble? (measure_ink)", timings(measure_ink, works))
    line("(not counted) Keras, traced forward pass", timings(lambda x: read_one(keras_model, x),
                                                              inputs))  # fmt: skip
    batches = [x.reshape((1, *keras_model.input_shape[1:])) for x in inputs]
    line("(not counted) Keras, predict_on_batch", timings(keras_model.predict_on_batch, batches))
    pngs = [png(image) for image in images[:200]]
    line(
        "(not counted) decode the canvas PNG",
        timings(lambda b: np.asarray(Image.open(io.BytesIO(b))), pngs),
    )
    print(f"floors: p50 <= {P50_FLOOR:g} ms: {'ok' if p50 <= P50_FLOOR else 'MISSED'}; "
          f"p95 <= {P95_FLOOR:g} ms: {'ok' if p95 <= P95_FLOOR else 'MISSED'}")  # fmt: skip


if __name__ == "__main__":
    main()
