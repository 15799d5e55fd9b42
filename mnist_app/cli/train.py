"""The command line's `train`, `runs` and `reproduce`: train one network, list the stored runs,
train every course preset and set its accuracy beside the notebook's (or, with --lessons, every
lesson's values beside what its notebook printed: cli/lessons.py)."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

from mnist_app.cli.challenge import challenge_to_enter
from mnist_app.cli.lessons import ALL as ALL_LESSONS
from mnist_app.cli.lessons import reproduce_lessons
from mnist_app.cli.run_json import RunJson, run_json
from mnist_app.cli.shared import (
    FlagError,
    add_config_flags,
    config_from_args,
    follow_run,
    training_manager,
)
from mnist_app.cli.terminal import reproduce_table, runs_table, table_console
from mnist_app.engine.config import RANGES, ConfigError, RunConfig
from mnist_app.engine.presets import PRESET_INFO, PRESETS
from mnist_app.engine.status import RunStatus
from mnist_app.runs.challenges import ChallengeError, clean_nickname
from mnist_app.runs.exports import ExportTargetError, check_export_target, write_export
from mnist_app.runs.run import summary_line
from mnist_app.runs.store import RunStore


def add_train_commands(commands) -> None:
    """Add `train`, `runs` and `reproduce` to the CLI's subparsers."""
    train = commands.add_parser("train", help="train one network and print its test accuracy")
    train.add_argument("--preset", choices=sorted(PRESETS), help="start from a course preset")
    add_config_flags(train)
    train.add_argument("--json", action="store_true", help="print the result as JSON last")
    train.add_argument(
        "--export", metavar="FILE.keras", help="also copy the model there, with a .json card"
    )
    train.add_argument("--challenge", metavar="ID", help="enter this open class challenge")
    train.add_argument(
        "--nickname", default="", help="with --challenge: your name on its leaderboard"
    )
    train.set_defaults(handler=_train_command)

    runs = commands.add_parser("runs", help="list stored runs, newest first")
    statuses = [str(status) for status in RunStatus]  # plain words in argparse's messages
    runs.add_argument("--status", choices=statuses, help="only runs with this status")
    runs.add_argument("--json", action="store_true")
    runs.set_defaults(handler=_runs_command)

    reproduce = commands.add_parser("reproduce", help="train every preset: reported vs ours")
    reproduce.add_argument("--presets", help="comma-separated slugs (default: all)")
    reproduce.add_argument("--limit", type=int, help="train on the first N images only")
    reproduce.add_argument("--epochs", type=int, help="override every preset's epochs")
    reproduce.add_argument(
        "--lessons",
        nargs="?",
        const=ALL_LESSONS,
        metavar="ID,...",
        help="train the notebooks' lessons instead (all, or these ids): each value beside "
        "the figures the notebook printed",
    )
    reproduce.add_argument("--json", action="store_true")
    reproduce.set_defaults(handler=_reproduce_command)


