"""How long the server takes to draw the Runs page with 500 runs and the Compare page with 10.

Run: python bench/runs_page.py [--runs 500] [--compare 10] [--epochs 100] [--rounds 5]

Fills a scratch store directly (store.create + record_outcome, synthetic but well-formed
per-epoch histories: this measures drawing, not training), then times AppTest runs of each
page, the script only, and prints every round and the median. The floor is 1 s per page.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
FLOOR = 1.0  # seconds per page view
APP = str(ROOT / "app.py")


def history(epochs: int, rate: float, rng: random.Random) -> list:
    """Loss falling towards a floor, a little noise: what a real run's history looks like."""
    from mnist_app.engine.records import EpochRecord

    records = []
    for epoch in range(1, epochs + 1):
        loss = 0.05 + 2.2 * math.exp(-epoch * rate * 50) + rng.random() * 0.02
        records.append(EpochRecord(
            epoch=epoch, loss=loss, accuracy=1 - loss / 2.4,
            val_loss=loss * 1.15, val_accuracy=1 - loss * 1.15 / 2.4,
            seconds=1.2, learning_rate=rate,
        ))  # fmt: skip
    return records


def fill(store, count: int, epochs: int, seed: int = 0) -> list[str]:
    """`count` finished runs of varied settings; their ids, oldest first."""
    from mnist_app.engine.config import RunConfig
    from mnist_app.engine.records import Outcome
    from mnist_app.engine.status import RunStatus

    rng, ids = random.Random(seed), []
    for index in range(count):
        rate = rng.choice([1e-4, 3e-4, 1e-3, 3e-3, 1e-2])
        config = RunConfig(
            learning_rate=rate, epochs=epochs, optimizer=rng.choice(["adam", "sgd", "rmsprop"]),
            width=rng.choice([32, 64, 128, 256]), batch_size=rng.choice([32, 64, 128]),
        )  # fmt: skip
        run_id = store.create(config, preset="lab-default" if index % 5 == 0 else None)
        records = history(epochs, rate, rng)
        store.record_outcome(
            run_id,
            Outcome(RunStatus.FINISHED, history=records, test_loss=records[-1].val_loss,
                    test_accuracy=records[-1].val_accuracy, train_seconds=epochs * 1.2),
        )  # fmt: skip
        ids.append(run_id)
    return ids


def page_seconds(page: str, rounds: int, **query: str) -> list[float]:
    """Seconds per rerun of one page in one session (the first, warm-up view not counted)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["lang"] = "es"
    for name, value in query.items():
        at.query_params[name] = value
    at.run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - start)
        assert not at.exception, at.exception
    return times


def report(name: str, times: list[float]) -> None:
    median = statistics.median(times)
    verdict = "ok" if median <= FLOOR else f"OVER the {FLOOR:g} s floor"
    rounds = " ".join(f"{t:.3f}" for t in times)
    print(f"{name}: median {median:.3f} s ({verdict}); rounds: {rounds}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--compare", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        os.environ["MNIST_LAB_HOME"] = home
        from mnist_app.runs.store import RunStore

        store = RunStore(home)
        start = time.perf_counter()
        fill(store, args.runs, epochs=10)
        compared = fill(store, args.compare, epochs=args.epochs, seed=1)
        print(f"stored {args.runs + args.compare} runs in {time.perf_counter() - start:.1f} s")
        total = args.runs + args.compare
        report(f"Runs page, {total} runs", page_seconds("pages/runs.py", args.rounds))
        report(
            f"Compare page, {args.compare} runs x {args.epochs} epochs",
            page_seconds("pages/compare.py", args.rounds, runs=",".join(compared)),
        )


if __name__ == "__main__":
    main()
