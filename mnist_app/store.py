"""The run store: every run's config, status, history and results in one SQLite file."""

from __future__ import annotations

import json
import os
import re
import socket
import sqlite3
import time
import uuid
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from mnist_app.config import ConfigError, RunConfig
from mnist_app.data import PROJECT_ROOT
from mnist_app.status import ACTIVE, RunStatus

HOME_ENV = "MNIST_LAB_HOME"  # data directory override
# A process that trains runs beats for them every HEARTBEAT_SECONDS; a run whose last beat is
# older than STALE_SECONDS has lost its process (a crash, a kill -9, a machine that went down).
HEARTBEAT_SECONDS = 5.0
STALE_SECONDS = 60.0

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
# Columns added since the first version; an older store gets them on opening.
_ADDED_COLUMNS = {
    "owner": "TEXT",  # host:pid of the process that trains (or queued) the run
    "heartbeat_at": "REAL",
    "live": "TEXT NOT NULL DEFAULT '{}'",  # progress figures, for other processes to show
    "reason": "TEXT NOT NULL DEFAULT ''",  # why it ended so, as a word (e.g. "saturated")
    "label": "TEXT NOT NULL DEFAULT ''",  # the user's name for it
    "note": "TEXT NOT NULL DEFAULT ''",
    "parent": "TEXT",  # the run it continues (resume), if any
    "sweep_id": "TEXT",  # the sweep it belongs to, if any
    "precision": "TEXT NOT NULL DEFAULT ''",  # what it trained in: float32 or bfloat16
}
_SWEEPS = """
CREATE TABLE IF NOT EXISTS sweeps (
    id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    spec TEXT NOT NULL
)
"""
# Per epoch, each layer's weight histogram and gradient norm (mnist_app.weight_history).
_WEIGHT_STATS = """
CREATE TABLE IF NOT EXISTS weight_stats (
    run_id TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    payload TEXT NOT NULL,
    PRIMARY KEY (run_id, epoch)
)
"""
TEMP_PREFIX = ".saving-"  # a model file being written: renamed into place when whole
MAX_LABEL = 80  # characters
MAX_NOTE = 2000


class StoreError(RuntimeError):
    """The run store cannot be opened or written; the message says where and why."""


class RunInUseError(ValueError):
    """A run that is queued or training cannot be deleted or continued."""

    def __init__(self, run_id: str):
        super().__init__(f"run {run_id} is queued or training: stop it first")
        self.run_id = run_id


class UnreadableRunError(ValueError):
    """A stored run whose row no longer parses (an older or hand-edited row)."""

    def __init__(self, run_id: str, reason: str):
        super().__init__(f"run {run_id} is unreadable: {reason}")
        self.run_id = run_id
        self.reason = reason


@dataclass(frozen=True)
class Outcome:
    """How a run ended: what `RunStore.record_outcome` writes."""

    status: RunStatus
    message: str = ""
    reason: str = ""  # a word for a translated explanation, e.g. "saturated" for a divergence
    history: list[dict] = field(default_factory=list)
    test_loss: float | None = None
    test_accuracy: float | None = None
    train_seconds: float = 0.0  # first batch to last, pauses not counted
    model_path: str | None = None
    precision: str = ""  # what it trained in: "float32" or "bfloat16" ("" if it never began)


@dataclass(frozen=True)
class Run:
    """One stored run."""

    id: str
    created_at: float
    updated_at: float
    status: RunStatus
    preset: str | None
    config: RunConfig
    history: list[dict]
    test_loss: float | None
    test_accuracy: float | None
    train_seconds: float | None
    model_path: str | None
    message: str
    reason: str
    owner: str | None
    heartbeat_at: float | None
    live: dict  # the latest progress figures its process published (samples, batch, ...)
    label: str = ""
    note: str = ""
    parent: str | None = None
    sweep_id: str | None = None
    precision: str = ""  # "float32" or "bfloat16"; "" for runs from before it was recorded

    @property
    def summary_message(self) -> str:
        """The first line of the message (a failure's traceback follows it)."""
        return self.message.splitlines()[0] if self.message else ""


