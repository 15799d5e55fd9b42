"""Trainings per hour for a class submitting the same preset on a Ray cluster, and how soon a
run starts: 1 vs 2 worker nodes, and this code vs an older checkout (`--before`).

Usage: python bench/cluster_scaling.py [--preset chollet-512] [--runs 6] [--epochs N]
           [--rounds 2] [--nodes 1,2] [--before PATH]

Each arm starts, in a process of its own, a real local Ray cluster (a head with no CPUs and N
worker nodes of one CPU each) and a real PostgreSQL, with the code of this checkout or of the
one at PATH (e.g. `git worktree add /tmp/before cb1b325`, the last commit with a fresh actor per
run). It then
- submits one small run on the idle cluster, three times, and times from `submit` to the first
  batch's samples in the run's live progress (polled every 20 ms): a fresh actor imports
  TensorFlow and reads MNIST first, a warm trainer has;
- submits `--runs` runs of the preset at once through the ClusterManager, as a class pressing
  Start together would, and times from the first submit to the last run finished: start-up,
  data loading, training, evaluation and saving to the database all count.
Warm trainers start with the server, so an arm waits for them to be ready before it times
anything (a fresh-actor arm has nothing to wait for). Arms alternate within each round; the
medians give trainings per hour, 2 nodes vs 1 (issue 13's floor: >= 1.8x) and this code vs
`--before` (issue 27's floor: >= 1.3x). Both nodes are on this machine, so two nodes also means
two of its two cores.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NODES_FLOOR = 1.8
WARM_FLOOR = 1.3
PROBE = dict(limit=600, validation_size=0, batch_size=32, epochs=1)


def arm(nodes: int, preset: str, runs: int, epochs: int) -> dict:
    """One cluster of `nodes` worker nodes: seconds to first batch, seconds for `runs` runs."""
    import services

    from mnist_app.engine.config import RunConfig
    from mnist_app.engine.presets import PRESETS
    from mnist_app.runs.cluster import ClusterManager
    from mnist_app.runs.store import RunStore

    config = PRESETS[preset].replace(epochs=epochs)
    with services.postgres_server() as server, services.ray_cluster(workers=nodes) as cluster:
        url = services.new_database(server.url, "bench")
        manager = ClusterManager(RunStore(tempfile.mkdtemp(), url=url), cluster.address)
        _wait_for_trainers(manager)
        first_batch = [_first_batch(manager, RunConfig(**PROBE)) for _ in range(3)]
        began = time.perf_counter()
        ids = [manager.submit(config, preset) for _ in range(runs)]
        done = [manager.wait(run_id) for run_id in ids]
        seconds = time.perf_counter() - began
    return {
        "nodes": nodes,
        "seconds": seconds,
        "first_batch": first_batch,
        "statuses": sorted({str(run.status) for run in done}),
        "accuracies": [run.test_accuracy for run in done],
        "train_seconds": [run.train_seconds for run in done],
    }


def _wait_for_trainers(manager) -> None:
    """Until every warm trainer answers (none with code that starts an actor per run)."""
    pool = getattr(manager, "trainers", None)
    deadline = time.monotonic() + 300
    while pool is not None and not pool.ready(timeout=5):
        if time.monotonic() > deadline:
            sys.exit("the warm trainers did not start within 300 s")
        time.sleep(0.5)


def _first_batch(manager, config) -> float:
    """Seconds from submitting a run on an idle cluster to its first batch's samples."""
    began = time.perf_counter()
    run_id = manager.submit(config, "probe")
    while True:
        snapshot = manager.snapshot(run_id)
        if snapshot is not None and (snapshot.samples_seen > 0 or not snapshot.status.active):
            seconds = time.perf_counter() - began
            break
        time.sleep(0.02)
    manager.wait(run_id)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="chollet-512")
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--epochs", type=int, help="epochs per run (default: the preset's)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--nodes", default="1,2", help="worker node counts to compare")
    parser.add_argument("--before", type=Path, help="an older checkout to compare with")
    parser.add_argument("--arm", type=int, help=argparse.SUPPRESS)  # one arm, in its own process
    parser.add_argument("--code", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path[:0] = [str(args.code), str(ROOT / "tests")]
    from mnist_app.engine.presets import PRESETS

    args.epochs = args.epochs or PRESETS[args.preset].epochs
    if args.arm:
        print(json.dumps(arm(args.arm, args.preset, args.runs, args.epochs)))
        return
    nodes_list = [int(n) for n in args.nodes.split(",")]
    codes = {"now": ROOT, **({"before": args.before.resolve()} if args.before else {})}
    print(f"{args.runs} runs of {args.preset} ({args.epochs} epoch(s) each) submitted at once; "
          f"worker nodes of 1 CPU; {args.rounds} alternating rounds; code: "
          + ", ".join(f"{name} {path}" for name, path in codes.items()))  # fmt: skip
    seconds: dict[tuple[str, int], list[float]] = {}
    starts: dict[tuple[str, int], list[float]] = {}
    for round_ in range(1, args.rounds + 1):
        for code, path in codes.items():
            for nodes in nodes_list:
                done = subprocess.run(
                    [sys.executable, __file__, "--arm", str(nodes), "--preset", args.preset,
                     "--runs", str(args.runs), "--epochs", str(args.epochs), "--code", str(path)],
                    capture_output=True, text=True, cwd=path,
                )  # fmt: skip
                if done.returncode != 0:
                    sys.exit(f"the {code} {nodes}-node arm failed:\n{done.stderr[-3000:]}")
                result = json.loads(done.stdout.strip().splitlines()[-1])
                seconds.setdefault((code, nodes), []).append(result["seconds"])
                starts.setdefault((code, nodes), []).extend(result["first_batch"])
                accuracies = ", ".join(f"{a:.4f}" for a in result["accuracies"])
                train = statistics.median(result["train_seconds"])
                first = ", ".join(f"{s:.2f}" for s in result["first_batch"])
                print(f"round {round_}, {code}, {nodes} node(s): {result['seconds']:.1f} s for "
                      f"{args.runs} runs ({args.runs / result['seconds'] * 3600:.0f} trainings/"
                      f"hour); submit -> first batch {first} s; {'/'.join(result['statuses'])}; "
                      f"median training {train:.1f} s; test accuracy {accuracies}",
                      flush=True)  # fmt: skip
    rate = {key: args.runs / statistics.median(s) * 3600 for key, s in seconds.items()}
    for (code, nodes), value in rate.items():
        start = statistics.median(starts[(code, nodes)])
        print(
            f"median, {code}, {nodes} node(s): {value:.0f} trainings/hour; submit -> first "
            f"batch {start:.2f} s"
        )
    if {1, 2} <= set(nodes_list):
        scaling = rate[("now", 2)] / rate[("now", 1)]
        print(
            f"scaling 2 nodes / 1 node: {scaling:.2f}x "
            f"({'meets' if scaling >= NODES_FLOOR else 'misses'} the {NODES_FLOOR}x floor)"
        )
    if args.before:
        for nodes in nodes_list:
            gain = rate[("now", nodes)] / rate[("before", nodes)]
            print(
                f"{nodes} node(s), now / before: {gain:.2f}x trainings per hour "
                f"({'meets' if gain >= WARM_FLOOR else 'misses'} the {WARM_FLOOR}x floor)"
            )


if __name__ == "__main__":
    main()
