"""Files written where a user said (`export --csv`, `code --notebook`, `train --export`), and a
run's history as CSV (`export --csv`, the Runs page's download).

They are written beside the target and renamed over it, so a kill mid-write leaves no half file;
but a rename replaces whatever the name held. So a name that is a symbolic link, a device (as
/dev/null) or anything but a regular file is refused, and the file gets the permissions a plain
`open()` would give it: the old file's, else those the umask allows (mkstemp's are 0600).
"""

from __future__ import annotations

import csv
import io
import os
import stat
from collections.abc import Callable
from pathlib import Path

from mnist_app.engine.files import write_atomically
from mnist_app.runs.run import Run

CSV_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "seconds")


class ExportTargetError(OSError):
    """A user-named path the export must not replace; the message says what is there."""


def check_export_target(path: Path) -> None:
    """ExportTargetError if `path` is a symbolic link or names something but a regular file."""
    if path.is_symlink():
        raise ExportTargetError(
            f"{path} is a symbolic link: give the file's own name, or a new one"
        )
    if path.exists() and not path.is_file():
        kind = "a folder" if path.is_dir() else "not a regular file (a device, a pipe or a socket)"
        raise ExportTargetError(f"{path} is {kind}; give a file name")


def write_export(path: Path, write: Callable[[Path], object]) -> Path:
    """Call `write(temporary)` and rename the result over `path`, a user-named file, with the
    permissions `open()` would give it; ExportTargetError if `path` must not be replaced."""
    check_export_target(path)
    mode = stat.S_IMODE(path.stat().st_mode) if path.is_file() else 0o666 & ~_umask()

    def write_with_mode(temporary: Path) -> None:
        write(temporary)
        os.chmod(temporary, mode)

    return write_atomically(path, write_with_mode)


def _umask() -> int:
    mask = os.umask(0o022)  # the only way to read it is to set it: put it straight back
    os.umask(mask)
    return mask


def history_csv(run: Run) -> str:
    """A run's per-epoch history as CSV: epoch, losses, accuracies, learning rate, seconds."""
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for record in run.history:
        row = {k: getattr(record, k) for k in CSV_COLUMNS}
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return out.getvalue()
