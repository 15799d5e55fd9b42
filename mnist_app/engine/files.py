"""Files written whole or not at all: a crash leaves the old file or none, never half of one."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

TEMP_PREFIX = ".saving-"  # a model file being written: renamed into place when whole


def write_atomically(path: Path, write: Callable[[Path], object]) -> Path:
    """Call `write(temporary)` beside `path`, then rename the result over `path`.

    A crash in between leaves only a hidden temporary file, which
    `RunStore.remove_stale_temporaries` clears; `path` itself is never half-written.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=path.parent, prefix=f"{TEMP_PREFIX}{path.stem}-", suffix=path.suffix
    )
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
