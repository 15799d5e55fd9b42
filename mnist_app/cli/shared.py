"""What the commands share: one flag per setting, following a run to its end (Ctrl-C stops
it), the shared training manager, and the stored run a command names."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from typing import TYPE_CHECKING, NoReturn

from mnist_app.cli.run_json import RunJson, run_json
from mnist_app.cli.terminal import QuietProgress, progress_display
from mnist_app.engine.config import CHOICES, ConfigError, RunConfig
from mnist_app.engine.presets import PRESETS
from mnist_app.engine.records import Outcome
from mnist_app.engine.status import RunStatus
from mnist_app.runs.store import ID_PATTERN, Run, RunStore, StoreError, UnreadableRunError

if TYPE_CHECKING:
    from mnist_app.runs.managers import RunManager

INTERRUPTED_EXIT = 130  # what shells report for a command ended by Ctrl-C (128 + SIGINT)


class FlagError(ValueError):
    """A command-line flag the command cannot use; the message names the flag."""

    def __init__(self, flag: str, message: str):
        super().__init__(f"{flag}: {message}")


def add_config_flags(parser: argparse.ArgumentParser) -> None:
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


def config_from_args(args: argparse.Namespace, base: RunConfig | None = None) -> RunConfig:
    """The base (else the preset, else the defaults) with every flag given applied."""
    base = base or (PRESETS[args.preset] if args.preset else RunConfig())
    changes = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(RunConfig)
        if getattr(args, f.name, None) is not None
    }
    return base.replace(**changes)


def training_manager() -> RunManager:
    """The shared manager, TensorFlow loaded first in this, the main, thread (the pages load it
    on the first run's thread). Only commands that train load it: `runs` or a bad flag answers
    at once, without TensorFlow's seconds of start-up and its log lines."""
    import mnist_app.engine.training  # noqa: F401
    from mnist_app.runs.managers import shared_manager

    return shared_manager()


def follow_run(manager: RunManager, run_id: str, quiet: bool = False) -> RunJson:
    """Show a queued run's progress on stderr until it ends; the run as `train --json` gives it.

    Ctrl-C stops the run after its batch and scores it. A second Ctrl-C while it stops records
    it as interrupted and ends the process at once, with exit code 130.
    """
    first = manager.snapshot(run_id)  # a continued run starts with its parent's epochs
    with progress_display(quiet) as display:
        display.start_after(first.epoch if first else 0)
        twice = _follow(manager, run_id, display)
    if twice and manager.store.get(run_id).status.active:
        _quit_interrupted(manager, run_id)
    run = _how_it_ended(manager, run_id)
    # This machine's copy of the model: on a class server the run may have trained on another
    # machine, whose path the run's row records (fetched from the shared database if need be).
    model = manager.store.model_file(run_id) if run.model_path else None
    return run_json(dataclasses.replace(run, model_path=str(model) if model is not None else None))


def _how_it_ended(manager: RunManager, run_id: str) -> Run:
    """The stored run: as stored, or with the status and message this process saw it end with
    when the store could not be told (a full disk; the next start marks it interrupted)."""
    try:
        run = manager.store.get(run_id)
    except StoreError as error:  # reading SQLite needs room on the disk too
        if manager.is_active(run_id):  # (a manager that reads the store raises here again)
            raise
        snap = manager.snapshot(run_id)  # this process trained it: as it saw the run end
        raise StoreError(f"run {run_id} {snap.status}: {snap.message} ({error})") from error
    if run.status.active and not manager.is_active(run_id):
        snap = manager.snapshot(run_id)  # it ended here, but the store could not be told
        return dataclasses.replace(run, status=snap.status, message=snap.message)
    return run


def _follow(manager: RunManager, run_id: str, display: QuietProgress) -> bool:
    """Show the run's progress until it ends; True if Ctrl-C came twice before it did."""
    try:
        _watch(manager, run_id, display)
    except KeyboardInterrupt:
        try:
            display.note("stopping after this batch… (Ctrl-C again to quit at once)")
            manager.stop(run_id)
            _watch(manager, run_id, display)
        except KeyboardInterrupt:
            return True
    display.show(manager.snapshot(run_id))
    return False


def _watch(manager: RunManager, run_id: str, display: QuietProgress) -> None:
    while manager.wait(run_id, 0.25) is None and manager.is_active(run_id):
        display.show(manager.snapshot(run_id))


def _quit_interrupted(manager: RunManager, run_id: str) -> NoReturn:
    """Record the run as interrupted (keeping its epochs) and end the process now."""
    snap = manager.snapshot(run_id)
    outcome = Outcome(
        RunStatus.INTERRUPTED,
        "Interrupted twice with Ctrl-C before it could stop.",
        history=snap.history,
        train_seconds=snap.train_seconds,
    )
    manager.store.record_outcome(run_id, outcome)
    print(f"interrupted: run {run_id} is recorded as interrupted", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    # Not sys.exit: while Python shut down, the training thread would finish its batch, score
    # the model and write "stopped" over this record.
    os._exit(INTERRUPTED_EXIT)


def checked_run_id(text: str, flag: str = "run_id") -> str:
    """The run id as typed; ConfigError (exit 2) if it is not one, under the flag that gave it."""
    if not ID_PATTERN.fullmatch(text):
        raise ConfigError(flag, f"{text!r} is not a run id (12 hex digits, see `runs`)")
    return text


def stored_run(store: RunStore, text: str, flag: str = "run_id") -> Run:
    """The stored run a command names; ConfigError (exit 2) names a malformed, unknown or
    unreadable id, under the flag that gave it."""
    run_id = checked_run_id(text, flag)
    try:
        run = store.get(run_id)
    except UnreadableRunError as error:
        raise ConfigError(flag, str(error)) from None
    if run is None:
        raise ConfigError(flag, f"there is no run {run_id}")
    return run
