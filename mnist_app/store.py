"""The run store: every run's config, status, history and results in one SQLite file."""

from __future__ import annotations

import json
import os
import sqlite3
import time
import uuid
from contextlib import closing
from pathlib import Path

from mnist_app.config import RunConfig
from mnist_app.data import PROJECT_ROOT

# Run statuses, as stored and shown.
QUEUED, RUNNING, FINISHED, STOPPED, DIVERGED, FAILED, INTERRUPTED = (
    "queued",
    "running",
    "finished",
    "stopped",
    "diverged",
    "failed",
    "interrupted",
)
ACTIVE = (QUEUED, RUNNING)
HOME_ENV = "MNIST_LAB_HOME"  # data directory override

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    status TEXT NOT NULL,
    preset TEXT,
    config TEXT NOT NULL,
    history TEXT NOT NULL DEFAULT '[]',
    test_loss REAL,
    test_accuracy REAL,
    train_seconds REAL,
    model_path TEXT,
    message TEXT NOT NULL DEFAULT ''
)
"""
_COLUMNS = (
    "id",
    "created_at",
    "updated_at",
    "status",
    "preset",
    "config",
    "history",
    "test_loss",
    "test_accuracy",
    "train_seconds",
    "model_path",
    "message",
)


def data_dir() -> Path:
    """Where runs and their models live: $MNIST_LAB_HOME, else the project's runs/ folder."""
    return Path(os.environ.get(HOME_ENV) or PROJECT_ROOT / "runs")


class RunStore:
    """Runs in a SQLite file (WAL), one short connection per call so any thread may use it."""

    def __init__(self, directory: str | os.PathLike | None = None):
        self.directory = Path(directory) if directory else data_dir()
        self.models_dir = self.directory / "models"
        self.models_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / "runs.sqlite3"
        with closing(self._connect()) as db, db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30)
        db.row_factory = sqlite3.Row
        return db

    def mark_interrupted(self) -> int:
        """Runs left queued or running by a process that died are marked interrupted."""
        marks = ",".join("?" * len(ACTIVE))
        with closing(self._connect()) as db, db:
            cursor = db.execute(
                f"UPDATE runs SET status=?, updated_at=?, message=? WHERE status IN ({marks})",
                (
                    INTERRUPTED,
                    time.time(),
                    "The server stopped while this run was active.",
                    *ACTIVE,
                ),
            )
            return cursor.rowcount

    def create(self, config: RunConfig, status: str, preset: str | None = None) -> str:
        """Add a run and return its new id."""
        run_id = uuid.uuid4().hex[:12]
        now = time.time()
        with closing(self._connect()) as db, db:
            db.execute(
                "INSERT INTO runs (id, created_at, updated_at, status, preset, config) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (run_id, now, now, status, preset, json.dumps(config.to_dict())),
            )
        return run_id

    def update(self, run_id: str, **fields: object) -> None:
        """Change some columns of a run (history as a list; it is stored as JSON)."""
        unknown = set(fields) - set(_COLUMNS[3:])
        if unknown:
            raise ValueError(f"unknown run fields: {sorted(unknown)}")
        if "history" in fields:
            fields["history"] = json.dumps(fields["history"])
        fields["updated_at"] = time.time()
        assignments = ", ".join(f"{name}=?" for name in fields)
        with closing(self._connect()) as db, db:
            db.execute(f"UPDATE runs SET {assignments} WHERE id=?", (*fields.values(), run_id))

    def get(self, run_id: str) -> dict | None:
        """One run as a dict (config as a RunConfig), or None."""
        with closing(self._connect()) as db:
            row = db.execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone()
        return _decode(row) if row else None

    def list(self, status: str | None = None, limit: int = 200) -> list[dict]:
        """Newest runs first, optionally only those with one status."""
        query, args = "SELECT * FROM runs", ()
        if status:
            query, args = query + " WHERE status=?", (status,)
        with closing(self._connect()) as db:
            rows = db.execute(f"{query} ORDER BY created_at DESC LIMIT ?", (*args, limit))
            return [_decode(row) for row in rows.fetchall()]

    def model_path(self, run_id: str) -> Path:
        return self.models_dir / f"{run_id}.keras"


def _decode(row: sqlite3.Row) -> dict:
    run = dict(row)
    run["config"] = RunConfig.from_dict(json.loads(run["config"]))
    run["history"] = json.loads(run["history"])
    return run
