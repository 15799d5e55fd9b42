"""The run store: every run's config, status, history, results and model.

On a laptop they are a SQLite file (runs.sqlite3) and .keras files under the data directory; on a
class server ($MNIST_LAB_DATABASE_URL) a shared database holds them all, model files included,
and the data directory only caches the models this machine reads.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import socket
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import exc

from mnist_app.engine.config import ConfigError, RunConfig
from mnist_app.engine.data import PROJECT_ROOT
from mnist_app.engine.files import TEMP_PREFIX, write_atomically
from mnist_app.engine.records import EpochRecord, Outcome, history_from_json, history_to_json
from mnist_app.engine.status import ACTIVE, RunStatus
from mnist_app.runs.database import (
    RUN_TABLES,
    StoreError,
    class_rules,
    engine_for,
    first_line,
    model_files,
    open_tables,
    read_rows,
    runs,
    server_secrets,
    server_url,
    sqlite_url,
    sweeps,
    weight_stats,
)
from mnist_app.runs.owners import ClassRules
from mnist_app.text import clean_user_text

HOME_ENV = "MNIST_LAB_HOME"  # data directory override
# A process that trains runs beats for them every HEARTBEAT_SECONDS; a run whose last beat is
# older than STALE_SECONDS has lost its process (a crash, a kill -9, a machine that went down).
HEARTBEAT_SECONDS = 5.0
STALE_SECONDS = 60.0

CLUSTER_OWNER = "ray"  # the owner of a run that a Ray actor trains (mnist_app.runs.cluster)
MAX_LABEL = 80  # characters
MAX_NOTE = 2000


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
class Run:
    """One stored run."""

    id: str
    created_at: float
    updated_at: float
    status: RunStatus
    preset: str | None
    config: RunConfig
    history: list[EpochRecord]
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
    student: str | None = None  # the owner id of the student who started it (owners.py)

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
    """Runs in the shared database ($MNIST_LAB_DATABASE_URL), else in a SQLite file (WAL)
    under `directory`; any thread may use it, and several processes or machines at once."""

    def __init__(self, directory: str | os.PathLike | None = None, url: str | None = None):
        self.directory = Path(directory) if directory else data_dir()
        self.models_dir = self.directory / "models"
        self.path = self.directory / "runs.sqlite3"  # the SQLite file, when there is no server
        url = url or server_url()
        # A shared database keeps the model files too; the folder only caches what is read here.
        self.shares_models = url is not None
        try:
            self.models_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StoreError(
                f"cannot use {self.directory} for runs ({error}); make it writable or point "
                f"{HOME_ENV} at a folder that is"
            ) from error
        self.engine = engine_for(url or sqlite_url(self.path))
        open_tables(self.engine, "runs", RUN_TABLES)
        self._secrets: dict[str, bytes] = {}
        self._rules_read: ClassRules | None = None  # the class's rules as last read
        self.class_rules()  # read once now, so that they are known if the database goes away

    def _read(self, query: sa.Executable) -> list[sa.Row]:
        return read_rows(self.engine, query, "the runs")

    def _write(self, *changes: tuple[sa.Executable, list[dict] | dict | None]) -> int:
        """Make the changes in one transaction; how many rows the last one touched.

        A store that became unwritable or unreachable raises StoreError.
        """
        try:
            with self.engine.begin() as db:
                count = 0
                for statement, values in changes:
                    count = db.execute(statement, values).rowcount
                return count
        except exc.SQLAlchemyError as error:
            raise StoreError(f"cannot write the runs: {first_line(error)}") from error

    def create(
        self,
        config: RunConfig,
        preset: str | None = None,
        parent: str | None = None,
        sweep_id: str | None = None,
        owner: str | None = None,
        student: str | None = None,
    ) -> str:
        """Add a queued run and return its new id; owned by this process unless `owner` says
        who else trains it (CLUSTER_OWNER: a Ray actor). `student`: who started it."""
        run_id = new_id()
        now = time.time()
        self._write((runs.insert(), dict(
            id=run_id, created_at=now, updated_at=now, status=RunStatus.QUEUED.value,
            preset=preset, config=json.dumps(config.to_dict()), owner=owner or this_process(),
            heartbeat_at=now, parent=parent, sweep_id=sweep_id, student=student,
        )))  # fmt: skip
        return run_id

    def set_label(self, run_id: str, label: str, note: str) -> None:
        """Name a run and keep a note on it; ValueError if either is too long. Control and
        bidi characters are dropped (mnist_app.text): a label shows on every page and terminal."""
        label, note = clean_user_text(label), clean_user_text(note, lines=True)
        if len(label) > MAX_LABEL or len(note) > MAX_NOTE:
            raise ValueError(
                f"a label has at most {MAX_LABEL} characters and a note at most {MAX_NOTE}"
            )
        self._write((runs.update().where(runs.c.id == run_id), dict(label=label, note=note)))

    def delete(self, run_id: str) -> bool:
        """Remove a run, its model and any half-written copy; False if there was none.

        RunInUseError if it is queued or training (stop it first).
        """
        rows = self._read(sa.select(runs.c.status).where(runs.c.id == run_id))
        if not rows:
            return False
        if rows[0].status in ACTIVE:
            raise RunInUseError(run_id)
        self._write(
            (runs.delete().where(runs.c.id == run_id), None),
            (weight_stats.delete().where(weight_stats.c.run_id == run_id), None),
            (model_files.delete().where(model_files.c.run_id == run_id), None),
        )
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
            (sweeps.insert(), dict(id=sweep_id, created_at=time.time(), spec=json.dumps(spec)))
        )
        return sweep_id

    def get_sweep(self, sweep_id: str) -> dict | None:
        """A sweep's stored description, or None."""
        rows = self._read(sa.select(sweeps.c.spec).where(sweeps.c.id == sweep_id))
        return json.loads(rows[0].spec) if rows else None

    def sweeps(self, limit: int = 50) -> list[tuple[str, float, dict]]:
        """Newest sweeps first: (id, created_at, description)."""
        rows = self._read(sa.select(sweeps).order_by(sweeps.c.created_at.desc()).limit(limit))
        return [(row.id, row.created_at, json.loads(row.spec)) for row in rows]

    def sweep_runs(self, sweep_id: str) -> list[Run]:
        """A sweep's readable runs, in the order they were queued."""
        rows = self._read(
            sa.select(runs).where(runs.c.sweep_id == sweep_id).order_by(runs.c.created_at)
        )
        return [run for run in map(_decode, rows) if isinstance(run, Run)]

    def mark_running(self, run_id: str) -> None:
        now = time.time()
        self._write((
            runs.update().where(runs.c.id == run_id),
            dict(status=RunStatus.RUNNING.value, updated_at=now, heartbeat_at=now),
        ))  # fmt: skip

    def record_epoch(self, run_id: str, history: list[EpochRecord], train_seconds: float) -> None:
        """Save the history so far, after each epoch (another process may be watching)."""
        self._write((
            runs.update().where(runs.c.id == run_id),
            dict(history=json.dumps(history_to_json(history)), train_seconds=train_seconds,
                 updated_at=time.time()),
        ))  # fmt: skip

    def add_weight_stats(self, run_id: str, epoch: int, payload: list[dict]) -> None:
        """Keep a run's weight statistics after `epoch` epochs (0: before training)."""
        key = (weight_stats.c.run_id == run_id) & (weight_stats.c.epoch == epoch)
        self._write(
            (weight_stats.delete().where(key), None),
            (weight_stats.insert(), dict(run_id=run_id, epoch=epoch, payload=json.dumps(payload))),
        )

    def weight_stats(self, run_id: str) -> list[tuple[int, list[dict]]]:
        """A run's weight statistics as (epoch, payload), by epoch; empty if none were kept."""
        rows = self._read(
            sa.select(weight_stats.c.epoch, weight_stats.c.payload)
            .where(weight_stats.c.run_id == run_id)
            .order_by(weight_stats.c.epoch)
        )
        return [(row.epoch, json.loads(row.payload)) for row in rows]

    def record_outcome(self, run_id: str, outcome: Outcome, if_active: bool = False) -> bool:
        """Write how a run ended: the one place a run's final state is recorded.

        With `if_active`, only if it is still queued or training (an observer that found its
        trainer gone must not overwrite the end the trainer recorded meanwhile); whether it was
        written.
        """
        values = dict(
            status=outcome.status.value, message=outcome.message, reason=outcome.reason,
            history=json.dumps(history_to_json(outcome.history)), test_loss=outcome.test_loss,
            test_accuracy=outcome.test_accuracy, train_seconds=outcome.train_seconds,
            model_path=outcome.model_path, updated_at=time.time(), live="{}",
        )  # fmt: skip
        if outcome.precision:
            values["precision"] = outcome.precision
        where = runs.c.id == run_id
        if if_active:
            where &= runs.c.status.in_([status.value for status in ACTIVE])
        return self._write((runs.update().where(where), values)) > 0

    def beat(self, live: dict[str, dict]) -> None:
        """Say that this process still trains these runs, with their latest progress figures."""
        if not live:
            return
        now = time.time()
        self._write((
            runs.update().where(runs.c.id == sa.bindparam("run_id")),
            [{"run_id": run_id, "heartbeat_at": now, "live": json.dumps(figures)}
             for run_id, figures in live.items()],
        ))  # fmt: skip

    def mark_interrupted(self) -> int:
        """Runs left active by a process that is gone are marked interrupted; how many.

        Gone means: it ran on this machine and its process no longer exists, or it has not
        beaten for STALE_SECONDS. A CLI run training into the same store is left alone, and so
        is a run on a Ray cluster (its manager asks the cluster). The epochs it finished stay,
        so that it can be continued from its last checkpoint.
        """
        rows = self._read(
            sa.select(runs.c.id, runs.c.owner, runs.c.heartbeat_at, runs.c.history,
                      runs.c.train_seconds)
            .where(runs.c.status.in_([status.value for status in ACTIVE]))
        )  # fmt: skip
        gone = [row for row in rows if _owner_is_gone(row.owner, row.heartbeat_at)]
        for row in gone:
            self.record_outcome(
                row.id,
                Outcome(RunStatus.INTERRUPTED, "Its process stopped while this run was active.",
                        history=_history_or_none(row.history),
                        train_seconds=row.train_seconds or 0.0),
                if_active=True,
            )  # fmt: skip
        return len(gone)

    def get(self, run_id: str) -> Run | None:
        """One run, or None; UnreadableRunError if its row no longer parses."""
        rows = self._read(sa.select(runs).where(runs.c.id == run_id))
        if not rows:
            return None
        run = _decode(rows[0])
        if isinstance(run, UnreadableRun):
            raise UnreadableRunError(run.id, run.reason)
        return run

    def list(self, status: RunStatus | None = None, limit: int = 1000) -> list[Run]:
        """Newest readable runs first, optionally only those with one status."""
        return [run for run in self.rows(status, limit) if isinstance(run, Run)]

    def rows(self, status: RunStatus | None = None, limit: int = 1000) -> list[Run | UnreadableRun]:
        """Newest first, unreadable rows included (as UnreadableRun)."""
        query = sa.select(runs).order_by(runs.c.created_at.desc()).limit(limit)
        if status:
            query = query.where(runs.c.status == str(status))
        return [_decode(row) for row in self._read(query)]

    def active(self, owner: str | None = None) -> list[Run]:
        """The readable runs queued or training (with that owner), oldest first."""
        query = sa.select(runs).where(runs.c.status.in_([status.value for status in ACTIVE]))
        if owner is not None:
            query = query.where(runs.c.owner == owner)
        rows = self._read(query.order_by(runs.c.created_at))
        return [run for run in map(_decode, rows) if isinstance(run, Run)]

    def active_count(self, student: str) -> int:
        """How many runs this student has queued or training."""
        query = (
            sa.select(sa.func.count())
            .select_from(runs)
            .where(
                runs.c.status.in_([status.value for status in ACTIVE]) & (runs.c.student == student)
            )
        )
        return int(self._read(query)[0][0])

    def class_rules(self, or_last_known: bool = False) -> ClassRules:
        """The rules the teacher set for the class (the defaults until they set any).

        With `or_last_known`, the rules as last read here when the database cannot be read now
        (StoreError still if they never were).
        """
        try:
            rows = self._read(sa.select(class_rules))
        except StoreError:
            if or_last_known and self._rules_read is not None:
                return self._rules_read
            raise
        stored = {}
        for row in rows:
            try:
                stored[row.name] = json.loads(row.value)
            except ValueError:  # a hand-edited value: as if unset
                continue
        self._rules_read = ClassRules.from_dict(stored)
        return self._rules_read

    def set_class_rules(self, rules: ClassRules) -> None:
        rows = [{"name": key, "value": json.dumps(value)} for key, value in rules.to_dict().items()]
        self._write((class_rules.delete(), None), (class_rules.insert(), rows))

    def secret(self, name: str) -> bytes:
        """A random 32-byte secret every replica using this database shares, made on first use
        (if two replicas make it at once, the first one written counts)."""
        if name not in self._secrets:
            query = sa.select(server_secrets.c.value).where(server_secrets.c.name == name)
            rows = self._read(query)
            if not rows:
                with contextlib.suppress(StoreError):  # another replica wrote it first
                    self._write((server_secrets.insert(),
                                 {"name": name, "value": secrets.token_hex(32)}))  # fmt: skip
                rows = self._read(query)
            if not rows:
                raise StoreError(f"cannot keep the server's {name} secret in the runs database")
            self._secrets[name] = bytes.fromhex(rows[0].value)
        return self._secrets[name]

    def sweep_students(self, sweep_ids: Iterable[str]) -> dict[str, set[str | None]]:
        """Who started each sweep's runs (a sweep has one student; any of them counts)."""
        ids = list(sweep_ids)
        if not ids:
            return {}
        query = sa.select(runs.c.sweep_id, runs.c.student).where(runs.c.sweep_id.in_(ids))
        students: dict[str, set[str | None]] = {sweep_id: set() for sweep_id in ids}
        for row in self._read(query.distinct()):
            students[row.sweep_id].add(row.student)
        return students

    def queued_before(self, run: Run) -> int:
        """How many runs of the same owner were queued before this one and still wait."""
        query = sa.select(sa.func.count()).select_from(runs).where(
            (runs.c.status == RunStatus.QUEUED.value) & (runs.c.owner == run.owner)
            & (runs.c.created_at < run.created_at)
        )  # fmt: skip
        return int(self._read(query)[0][0])

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
            (model_files.insert(),
             dict(run_id=run_id, saved_at=saved_at, size=len(data), data=data)),
        )  # fmt: skip
        os.utime(path, (saved_at, saved_at))  # this copy is the one stored