def _train_command(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    target = export_target(args.export) if args.export is not None else None
    reported = PRESET_INFO[args.preset].reported_accuracy if args.preset else None
    entry = challenge_entry(args, config)
    if config.class_digits:  # a class set too small to split: refused before TensorFlow loads
        RunStore().class_drawings_for(config)
    outcome = run_with_progress(config, args.preset, quiet=args.json, challenge=entry)
    print(json.dumps(outcome) if args.json else _summary_line(outcome, reported))
    if not RunStatus(outcome["status"]).scored:
        return 1
    if target is not None:
        try:
            export_model(outcome, target, sys.argv)
        except OSError as error:  # checked before training, so something changed meanwhile
            print(
                f"error: --export: cannot write {target} ({error}); the model stays in the "
                f"run store at {outcome['model_path']}",
                file=sys.stderr,
            )
            return 2
    return 0


def export_target(text: str) -> Path:
    """The --export path, refused before any training if the model could not go there."""
    target = Path(text)
    if target.is_dir():
        raise FlagError("--export", f"{target} is a folder; give a file name ending in .keras")
    try:  # the model, and its card beside it
        check_export_target(target)
        check_export_target(target.with_suffix(".json"))
    except ExportTargetError as error:
        raise FlagError("--export", str(error)) from None
    if target.suffix != ".keras":
        raise FlagError(
            "--export",
            f"{target}: the model is saved as a .keras file; give a file name ending in .keras",
        )
    # The folder is made at export time; its nearest existing parent must allow that.
    existing = next(folder for folder in target.absolute().parents if folder.exists())
    if not existing.is_dir():
        raise FlagError("--export", f"cannot make the folder {target.parent}: {existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise FlagError("--export", f"cannot write into {existing}: permission denied")
    return target


def challenge_entry(args: argparse.Namespace, config: RunConfig) -> tuple[str, str] | None:
    """The open challenge --challenge names and the --nickname to enter under, checked before
    anything trains; None without --challenge."""
    if args.challenge is None:
        if args.nickname:
            raise FlagError("--nickname", "is the name on a challenge's board: add --challenge ID")
        return None
    try:
        nickname = clean_nickname(args.nickname)
    except ChallengeError as error:
        raise FlagError("--nickname", str(error)) from None
    return challenge_to_enter(RunStore(), args.challenge, config).id, nickname


def run_with_progress(
    config: RunConfig,
    preset: str | None,
    quiet: bool = False,
    challenge: tuple[str, str] | None = None,
) -> RunJson:
    """Train through the shared manager (as the pages do), showing progress on stderr; with
    `challenge` (its id, a nickname), the run enters that challenge."""
    manager = training_manager()
    run_id = manager.submit(config, preset)
    if challenge is not None:
        challenge_id, nickname = challenge
        manager.store.enter_challenge(challenge_id, run_id, nickname)
    return follow_run(manager, run_id, quiet)


def _summary_line(outcome: RunJson, reported: float | None) -> str:
    if outcome["test_accuracy"] is None:
        return f"{outcome['status']}: {summary_line(outcome['message'])}"
    line = (
        f"{outcome['status']}: test accuracy {outcome['test_accuracy']:.2%} "
        f"(loss {outcome['test_loss']:.4f}) after {outcome['epochs']} epochs "
        f"in {outcome['seconds']:.1f}s"
    )
    if reported is not None:
        line += f" — the notebook reported {reported:.2%}"
    return line + f"  [run {outcome['run_id']}]"


def export_model(outcome: RunJson, target: Path, argv: list[str]) -> Path:
    """Copy a run's model to `target` and write its card (config, accuracy, time, command)."""
    # Beside the target first, then renamed: a kill mid-copy leaves no half model in models/.
    write_export(target, lambda temporary: shutil.copyfile(outcome["model_path"], temporary))
    card = {
        "model": target.name,
        "config": outcome["config"],
        "preset": outcome["preset"],
        "test_accuracy": outcome["test_accuracy"],
        "test_loss": outcome["test_loss"],
        "epochs": outcome["epochs"],
        "train_seconds": round(outcome["seconds"], 1),
        "trained_on": datetime.now(UTC).strftime("%Y-%m-%d"),
        # Quoted as a shell reads it: a --layers plan has spaces, and the card's command must run.
        "command": shlex.join(["python", "-m", "mnist_app", *argv[1:]]),
    }
    card_path = target.with_suffix(".json")
    text = json.dumps(card, indent=2) + "\n"
    write_export(card_path, lambda temporary: temporary.write_text(text, encoding="utf-8"))
    return card_path


def _runs_command(args: argparse.Namespace) -> int:
    store = RunStore()
    store.mark_interrupted()
    rows = store.rows(status=RunStatus(args.status) if args.status else None)
    if args.json:
        print(json.dumps([run_json(row) for row in rows]))
    else:
        table_console().print(runs_table(rows))
    return 0


def _reproduce_command(args: argparse.Namespace) -> int:
    changes = _override("limit", args.limit) | _override("epochs", args.epochs)
    if args.lessons is not None:
        if args.presets is not None:
            raise FlagError("--lessons", "give --presets or --lessons, not both")
        return reproduce_lessons(args.lessons, changes, args.json)
    slugs = preset_slugs(args.presets)
    configs = {slug: _preset_config(slug, changes) for slug in slugs}  # all checked first
    rows = []
    for slug, config in configs.items():
        print(f"{slug}:", file=sys.stderr)
        outcome = run_with_progress(config, slug, quiet=args.json)
        rows.append({**outcome, "reported_accuracy": PRESET_INFO[slug].reported_accuracy})
    if args.json:
        print(json.dumps(rows))
    else:
        table_console().print(reproduce_table(rows))
    return 0


def preset_slugs(text: str | None) -> list[str]:
    """The --presets list; not given: every preset with a figure reported by the course."""
    if text is None:
        return [slug for slug, p in PRESET_INFO.items() if p.reported_accuracy is not None]
    slugs = [slug.strip() for slug in text.split(",") if slug.strip()]
    known = ", ".join(PRESETS)
    if not slugs:
        raise FlagError("--presets", f"give at least one preset slug (known: {known})")
    unknown = [slug for slug in slugs if slug not in PRESETS]
    if unknown:
        raise FlagError("--presets", f"unknown preset(s) {', '.join(unknown)} (known: {known})")
    return slugs


def _preset_config(slug: str, changes: dict[str, int]) -> RunConfig:
    """A preset with --limit / --epochs applied; an error names the preset."""
    try:
        return PRESETS[slug].replace(**changes)
    except ConfigError as error:
        raise ConfigError(f"preset {slug}", str(error)) from None


def _override(name: str, value: int | None) -> dict[str, int]:
    """--limit or --epochs as a change to every preset; 0 is refused (--limit 0 means all)."""
    if value is None:
        return {}
    low, high = max(RANGES[name][0], 1), RANGES[name][1]
    if not low <= value <= high:
        raise FlagError(f"--{name}", f"{value} is outside the allowed range {low}..{high}")
    return {name: value}
