"""The run store: every run's config, status, history, results and model.

On a laptop they are a SQLite file (runs.sqlite3) and .keras files under the data directory; on a
class server ($MNIST_LAB_DATABASE_URL) a shared database holds them all, model files included,
and the data directory only caches the models this machine reads.

`RunStore` is made of parts, one module each, that share one engine and one schema version
(`database.py`): the runs themselves (here: queued, trained, beaten for, ended, listed, deleted),
their sweeps (`sweeps.py`), weight statistics (`weights.py`), the class's rules and the server's
secrets (`rules.py`), model files (`model_files.py`), class challenges (`challenges.py`) and the
class drawings runs train on (`class_drawings.py`). A stored run is a `Run` (`run.py`).
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import sqlalchemy as sa

from mnist_app.engine.config import RunConfig
from mnist_app.engine.data import PROJECT_ROOT
from mnist_app.engine.records import EpochRecord, Outcome, history_from_json, history_to_json
from mnist_app.engine.status import ACTIVE, RunStatus
from mnist_app.runs.challenges import ChallengesKept
from mnist_app.runs.class_drawings import ClassDrawingsKept
from mnist_app.runs.database import (
    RUN_TABLES,
    StoreError,
    challenge_entries,
    engine_for,
    model_files,
    open_tables,
    runs,
    server_url,
    sqlite_url,
    weight_stats,
)
from mnist_app.runs.model_files import ModelFiles
from mnist_app.runs.rules import RulesAndSecrets
from mnist_app.runs.run import ID_PATTERN as ID_PATTERN  # re-exported: callers read it here
from mnist_app.runs.run import (
    Run,
    RunInUseError,
    UnreadableRun,
    UnreadableRunError,
    new_id,
    readable,
    run_from_row,
)
from mnist_app.runs.sweeps import SweepsKept
from mnist_app.runs.weights import WeightStatsKept
from mnist_app.text import clean_user_text

HOME_ENV = "MNIST_LAB_HOME"  # data directory override
# A process that trains runs beats for them every HEARTBEAT_SECONDS; a run whose last beat is
# older than STALE_SECONDS has lost its process (a crash, a kill -9, a machine that went down).
HEARTBEAT_SECONDS = 5.0
STALE_SECONDS = 60.0

CLUSTER_OWNER = "ray"  # the owner of a run that a Ray actor trains (mnist_app.runs.cluster)
MAX_LABEL = 80  # characters
MAX_NOTE = 2000


def data_dir() -> Path:
    """Where runs and their models live: $MNIST_LAB_HOME, else the project's runs/ folder."""
    return Path(os.environ.get(HOME_ENV) or PROJECT_ROOT / "runs")


