"""Trainings per hour for a class submitting the same preset, on a Ray cluster of 1 vs 2 nodes.

Usage: python bench/cluster_scaling.py [--preset chollet-512] [--runs 6] [--epochs N] [--rounds 2]

Each arm starts, in a process of its own, a real local Ray cluster (a head with no CPUs and N
worker nodes of one CPU each) and a real PostgreSQL, submits `--runs` runs of the preset at
once through the ClusterManager, as a class pressing Start together would, and times from the
first submit to the last run finished: actor start-up, TensorFlow's import, data loading,
training, evaluation and saving to the database all count. Arms alternate (1, 2, 1, 2, ...);
the medians give trainings per hour and the scaling efficiency (issue 13's floor: 2 nodes
>= 1.8x one). Both nodes are on this machine, so two nodes also means two of its two cores.
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
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

FLOOR = 1.8


def arm(nodes: int, preset: str, runs: int, epochs: int) -> dict:
    """One cluster of `nodes` worker nodes: seconds for `runs` runs, and their accuracies."""
    import services

    from mnist_app.engine.config import PRESETS
    from mnist_app.runs.cluster import ClusterManager
    from mnist_app.runs.store import RunStore

    config = PRESETS[preset].replace(epochs=epochs)
    with services.postgres_server() as server, services.ray_cluster(workers=nodes) as cluster:
        url = services.new_database(server.url, "bench")
        manager = ClusterManager(RunStore(tempfile.mkdtemp(), url=url), cluster.address)
        began = time.perf_counter()
        ids = [manager.submit(config, preset) for _ in range(runs)]
        done = [manager.wait(run_id) for run_id in ids]
        seconds = time.perf_counter() - began
    return {
        "nodes": nodes,
        "seconds": seconds,
        "statuses": sorted({str(run.status) for run in done}),
        "accuracies": [run.test_accuracy for run in done],
        "train_seconds": [run.train_seconds for run in done],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="chollet-512")
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--epochs", type=int, help="epochs per run (default: the preset's)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--arm", type=int, help=argparse.SUPPRESS)  # one arm, in its own process
    args = parser.parse_args()
    from mnist_app.engine.config import PRESETS

    args.epochs = args.epochs or PRESETS[args.preset].epochs
    if args.arm:
        print(json.dumps(arm(args.arm, args.preset, args.runs, args.epochs)))
        return
    print(f"{args.runs} runs of {args.preset} ({args.epochs} epoch(s) each) submitted at once; "
          f"worker nodes of 1 CPU; {args.rounds} alternating rounds")  # fmt: skip
    seconds: dict[int, list[float]] = {1: [], 2: []}
    for round_ in range(1, args.rounds + 1):
        for nodes in (1, 2):
            done = subprocess.run(
                [sys.executable, __file__, "--arm", str(nodes), "--preset", args.preset,
                 "--runs", str(args.runs), "--epochs", str(args.epochs)],
                capture_output=True, text=True, cwd=ROOT,
            )  # fmt: skip
            if done.returncode != 0:
                sys.exit(f"the {nodes}-node arm failed:\n{done.stderr[-3000:]}")
            result = json.loads(done.stdout.strip().splitlines()[-1])
            seconds[nodes].append(result["seconds"])
            accuracies = ", ".join(f"{a:.4f}" for a in result["accuracies"])
            train = statistics.median(result["train_seconds"])
            print(f"round {round_}, {nodes} node(s): {result['seconds']:.1f} s for {args.runs} "
                  f"runs ({args.runs / result['seconds'] * 3600:.0f} trainings/hour); "
                  f"{'/'.join(result['statuses'])}; median training {train:.1f} s; "
                  f"test accuracy {accuracies}", flush=True)  # fmt: skip
    rate = {nodes: args.runs / statistics.median(s) * 3600 for nodes, s in seconds.items()}
    scaling = rate[2] / rate[1]
    print(f"median trainings per hour: 1 node {rate[1]:.0f}, 2 nodes {rate[2]:.0f}")
    print(f"scaling 2 nodes / 1 node: {scaling:.2f}x "
          f"({'meets' if scaling >= FLOOR else 'misses'} the {FLOOR}x floor)")  # fmt: skip


if __name__ == "__main__":
    main()
