"""What one poll of the live API costs the server, with the class rules read from the database on
every poll (as before) and at most once every RULES_SECONDS (now); and its charts for a run under
way.

Usage: python bench/live_poll.py [--polls 2000] [--rounds 7] [--url postgresql+psycopg://...]

A store (a fresh SQLite file, or the database at --url) holds one finished run with 20 epochs;
each poll is the live endpoint's work without HTTP: `may_follow` (the class rules and the viewing
pass) then `live_view`. The two ways alternate, round by round; the medians are printed, with the
database reads of the class rules per poll. Then the two learning-curve charts of a run under way
(in memory, with BATCH_POINTS batches drawn so far: each poll rebuilds them), per poll.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402

from mnist_app.engine.config import RunConfig  # noqa: E402
from mnist_app.engine.progress import Progress  # noqa: E402
from mnist_app.engine.records import EpochRecord, Outcome  # noqa: E402
from mnist_app.engine.status import RunStatus  # noqa: E402
from mnist_app.figures import live  # noqa: E402
from mnist_app.runs.jobs import TrainingManager  # noqa: E402
from mnist_app.runs.store import RunStore  # noqa: E402


def one_round(manager: TrainingManager, run_id: str, polls: int, max_age: float) -> float:
    """Seconds per poll, the rules cached for `max_age` seconds (0: read on every poll)."""
    live.RULES_SECONDS = max_age
    manager.store._rules_read_at = float("-inf")  # each round starts from a fresh read
    start = time.perf_counter()
    for _ in range(polls):
        assert live.may_follow(manager.store, f"run:{run_id}", None)
        assert live.live_view(manager, run_id, "es") is not None
    return (time.perf_counter() - start) / polls


BATCH_POINTS = 2000  # chollet-512's batches in 4 1/4 epochs: one point each
EPOCH_BATCHES = 469  # chollet-512's batches of 128 in an epoch of 60,000 images


def charts_under_way(polls: int, rounds: int) -> float:
    """Seconds per poll to build the live view's two charts of a run under way."""
    progress = Progress()
    progress.update(status=RunStatus.RUNNING, epochs=5, batches_per_epoch=EPOCH_BATCHES)
    for k in range(1, BATCH_POINTS + 1):
        progress.add_batch(2.3 / k**0.5, 1 - 0.9 / k**0.5, 128)
        if k % EPOCH_BATCHES == 0:
            epoch = k // EPOCH_BATCHES
            progress.add_epoch(EpochRecord(epoch=epoch, loss=2.3 / k**0.5, accuracy=0.9))
    snap = progress.snapshot()
    spent = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(polls):
            live.live_charts(snap, "es")
        spent.append((time.perf_counter() - start) / polls)
    return statistics.median(spent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--polls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--url", help="a database URL (default: a fresh SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        store = RunStore(home, url=args.url)
        run_id = store.create(RunConfig(epochs=20))
        history = [EpochRecord(epoch=e, loss=1 / e, accuracy=1 - 1 / (e + 1)) for e in range(1, 21)]
        store.record_outcome(
            run_id, Outcome(RunStatus.FINISHED, history=history, test_accuracy=0.97)
        )
        manager = TrainingManager(store)
        reads = []

        def count(conn, cursor, statement, *rest):
            if statement.lstrip().upper().startswith("SELECT") and "FROM class_rules" in statement:
                reads.append(statement)

        sa.event.listen(store.engine, "before_cursor_execute", count)
        timings: dict[float, list[float]] = {0.0: [], live.RULES_SECONDS: []}
        per_poll_reads: dict[float, float] = {}
        for _ in range(args.rounds):
            for max_age in timings:
                reads.clear()
                timings[max_age].append(one_round(manager, run_id, args.polls, max_age))
                per_poll_reads[max_age] = len(reads) / args.polls
        print(f"database: {store.engine.dialect.name}; {args.polls} polls x {args.rounds} rounds")
        for max_age, seconds in timings.items():
            way = "every poll" if max_age == 0 else f"at most every {max_age:g} s"
            print(
                f"rules read {way:>22}: {statistics.median(seconds) * 1e6:8.0f} µs per poll, "
                f"{per_poll_reads[max_age]:.4f} rule reads per poll"
            )
    print(f"charts of a run under way ({BATCH_POINTS} batches): "
          f"{charts_under_way(args.polls // 4, args.rounds) * 1e6:8.0f} µs per poll")  # fmt: skip


if __name__ == "__main__":
    main()