def this_process() -> str:
    """This process as a run's owner: host:pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


class RunStore(
    SweepsKept, WeightStatsKept, RulesAndSecrets, ModelFiles, ChallengesKept, ClassDrawingsKept
):
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
        self._secrets = {}  # RulesAndSecrets' caches: nothing read yet
        self._rules_read = None
        self.class_rules()  # read once now, so that they are known if the database goes away

    def create(
        self,
        config: RunConfig,
        preset: str | None = None,
        parent: str | None = None,
        sweep_id: str | None = None,
        owner: str | None = None,
        student: str | None = None,
        paused: bool = False,
    ) -> str:
        """Add a queued run and return its new id; owned by this process unless `owner` says
        who else trains it (CLUSTER_OWNER: a Ray trainer). `student`: who started it; `paused`:
        it holds before its first batch (said here for the trainer that takes it).

        With `class_digits`, the class drawings it trains on are chosen now and kept with it
        (its parent's, for a continued run); ConfigError if the class set is too small to split.
        """
        drawings = self.class_drawings_for(config, self.get(parent) if parent else None)
        run_id = new_id()
        now = time.time()
        self._write(
            (
                runs.insert(),
                dict(
                    id=run_id,
                    created_at=now,
                    updated_at=now,
                    status=RunStatus.QUEUED.value,
                    preset=preset,
                    config=json.dumps(config.to_dict()),
                    owner=owner or this_process(),
                    heartbeat_at=now,
                    parent=parent,
                    sweep_id=sweep_id,
                    student=student,
                    start_paused=int(paused),
                    class_drawings=json.dumps(drawings),
                ),
            )
        )
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
            (challenge_entries.delete().where(challenge_entries.c.run_id == run_id), None),
        )
        self.remove_local_model(run_id)
        return True

    def mark_running(self, run_id: str) -> None:
        now = time.time()
        self._write(
            (
                runs.update().where(runs.c.id == run_id),
                dict(status=RunStatus.RUNNING.value, updated_at=now, heartbeat_at=now),
            )
        )

    def record_epoch(self, run_id: str, history: list[EpochRecord], train_seconds: float) -> None:
        """Save the history so far, after each epoch (another process may be watching)."""
        self._write(
            (
                runs.update().where(runs.c.id == run_id),
                dict(
                    history=json.dumps(history_to_json(history)),
                    train_seconds=train_seconds,
                    updated_at=time.time(),
                ),
            )
        )

    def record_outcome(
        self, run_id: str, outcome: Outcome, if_active: bool = False, if_queued: bool = False
    ) -> bool:
        """Write how a run ended: the one place a run's final state is recorded.

        With `if_active`, only if it is still queued or training (an observer that found its
        trainer gone must not overwrite the end the trainer recorded meanwhile); with
        `if_queued`, only if no trainer has taken it yet. Whether it was written.
        """
        values = dict(
            status=outcome.status.value,
            message=outcome.message,
            reason=outcome.reason,
            history=json.dumps(history_to_json(outcome.history)),
            test_loss=outcome.test_loss,
            test_accuracy=outcome.test_accuracy,
            train_seconds=outcome.train_seconds,
            model_path=outcome.model_path,
            updated_at=time.time(),
            live="{}",
        )
        if outcome.precision:
            values["precision"] = outcome.precision
        where = runs.c.id == run_id
        if if_active:
            where &= runs.c.status.in_([status.value for status in ACTIVE])
        if if_queued:
            where &= runs.c.status == RunStatus.QUEUED.value
        return self._write((runs.update().where(where), values)) > 0

    def hold_queued(self, run_id: str, paused: bool) -> bool:
        """Say whether a queued run holds before its first batch once it starts; False if it
        is no longer queued (a trainer took it: ask the trainer)."""
        where = (runs.c.id == run_id) & (runs.c.status == RunStatus.QUEUED.value)
        return self._write((runs.update().where(where), dict(start_paused=int(paused)))) > 0

    def claim_queued(self, owner: str, trainer: str) -> Run | None:
        """Take the oldest run queued for `owner` for `trainer`, marking it running in one
        conditional update, so that of trainers asking at once only one gets it; None if none
        waits."""
        while True:
            rows = self._read(
                sa.select(runs.c.id)
                .where((runs.c.status == RunStatus.QUEUED.value) & (runs.c.owner == owner))
                .order_by(runs.c.created_at)
                .limit(1)
            )
            if not rows:
                return None
            now = time.time()
            taken = self._write(
                (
                    runs.update().where(
                        (runs.c.id == rows[0].id) & (runs.c.status == RunStatus.QUEUED.value)
                    ),
                    dict(
                        status=RunStatus.RUNNING.value,
                        trainer=trainer,
                        updated_at=now,
                        heartbeat_at=now,
                    ),
                )
            )
            if taken:
                return self.get(rows[0].id)

    def beat(self, live: dict[str, dict]) -> None:
        """Say that this process still trains these runs, with their latest progress figures."""
        if not live:
            return
        now = time.time()
        self._write(
            (
                runs.update().where(runs.c.id == sa.bindparam("run_id")),
                [
                    {"run_id": run_id, "heartbeat_at": now, "live": json.dumps(figures)}
                    for run_id, figures in live.items()
                ],
            )
        )

    def mark_interrupted(self) -> int:
        """Runs left active by a process that is gone are marked interrupted; how many.

        Gone means: it ran on this machine and its process no longer exists, or it has not
        beaten for STALE_SECONDS. A CLI run training into the same store is left alone, and so
        is a run on a Ray cluster (its manager asks the cluster). The epochs it finished stay,
        so that it can be continued from its last checkpoint.
        """
        rows = self._read(
            sa.select(
                runs.c.id, runs.c.owner, runs.c.heartbeat_at, runs.c.history, runs.c.train_seconds
            ).where(runs.c.status.in_([status.value for status in ACTIVE]))
        )
        gone = [row for row in rows if _owner_is_gone(row.owner, row.heartbeat_at)]
        for row in gone:
            self.record_outcome(
                row.id,
                Outcome(
                    RunStatus.INTERRUPTED,
                    "Its process stopped while this run was active.",
                    history=_history_or_none(row.history),
                    train_seconds=row.train_seconds or 0.0,
                ),
                if_active=True,
            )
        return len(gone)

    def get(self, run_id: str) -> Run | None:
        """One run, or None; UnreadableRunError if its row no longer parses."""
        rows = self._read(sa.select(runs).where(runs.c.id == run_id))
        if not rows:
            return None
        run = run_from_row(rows[0])
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
        return [run_from_row(row) for row in self._read(query)]

    def active(self, owner: str | None = None) -> list[Run]:
        """The readable runs queued or training (with that owner), oldest first."""
        query = sa.select(runs).where(runs.c.status.in_([status.value for status in ACTIVE]))
        if owner is not None:
            query = query.where(runs.c.owner == owner)
        rows = self._read(query.order_by(runs.c.created_at))
        return readable(rows)

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

    def queued_before(self, run: Run) -> int:
        """How many runs of the same owner were queued before this one and still wait."""
        query = (
            sa.select(sa.func.count())
            .select_from(runs)
            .where(
                (runs.c.status == RunStatus.QUEUED.value)
                & (runs.c.owner == run.owner)
                & (runs.c.created_at < run.created_at)
            )
        )
        return int(self._read(query)[0][0])


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
