"""Each run's saved model as kept: a .keras file under the data directory, and on a shared
database a copy in it for every other machine (one part of the run store)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import sqlalchemy as sa

from mnist_app.engine.files import TEMP_PREFIX, write_atomically
from mnist_app.runs.database import StorePart, model_files, runs


class ModelFiles(StorePart):
    """A RunStore's model files."""

    models_dir: Path  # where this machine keeps them (set by RunStore.__init__)
    shares_models: bool  # whether the database keeps them too (a shared database)

    def model_path(self, run_id: str) -> Path:
        """Where this machine writes or reads a run's .keras file."""
        return self.models_dir / f"{run_id}.keras"

    def model_file(self, run_id: str) -> Path | None:
        """A run's saved model as a local file, or None if it has none.

        On a shared database the file is fetched from it when this machine has no copy or an
        older one; a local copy carries the saved time as its modification time.
        """
        path = self.model_path(run_id)
        if not self.shares_models:
            if path.is_file():
                return path
            # A run recorded with its model elsewhere (a store from before, a hand-made row).
            rows = self._read(sa.select(runs.c.model_path).where(runs.c.id == run_id))
            recorded = Path(rows[0].model_path) if rows and rows[0].model_path else None
            return recorded if recorded is not None and recorded.is_file() else None
        rows = self._read(sa.select(model_files.c.saved_at).where(model_files.c.run_id == run_id))
        if not rows:
            return None
        if path.is_file() and abs(path.stat().st_mtime - rows[0].saved_at) < 1e-3:
            return path
        rows = self._read(sa.select(model_files).where(model_files.c.run_id == run_id))
        if not rows:  # deleted meanwhile
            return None
        _write_file(path, rows[0].data, rows[0].saved_at)
        return path

    def publish_model(self, run_id: str) -> None:
        """On a shared database, put the run's model file there (or take it out if the run no
        longer has one, as after a divergence), for every other machine to read.

        Only the process that trains the run calls it: after each checkpoint and at the end.
        """
        if not self.shares_models:
            return
        path = self.model_path(run_id)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            self._write((model_files.delete().where(model_files.c.run_id == run_id), None))
            return
        saved_at = time.time()
        self._write(
            (model_files.delete().where(model_files.c.run_id == run_id), None),
            (
                model_files.insert(),
                dict(run_id=run_id, saved_at=saved_at, size=len(data), data=data),
            ),
        )
        os.utime(path, (saved_at, saved_at))  # this copy is the one stored

    def remove_local_model(self, run_id: str) -> None:
        """Delete this machine's copy of a run's model and any half-written one."""
        for path in [self.model_path(run_id), *self.models_dir.glob(f"{TEMP_PREFIX}{run_id}-*")]:
            path.unlink(missing_ok=True)

    def remove_stale_temporaries(self, older_than: float = 3600.0) -> int:
        """Delete half-written model files a killed process left behind; how many."""
        removed = 0
        for leftover in self.models_dir.glob(f"{TEMP_PREFIX}*.keras"):
            try:
                if time.time() - leftover.stat().st_mtime > older_than:
                    leftover.unlink()
                    removed += 1
            except OSError:
                pass  # another process just finished or removed it
        return removed


def _write_file(path: Path, data: bytes, modified: float) -> None:
    """Write `data` to `path` as a whole or not at all, with that modification time."""

    def write(temporary: Path) -> None:
        temporary.write_bytes(data)
        os.utime(temporary, (modified, modified))

    write_atomically(path, write)
