"""Server time to read one drawing: 280×280 RGBA canvas image → ten probabilities.

Usage: python bench/predict_latency.py [--model models/mnist-cnn.keras] [--calls 500]
Prints p50/p95 of `read_digit` (preprocessing + the model through predict_on_batch) over
--calls calls after a warm-up, and of its two halves. Targets: p50 <= 3 ms, p95 <= 10 ms.
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

from mnist_app.predict import default_model_path, load_model, model_card, read_digit  # noqa: E402
from mnist_app.preprocess import canvas_to_mnist, model_input  # noqa: E402


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
    print(f"{name:<40} p50 {p50:6.2f} ms   p95 {p95:6.2f} ms   ({len(ms)} calls)")


def png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(default_model_path()))
    parser.add_argument("--calls", type=int, default=500)
    args = parser.parse_args()
    model = load_model(args.model)
    scaling = model_card(args.model).get("config", {}).get("scaling", "unit")
    rng = np.random.default_rng(0)
    images = [canvas_image(rng) for _ in range(args.calls)]
    digits = [canvas_to_mnist(image) for image in images]
    print(f"model {args.model}")
    total = timings(lambda image: read_digit(model, image, scaling), images)
    line("canvas image → probabilities (total)", total)
    line("  preprocessing (canvas_to_mnist)", timings(canvas_to_mnist, images))
    line(
        "  model (predict_on_batch)",
        timings(lambda d: model.predict_on_batch(model_input(d, scaling)[np.newaxis]), digits),
    )
    pngs = [png(image) for image in images[:200]]
    line(
        "(not counted) decode the canvas PNG",
        timings(lambda b: np.asarray(Image.open(io.BytesIO(b))), pngs),
    )
    p50, p95 = np.percentile(total, [50, 95])
    print(f"targets: p50 <= 3 ms: {'ok' if p50 <= 3 else 'MISSED'}; "
          f"p95 <= 10 ms: {'ok' if p95 <= 10 else 'MISSED'}")  # fmt: skip


if __name__ == "__main__":
    main()
