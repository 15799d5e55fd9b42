"""The command line's experiments: sweep, resume, compare, delete, export.

Each drives the same engine as the pages (mnist_app.experiments.sweeps, the shared training manager,
the run store) and speaks the same JSON as `train --json`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from mnist_app.cli.run_json import run_json
from mnist_app.cli.shared import (
    INTERRUPTED_EXIT,
    add_config_flags,
    checked_run_id,
    config_from_args,
    follow_run,
    stored_run,
    training_manager,
)
from mnist_app.cli.terminal import compare_table, sweep_table, table_console
from mnist_app.engine.config import ConfigError, RunConfig
from mnist_app.engine.status import RunStatus
from mnist_app.experiments.sweeps import (
    MAX_COMPARE,
    Sweep,
    differing_fields,
    parse_vary,
    run_name,
    setting_text,
    start_sweep,
)
from mnist_app.runs.exports import history_csv
from mnist_app.runs.run import summary_line
from mnist_app.runs.store import RunInUseError, RunStore

if TYPE_CHECKING:
    from mnist_app.runs.managers import RunManager


def add_experiment_commands(commands) -> None:
    """Add the experiment commands to the CLI's subparsers."""
    sweep = commands.add_parser("sweep", help="train one run per value of one or two settings")
    sweep.add_argument("--preset", help="start from a course preset")
    add_config_flags(sweep)
    sweep.add_argument(
        "--vary",
        action="append",
        required=True,
        metavar="FIELD=V1,V2,...",
        help="a setting and its values, e.g. learning_rate=0.0001,0.001,0.02 (twice for a grid)",
    )
    sweep.add_argument("--repeats", type=int, default=1, help="runs per value, seeds 1 apart")
    sweep.add_argument("--json", action="store_true", help="print the result as JSON last")
    sweep.set_defaults(handler=sweep_command)

    resume = commands.add_parser("resume", help="continue a run for more epochs")
    resume.add_argument("run_id")
    resume.add_argument("--epochs", type=int, required=True, help="how many more epochs")
    resume.add_argument("--json", action="store_true")
    resume.set_defaults(handler=resume_command)

    compare = commands.add_parser("compare", help="runs side by side: what differs, what scored")
    compare.add_argument("run_ids", nargs="+", metavar="RUN_ID")
    compare.add_argument("--json", action="store_true")
    compare.set_defaults(handler=compare_command)

    delete = commands.add_parser("delete", help="delete a run and its model file")
    delete.add_argument("run_id")
    delete.set_defaults(handler=delete_command)

    export = commands.add_parser("export", help="write a run's per-epoch history as CSV")
    export.add_argument("run_id")
    export.add_argument("--csv", required=True, metavar="FILE", help="where to write it")
    export.set_defaults(handler=export_command)


def sweep_from_args(args: argparse.Namespace, base: RunConfig) -> Sweep:
    """The sweep the flags describe; ConfigError (exit 2) names a bad field or value."""
    sweep = Sweep(base, tuple(parse_vary(text) for text in args.vary), args.repeats, args.preset)
    sweep.configs()  # every run checked before anything trains
    return sweep


def sweep_command(args: argparse.Namespace) -> int:
    sweep = sweep_from_args(args, config_from_args(args))
    manager = training_manager()
    sweep_id = start_sweep(manager, sweep)
    run_ids = [run.id for run in manager.store.sweep_runs(sweep_id)]
    print(f"sweep {sweep_id}: {len(run_ids)} runs", file=sys.stderr)
    try:
        _follow_sweep(manager, sweep, run_ids, quiet=args.json)
    except KeyboardInterrupt:
        print("stopping the sweep after this batch…", file=sys.stderr)
        for run_id in run_ids:
            manager.stop(run_id)
        for run_id in run_ids:
            manager.wait(run_id)
        return INTERRUPTED_EXIT
    runs = [manager.store.get(run_id) for run_id in run_ids]
    if args.json:
        print(json.dumps({"sweep_id": sweep_id, "runs": [run_json(run) for run in runs]}))
    else:
        table_console().print(sweep_table(runs, list(sweep.fields)))
    return 0 if any(run.status.scored for run in runs) else 1


def _follow_sweep(manager: RunManager, sweep: Sweep, run_ids: list[str], quiet: bool):
    """Wait for each run in turn, a line on stderr as each ends."""
    for number, run_id in enumerate(run_ids, start=1):
        manager.wait(run_id)
        if quiet:
            continue
        run = manager.store.get(run_id)
        values = ", ".join(setting_text(f, getattr(run.config, f)) for f in sweep.fields)
        score = f" {run.test_accuracy:.2%}" if run.test_accuracy is not None else ""
        print(f"[{number}/{len(run_ids)}] {values}: {run.status}{score}", file=sys.stderr)


def resume_command(args: argparse.Namespace) -> int:
    manager = training_manager()
    run_id = manager.continue_run(checked_run_id(args.run_id), args.epochs)
    outcome = follow_run(manager, run_id, args.json)  # its "parent" is args.run_id
    if args.json:
        print(json.dumps(outcome))
    else:
        score = outcome["test_accuracy"]
        result = (
            f"test accuracy {score:.2%}" if score is not None else summary_line(outcome["message"])
        )
        print(
            f"{outcome['status']}: {result} after {outcome['epochs']} epochs in all "
            f"[run {run_id}, continuing {args.run_id}]"
        )
    return 0 if RunStatus(outcome["status"]).scored else 1


def compare_command(args: argparse.Namespace) -> int:
    store = RunStore()
    ids = list(dict.fromkeys(args.run_ids))  # the same run twice counts once
    if not 2 <= len(ids) <= MAX_COMPARE:
        raise ConfigError("run_ids", f"compare 2 to {MAX_COMPARE} different runs, not {len(ids)}")
    runs = [stored_run(store, run_id) for run_id in ids]
    differing = differing_fields([run.config for run in runs])
    if args.json:
        rows = [run_json(run) | {"name": run_name(run, differing)} for run in runs]
        print(json.dumps({"differing": differing, "runs": rows}))
    else:
        table_console().print(compare_table(runs, differing))
    return 0


def delete_command(args: argparse.Namespace) -> int:
    store = RunStore()
    run_id = checked_run_id(args.run_id)
    try:
        deleted = store.delete(run_id)
    except RunInUseError as error:
        raise ConfigError("run_id", str(error)) from None
    if not deleted:
        raise ConfigError("run_id", f"there is no run {run_id}")
    print(f"deleted run {run_id} and its model file")
    return 0


def export_command(args: argparse.Namespace) -> int:
    from mnist_app.runs.exports import ExportTargetError, write_export

    run = stored_run(RunStore(), args.run_id)
    target = Path(args.csv)
    try:
        text = history_csv(run)
        write_export(target, lambda temporary: temporary.write_text(text, encoding="utf-8"))
    except ExportTargetError as error:
        raise ConfigError("--csv", str(error)) from None
    except OSError as error:
        raise ConfigError("--csv", f"cannot write {target} ({error})") from None
    print(f"wrote {len(run.history)} epochs of run {run.id} to {target}")
    return 0