@dataclass(frozen=True)
class UnreadableRun:
    """A row that no longer parses: shown with its id and the reason, never used."""

    id: str
    created_at: float
    reason: str


def data_dir() -> Path:
    """Where runs and their models live: $MNIST_LAB_HOME, else the project's runs/ folder."""
    return Path(os.environ.get(HOME_ENV) or PROJECT_ROOT / "runs")


ID_PATTERN = re.compile(r"[0-9a-f]{12}")  # what new_id makes; nothing else is looked up


def new_id() -> str:
    """A new run or sweep id: 12 hex digits (what the live API's routes accept)."""
    return uuid.uuid4().hex[:12]


def this_process() -> str:
    """This process as a run's owner: host:pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


class RunStore:
    """Runs in a SQLite file (WAL), one short connection per call so any thread may use it."""

    def __init__(self, directory: str | os.PathLike | None = None):
        self.directory = Path(directory) if directory else data_dir()
        self.models_dir = self.directory / "models"
        self.path = self.directory / "runs.sqlite3"
        try:
            self.models_dir.mkdir(parents=True, exist_ok=True)
            with closing(self._connect()) as db, db:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute(_SCHEMA)
                db.execute(_SWEEPS)
                db.execute(_WEIGHT_STATS)
                have = {row["name"] for row in db.execute("PRAGMA table_info(runs)")}
                for name, kind in _ADDED_COLUMNS.items():
                    if name not in have:
                        db.execute(f"ALTER TABLE runs ADD COLUMN {name} {kind}")
        except (OSError, sqlite3.Error) as error:
            raise StoreError(
                f"cannot use {self.directory} for runs ({error}); make it writable or point "
                f"{HOME_ENV} at a folder that is"
            ) from error

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30)
        db.row_factory = sqlite3.Row
        return db

    def _write(self, sql: str, args: tuple) -> int:
        """Run one change; a store that became unwritable raises StoreError."""
        return self._write_many(sql, [args])

    def _write_many(self, sql: str, rows: list[tuple]) -> int:
        """Run one change per row of arguments, in one transaction."""
        try:
            with closing(self._connect()) as db, db:
                return db.executemany(sql, rows).rowcount
        except sqlite3.Error as error:
            raise StoreError(f"cannot write to {self.path}: {error}") from error

    def create(
        self,
        config: RunConfig,
        preset: str | None = None,
        parent: str | None = None,
        sweep_id: str | None = None,
    ) -> str:
        """Add a queued run, owned by this process, and return its new id."""
        run_id = new_id()
        now = time.time()
        self._write(
            "INSERT INTO runs (id, created_at, updated_at, status, preset, config, owner, "
            "heartbeat_at, parent, sweep_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, now, now, RunStatus.QUEUED, preset, json.dumps(config.to_dict()),
             this_process(), now, parent, sweep_id),
        )  # fmt: skip
        return run_id

    def set_label(self, run_id: str, label: str, note: str) -> None:
        """Name a run and keep a note on it; ValueError if either is too long."""
        label, note = " ".join(label.split()), note.strip()
        if len(label) > MAX_LABEL or len(note) > MAX_NOTE:
            raise ValueError(
                f"a label has at most {MAX_LABEL} characters and a note at most {MAX_NOTE}"
            )
        self._write("UPDATE runs SET label=?, note=? WHERE id=?", (label, note, run_id))

    def delete(self, run_id: str) -> bool:
        """Remove a run, its model file and any half-written copy; False if there was none.

        RunInUseError if it is queued or training (stop it first).
        """
        with closing(self._connect()) as db:
            row = db.execute("SELECT status FROM runs WHERE id=?", (run_id,)).fetchone()
        if row is None:
            return False
        if row["status"] in ACTIVE:
            raise RunInUseError(run_id)
        self._write("DELETE FROM runs WHERE id=?", (run_id,))
        self._write("DELETE FROM weight_stats WHERE run_id=?", (run_id,))
        for path in [self.model_path(run_id), *self.models_dir.glob(f"{TEMP_PREFIX}{run_id}-*")]:
            path.unlink(missing_ok=True)
        return True

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

    def create_sweep(self, spec: dict) -> str:
        """Store a sweep's description (what experiments.Sweep.to_dict gives); its new id."""
        sweep_id = new_id()
        self._write(
            "INSERT INTO sweeps (id, created_at, spec) VALUES (?, ?, ?)",
            (sweep_id, time.time(), json.dumps(spec)),
        )
        return sweep_id

    def get_sweep(self, sweep_id: str) -> dict | None:
        """A sweep's stored description, or None."""
        with closing(self._connect()) as db:
            row = db.execute("SELECT spec FROM sweeps WHERE id=?", (sweep_id,)).fetchone()
        return None if row is None else json.loads(row["spec"])

    def sweeps(self, limit: int = 50) -> list[tuple[str, float, dict]]:
        """Newest sweeps first: (id, created_at, description)."""
        with closing(self._connect()) as db:
            rows = db.execute(
                "SELECT * FROM sweeps ORDER BY created_at DESC LIMIT ?", (limit,)
            ).fetchall()
        return [(row["id"], row["created_at"], json.loads(row["spec"])) for row in rows]

    def sweep_runs(self, sweep_id: str) -> list[Run]:
        """A sweep's readable runs, in the order they were queued."""
        with closing(self._connect()) as db:
            rows = db.execute(
                "SELECT * FROM runs WHERE sweep_id=? ORDER BY created_at, rowid", (sweep_id,)
            ).fetchall()
        return [run for run in map(_decode, rows) if isinstance(run, Run)]

    def mark_running(self, run_id: str) -> None:
        now = time.time()
        self._write(
            "UPDATE runs SET status=?, updated_at=?, heartbeat_at=? WHERE id=?",
            (RunStatus.RUNNING, now, now, run_id),
        )

    def record_epoch(self, run_id: str, history: list[dict], train_seconds: float) -> None:
        """Save the history so far, after each epoch (another process may be watching)."""
        self._write(
            "UPDATE runs SET history=?, train_seconds=?, updated_at=? WHERE id=?",
            (json.dumps(history), train_seconds, time.time(), run_id),
        )

    def add_weight_stats(self, run_id: str, epoch: int, payload: list[dict]) -> None:
        """Keep a run's weight statistics after `epoch` epochs (0: before training)."""
        self._write(
            "INSERT OR REPLACE INTO weight_stats (run_id, epoch, payload) VALUES (?, ?, ?)",
            (run_id, epoch, json.dumps(payload)),
        )

    def weight_stats(self, run_id: str) -> list[tuple[int, list[dict]]]:
        """A run's weight statistics as (epoch, payload), by epoch; empty if none were kept."""
        with closing(self._connect()) as db:
            rows = db.execute(
                "SELECT epoch, payload FROM weight_stats WHERE run_id=? ORDER BY epoch", (run_id,)
            ).fetchall()
        return [(row["epoch"], json.loads(row["payload"])) for row in rows]

    def record_outcome(self, run_id: str, outcome: Outcome) -> None:
        """Write how a run ended: the one place a run's final state is recorded."""
        self._write(
            "UPDATE runs SET status=?, message=?, reason=?, history=?, test_loss=?, "
            "test_accuracy=?, train_seconds=?, model_path=?, updated_at=?, live='{}', "
            "precision=COALESCE(NULLIF(?, ''), precision) WHERE id=?",
            (outcome.status, outcome.message, outcome.reason, json.dumps(outcome.history),
             outcome.test_loss,
             outcome.test_accuracy, outcome.train_seconds, outcome.model_path, time.time(),
             outcome.precision, run_id),
        )  # fmt: skip

    def beat(self, live: dict[str, dict]) -> None:
        """Say that this process still trains these runs, with their latest progress figures."""
        now = time.time()
        self._write_many(
            "UPDATE runs SET heartbeat_at=?, live=? WHERE id=?",
            [(now, json.dumps(figures), run_id) for run_id, figures in live.items()],
        )

    def mark_interrupted(self) -> int:
        """Runs left active by a process that is gone are marked interrupted; how many.

        Gone means: it ran on this machine and its process no longer exists, or it has not
        beaten for STALE_SECONDS. A CLI run training into the same store is left alone.
        """
        with closing(self._connect()) as db:
            rows = db.execute(
                f"SELECT id, owner, heartbeat_at FROM runs WHERE status IN "
                f"({','.join('?' * len(ACTIVE))})",
                tuple(ACTIVE),
            ).fetchall()
        gone = [row["id"] for row in rows if _owner_is_gone(row["owner"], row["heartbeat_at"])]
        for run_id in gone:
            self.record_outcome(
                run_id,
                Outcome(RunStatus.INTERRUPTED, "Its process stopped while this run was active."),
            )
        return len(gone)

    def get(self, run_id: str) -> Run | None:
        """One run, or None; UnreadableRunError if its row no longer parses."""
        with closing(self._connect()) as db:
            row = db.execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone()
        if row is None:
            return None
        run = _decode(row)
        if isinstance(run, UnreadableRun):
            raise UnreadableRunError(run.id, run.reason)
        return run

    def list(self, status: RunStatus | None = None, limit: int = 1000) -> list[Run]:
        """Newest readable runs first, optionally only those with one status."""
        return [run for run in self.rows(status, limit) if isinstance(run, Run)]

    def rows(self, status: RunStatus | None = None, limit: int = 1000) -> list[Run | UnreadableRun]:
        """Newest first, unreadable rows included (as UnreadableRun)."""
        query, args = "SELECT * FROM runs", ()
        if status:
            query, args = query + " WHERE status=?", (str(status),)
        with closing(self._connect()) as db:
            rows = db.execute(f"{query} ORDER BY created_at DESC LIMIT ?", (*args, limit))
            return [_decode(row) for row in rows.fetchall()]

    def model_path(self, run_id: str) -> Path:
        return self.models_dir / f"{run_id}.keras"


