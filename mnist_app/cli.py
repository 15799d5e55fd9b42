"""Command line: train, list runs, reproduce the course notebooks."""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from mnist_app.config import CHOICES, PRESET_INFO, PRESETS, ConfigError, RunConfig
from mnist_app.status import RunStatus

if TYPE_CHECKING:
    from mnist_app.store import Run, UnreadableRun
    from mnist_app.training import Snapshot

BAR_WIDTH = 28


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m mnist_app`."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mnist_app", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="command")

    train = commands.add_parser("train", help="train one network and print its test accuracy")
    train.add_argument("--preset", choices=sorted(PRESETS), help="start from a course preset")
    _add_config_flags(train)
    train.add_argument("--json", action="store_true", help="print the result as JSON last")
    train.add_argument(
        "--export", metavar="FILE.keras", help="also copy the model there, with a .json card"
    )
    train.set_defaults(handler=_train_command)

    runs = commands.add_parser("runs", help="list stored runs, newest first")
    runs.add_argument("--status", choices=list(RunStatus), help="only runs with this status")
    runs.add_argument("--json", action="store_true")
    runs.set_defaults(handler=_runs_command)

    reproduce = commands.add_parser("reproduce", help="train every preset: reported vs ours")
    reproduce.add_argument("--presets", help="comma-separated slugs (default: all)")
    reproduce.add_argument("--limit", type=int, help="train on the first N images only")
    reproduce.add_argument("--epochs", type=int, help="override every preset's epochs")
    reproduce.add_argument("--json", action="store_true")
    reproduce.set_defaults(handler=_reproduce_command)
    return parser


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per RunConfig field, e.g. --learning-rate 0.01, --augment / --no-augment."""
    for f in dataclasses.fields(RunConfig):
        flag = "--" + f.name.replace("_", "-")
        if f.type == "bool":
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None)
        elif f.name in CHOICES:
            parser.add_argument(flag, choices=CHOICES[f.name], default=None)
        else:
            kind = {"int": int, "float": float}.get(f.type, str)
            parser.add_argument(flag, type=kind, default=None, metavar=f.name.upper())


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """The preset (or the defaults) with every flag given on the command line applied."""
    base = PRESETS[args.preset] if args.preset else RunConfig()
    changes = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(RunConfig)
        if getattr(args, f.name, None) is not None
    }
    return base.replace(**changes)


def _train_command(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    reported = PRESET_INFO[args.preset].reported_accuracy if args.preset else None
    outcome = run_with_progress(config, args.preset, quiet=args.json)
    if RunStatus(outcome["status"]).scored and args.export:
        export_model(outcome, Path(args.export), sys.argv)
    if args.json:
        print(json.dumps(outcome))
    else:
        print(_summary_line(outcome, reported))
    return 0 if RunStatus(outcome["status"]).scored else 1


def run_with_progress(config: RunConfig, preset: str | None, quiet: bool = False) -> dict:
    """Train through the shared manager (as the pages do), showing progress on stderr.

    On a terminal a progress bar redraws in place; into a file or a pipe (CI, nohup) one line per
    finished epoch, so a log does not fill with redrawn bars.
    """
    from mnist_app.jobs import shared_manager

    manager = shared_manager()
    run_id = manager.submit(config, preset)
    job = manager.job(run_id)
    interactive = sys.stderr.isatty()
    logged = 0  # epochs already written as lines
    try:
        while not job.done.wait(0.25):
            if not quiet:
                logged = _show_progress(job.progress.snapshot(batches=False), interactive, logged)
    except KeyboardInterrupt:
        print("\nstopping after this batch…", file=sys.stderr)
        manager.stop(run_id)
        job.done.wait()
    if not quiet:
        _show_progress(job.progress.snapshot(batches=False), interactive, logged)
        if interactive:
            print(file=sys.stderr)
    run = manager.store.get(run_id)
    return {
        "run_id": run_id,
        "preset": preset,
        "status": str(run.status),
        "test_accuracy": run.test_accuracy,
        "test_loss": run.test_loss,
        "epochs": len(run.history),
        "seconds": run.train_seconds,
        "model_path": run.model_path,
        "message": run.summary_message,
        "config": config.to_dict(),
    }


def _show_progress(snap: Snapshot, interactive: bool, logged: int) -> int:
    """Redraw the bar, or write the epochs finished since the last call; epochs now written."""
    if interactive:
        _draw_bar(snap)
        return logged
    for record in snap.history[logged:]:
        parts = [
            f"epoch {record['epoch']}/{snap.epochs}",
            f"loss {_number(record['loss'])}",  # None when the loss blew up
            f"acc {_number(record['accuracy'])}",
        ]
        if record.get("val_accuracy") is not None:
            parts.append(f"val_acc {_number(record['val_accuracy'])}")
        parts.append(f"{snap.samples_per_second:,.0f} img/s")
        print("  ".join(parts), file=sys.stderr, flush=True)
    return len(snap.history)


def _number(value: float | None) -> str:
    return "nan" if value is None else f"{value:.4f}"


def _draw_bar(snap: Snapshot) -> None:
    done = snap.fraction_done
    filled = int(done * BAR_WIDTH)
    bar = "█" * filled + "·" * (BAR_WIDTH - filled)
    eta = snap.eta_seconds
    last = snap.history[-1] if snap.history else {}
    parts = [
        f"\r{snap.status:<8} [{bar}] {done:4.0%}",
        f"epoch {min(snap.epoch + 1, snap.epochs)}/{snap.epochs}",
        f"batch {snap.batch}/{snap.batches_per_epoch}",
        f"{snap.samples_per_second:,.0f} img/s",
        f"ETA {eta:4.0f}s" if eta is not None else "ETA    ?",
    ]
    if last.get("accuracy") is not None:
        parts.append(f"acc {last['accuracy']:.4f}")
    if snap.queue_position:
        parts = [f"\rqueued: position {snap.queue_position}"]
    print("  ".join(parts), end="", file=sys.stderr, flush=True)


def _summary_line(outcome: dict, reported: float | None) -> str:
    if outcome["test_accuracy"] is None:
        return f"{outcome['status']}: {outcome['message']}"
    line = (
        f"{outcome['status']}: test accuracy {outcome['test_accuracy']:.2%} "
        f"(loss {outcome['test_loss']:.4f}) after {outcome['epochs']} epochs "
        f"in {outcome['seconds']:.1f}s"
    )
    if reported is not None:
        line += f" — the notebook reported {reported:.2%}"
    return line + f"  [run {outcome['run_id']}]"


def export_model(outcome: dict, target: Path, argv: list[str]) -> Path:
    """Copy a run's model to `target` and write its card (config, accuracy, time, command)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(outcome["model_path"], target)
    card = {
        "model": target.name,
        "config": outcome["config"],
        "preset": outcome["preset"],
        "test_accuracy": outcome["test_accuracy"],
        "test_loss": outcome["test_loss"],
        "epochs": outcome["epochs"],
        "train_seconds": round(outcome["seconds"], 1),
        "trained_on": datetime.now(UTC).strftime("%Y-%m-%d"),
        "command": "python -m mnist_app " + " ".join(argv[1:]),
    }
    card_path = target.with_suffix(".json")
    card_path.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    return card_path


def _runs_command(args: argparse.Namespace) -> int:
    from mnist_app.store import RunStore, UnreadableRun

    store = RunStore()
    store.mark_interrupted()
    rows = store.rows(status=RunStatus(args.status) if args.status else None)
    if args.json:
        print(json.dumps([_run_json(row) for row in rows]))
        return 0
    print(f"{'run':<13}{'when':<17}{'status':<12}{'preset':<15}{'epochs':>6}{'test acc':>10}")
    for run in rows:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(run.created_at))
        if isinstance(run, UnreadableRun):
            print(f"{run.id:<13}{when:<17}{'unreadable':<12}{run.reason}")
            continue
        acc = f"{run.test_accuracy:.2%}" if run.test_accuracy is not None else "—"
        print(
            f"{run.id:<13}{when:<17}{run.status:<12}{run.preset or '—':<15}"
            f"{len(run.history):>6}{acc:>10}"
        )
    return 0


def _run_json(run: Run | UnreadableRun) -> dict:
    if isinstance(run, UnreadableRun):
        return {"id": run.id, "created_at": run.created_at, "status": "unreadable",
                "message": run.reason}  # fmt: skip
    fields = {f.name: getattr(run, f.name) for f in dataclasses.fields(run)}
    return fields | {"status": str(run.status), "config": run.config.to_dict()}


def _reproduce_command(args: argparse.Namespace) -> int:
    slugs = (
        args.presets.split(",")
        if args.presets
        else [slug for slug, p in PRESET_INFO.items() if p.reported_accuracy is not None]
    )
    unknown = [s for s in slugs if s not in PRESETS]
    if unknown:
        print(f"error: unknown preset(s) {', '.join(unknown)}", file=sys.stderr)
        return 2
    rows = []
    for slug in slugs:
        changes = {k: v for k, v in (("limit", args.limit), ("epochs", args.epochs)) if v}
        config = PRESETS[slug].replace(**changes)
        print(f"{slug}:", file=sys.stderr)
        outcome = run_with_progress(config, slug, quiet=args.json)
        rows.append({**outcome, "reported_accuracy": PRESET_INFO[slug].reported_accuracy})
    if args.json:
        print(json.dumps(rows))
        return 0
    print(f"\n{'preset':<16}{'reported':>10}{'ours':>10}{'epochs':>8}{'seconds':>9}  status")
    for row in rows:
        ours = f"{row['test_accuracy']:.2%}" if row["test_accuracy"] is not None else "—"
        reported = f"{row['reported_accuracy']:.2%}"
        print(
            f"{row['preset']:<16}{reported:>10}{ours:>10}{row['epochs']:>8}"
            f"{row['seconds'] or 0:>9.1f}  {row['status']}"
        )
    return 0
