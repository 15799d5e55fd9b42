"""Continuing a run: which runs can be, what the continued run trains, and whether the
checkpoint it starts from is whole. Both managers continue runs this way."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from mnist_app.engine.config import RANGES, ConfigError, RunConfig
from mnist_app.engine.status import RunStatus
from mnist_app.runs.store import RunInUseError, RunStore

if TYPE_CHECKING:  # mnist_app.engine.training imports TensorFlow (~3 s): only once a run starts
    from mnist_app.engine.training import Start

CONTINUABLE = (RunStatus.STOPPED, RunStatus.INTERRUPTED, RunStatus.FINISHED)


def continuation(
    store: RunStore, run_id: str, more_epochs: int, is_active: Callable[[str], bool]
) -> tuple[RunConfig, str | None, Start]:
    """What continuing a run for `more_epochs` epochs trains: (config, preset, where it starts).

    ConfigError names what is wrong: no such run, one that cannot be continued (training,
    diverged, failed or without a saved model), or too many epochs in all.
    """
    run = store.get(run_id)
    if run is None:
        raise ConfigError("run", f"there is no run {run_id}")
    if run.status.active or is_active(run_id):
        raise ConfigError("run", str(RunInUseError(run_id)), reason="in_use")
    path = store.model_file(run_id)
    if run.status not in CONTINUABLE or not run.history or path is None:
        raise ConfigError(
            "run",
            f"run {run_id} is {run.status} with {len(run.history)} epochs and "
            f"{'no' if path is None else 'a'} saved model: only a stopped, interrupted or "
            "finished run with a saved model can be continued",
            reason="not_continuable",
        )
    problem = checkpoint_problem(path)
    if problem is not None:  # found now, before a run is made that could only fail
        raise ConfigError(
            "run",
            f"run {run_id}'s checkpoint {path} is broken ({problem}): it cannot be continued; "
            "train the run again",
            reason="broken_checkpoint",
            path=str(path),
        )
    low, high = RANGES["epochs"]
    total = len(run.history) + more_epochs
    if not isinstance(more_epochs, int) or more_epochs < 1 or total > high:
        raise ConfigError(
            "epochs",
            f"{more_epochs!r} more epochs: give 1..{int(high) - len(run.history)} "
            f"(the run has {len(run.history)}, and a run has at most {int(high)})",
        )
    from mnist_app.engine.training import Start

    return run.config.replace(epochs=total), run.preset, Start(path, run.history)


def checkpoint_problem(path: Path) -> str | None:
    """What is wrong with a saved .keras model (a zip of its config and weights), or None:
    checked whole (every member's checksum) without loading TensorFlow."""
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
            names = set(archive.namelist())
    except (OSError, zipfile.BadZipFile, EOFError, ValueError) as error:
        return f"not a whole .keras file: {error}"
    if damaged is not None:
        return f"{damaged} inside it is damaged"
    missing = {"config.json", "model.weights.h5"} - names
    if missing:
        return f"not a Keras model: no {', '.join(sorted(missing))} inside it"
    return None