def _owner_is_gone(owner: str | None, heartbeat_at: float | None) -> bool:
    if owner == this_process():
        return False  # this very process: its manager knows whether the run is alive
    if heartbeat_at is None or time.time() - heartbeat_at > STALE_SECONDS:
        return True
    host, _, pid = (owner or "").rpartition(":")
    return host == socket.gethostname() and pid.isdigit() and not _process_exists(int(pid))


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process, alive
        return True
    return True


def _decode(row: sqlite3.Row) -> Run | UnreadableRun:
    """A row as a Run, or as an UnreadableRun saying why it does not parse."""
    data = dict(row)
    try:
        history = json.loads(data["history"])
        if not isinstance(history, list) or not all(isinstance(e, dict) for e in history):
            raise ValueError("history is not a list of epochs")
        live = json.loads(data.get("live") or "{}")
        return Run(
            id=data["id"],
            created_at=data["created_at"],
            updated_at=data["updated_at"],
            status=RunStatus(data["status"]),
            preset=data["preset"],
            config=RunConfig.from_dict(json.loads(data["config"])),
            history=history,
            test_loss=data["test_loss"],
            test_accuracy=data["test_accuracy"],
            train_seconds=data["train_seconds"],
            model_path=data["model_path"],
            message=data["message"] or "",
            reason=data.get("reason") or "",
            owner=data.get("owner"),
            heartbeat_at=data.get("heartbeat_at"),
            live=live if isinstance(live, dict) else {},
            label=data.get("label") or "",
            note=data.get("note") or "",
            parent=data.get("parent"),
            sweep_id=data.get("sweep_id"),
            precision=data.get("precision") or "",
        )
    except (ValueError, TypeError, KeyError, ConfigError) as error:  # JSONDecodeError too
        return UnreadableRun(str(data.get("id")), float(data.get("created_at") or 0), str(error))