def _write_file(path: Path, data: bytes, modified: float) -> None:
    """Write `data` to `path` as a whole or not at all, with that modification time."""

    def write(temporary: Path) -> None:
        temporary.write_bytes(data)
        os.utime(temporary, (modified, modified))

    write_atomically(path, write)


def _owner_is_gone(owner: str | None, heartbeat_at: float | None) -> bool:
    if owner == this_process() or owner == CLUSTER_OWNER:
        return False  # this very process, or a Ray actor: its manager knows if it is alive
    if heartbeat_at is None or time.time() - heartbeat_at > STALE_SECONDS:
        return True
    host, _, pid = (owner or "").rpartition(":")
    return host == socket.gethostname() and pid.isdigit() and not _process_exists(int(pid))


def _history_or_none(text: str) -> list[EpochRecord]:
    """A stored history as records, or [] if it no longer parses."""
    try:
        return history_from_json(json.loads(text))
    except (TypeError, ValueError):
        return []


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process, alive
        return True
    return True


def _decode(row: sa.Row) -> Run | UnreadableRun:
    """A row as a Run, or as an UnreadableRun saying why it does not parse."""
    data = dict(row._mapping)
    try:
        history = history_from_json(json.loads(data["history"]))
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
            student=data.get("student"),
        )
    except (ValueError, TypeError, KeyError, ConfigError) as error:  # JSONDecodeError too
        return UnreadableRun(str(data.get("id")), float(data.get("created_at") or 0), str(error))
