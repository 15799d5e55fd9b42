"""Where runs, models and the class set are kept: SQLite files on a laptop, or one database that
every replica and worker of a class server shares ($MNIST_LAB_DATABASE_URL, PostgreSQL).

One code path for both, in SQLAlchemy 2 Core. The tables carry a schema version; a store made by
an older MNIST Lab is upgraded in place when it is opened, one made by a newer one is refused.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Iterable
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import exc

DATABASE_ENV = "MNIST_LAB_DATABASE_URL"
SERVER_REQUIREMENTS = "requirements-server.txt"
# 1: the SQLite files before versions were kept; 2: a version row, model files in the database;
# 3: each run's and drawing's student, and the teacher's class rules; 4: a cluster run's warm
# trainer, and whether it starts paused; 5: the teacher's challenges and the runs that entered them;
# 6: the class drawings a run trains on.
SCHEMA_VERSION = 6
# Keys of PostgreSQL's advisory locks, each for one thing done by one transaction at a time.
SCHEMA_LOCK = 20261202  # creating or upgrading the tables (replicas starting together)
CLASS_SET_LOCK = 20261207  # counting the class set against the class's limits, then adding

metadata = sa.MetaData()

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("preset", sa.Text),
    sa.Column("config", sa.Text, nullable=False),
    sa.Column("history", sa.Text, nullable=False, server_default="[]"),
    sa.Column("test_loss", sa.Double),
    sa.Column("test_accuracy", sa.Double),
    sa.Column("train_seconds", sa.Double),
    sa.Column("model_path", sa.Text),
    sa.Column("message", sa.Text, nullable=False, server_default=""),
    # Columns added since the first version: an older store gets them when opened.
    sa.Column("owner", sa.Text),  # host:pid of the process that trains (or queued) the run
    sa.Column("heartbeat_at", sa.Double),
    sa.Column("live", sa.Text, nullable=False, server_default="{}"),  # progress, for others
    sa.Column("reason", sa.Text, nullable=False, server_default=""),  # why it ended, as a word
    sa.Column("label", sa.Text, nullable=False, server_default=""),  # the user's name for it
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sa.Column("parent", sa.Text),  # the run it continues (resume), if any
    sa.Column("sweep_id", sa.Text),  # the sweep it belongs to, if any
    sa.Column("precision", sa.Text, nullable=False, server_default=""),  # float32 or bfloat16
    sa.Column("student", sa.Text),  # the anonymous id of the student who started it (owners.py)
    sa.Column("trainer", sa.Text),  # the Ray trainer that took it from the queue (ray_actor.py)
    sa.Column("start_paused", sa.Integer, nullable=False, server_default="0"),  # held at first
    # The class set's entry ids it trains on (class_digits), as a JSON list (class_drawings.py).
    sa.Column("class_drawings", sa.Text, nullable=False, server_default="[]"),
)
FIRST_RUN_COLUMNS = 12  # the first version's table had the first twelve columns only

sweeps = sa.Table(
    "sweeps",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("spec", sa.Text, nullable=False),
)

# Per epoch, each layer's weight histogram and gradient norm (mnist_app.engine.weight_history).
weight_stats = sa.Table(
    "weight_stats",
    metadata,
    sa.Column("run_id", sa.Text, primary_key=True),
    sa.Column("epoch", sa.Integer, primary_key=True),
    sa.Column("payload", sa.Text, nullable=False),
)

# A shared database keeps each run's latest .keras file (its checkpoint, then its final model),
# so a replica or worker on another machine needs no shared folder to read or continue it.
model_files = sa.Table(
    "model_files",
    metadata,
    sa.Column("run_id", sa.Text, primary_key=True),
    sa.Column("saved_at", sa.Double, nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
)

class_digits = sa.Table(
    "class_digits",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("digit", sa.Integer, sa.CheckConstraint("digit BETWEEN 0 AND 9"), nullable=False),
    sa.Column("image", sa.LargeBinary, nullable=False),
    sa.Column("drawing", sa.LargeBinary),
    sa.Column("drawing_sha256", sa.Text, unique=True),
    sa.Column("name", sa.Text, nullable=False, server_default=""),
    sa.Column("student", sa.Text),  # the anonymous id of the student who drew it
    sqlite_autoincrement=True,  # ids are never reused: ClassSet.revision relies on it
)

# One row per part of the store ("runs", "class_set"): the schema version it was made with.
schema_versions = sa.Table(
    "schema_versions",
    metadata,
    sa.Column("part", sa.Text, primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
)

# What the teacher set for the whole class (owners.ClassRules), one row per rule, as JSON.
class_rules = sa.Table(
    "class_rules",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

# Secrets every replica of one class server shares, each made once at random: the key that
# signs viewing passes (owners.viewing_pass). A store from before it gains the table on opening.
server_secrets = sa.Table(
    "server_secrets",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

# A class challenge (runs/challenges.py): its rules (None: no limit), its metric ("accuracy" or
# "epochs-to:0.98"), its deadline and when the teacher closed it, as Unix times.
challenges = sa.Table(
    "challenges",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("metric", sa.Text, nullable=False, server_default="accuracy"),
    sa.Column("max_params", sa.BigInteger),
    sa.Column("max_seconds", sa.Double),
    sa.Column("max_epochs", sa.Integer),
    sa.Column("deadline", sa.Double),
    sa.Column("closed_at", sa.Double),
)

# The runs that named a challenge, one row each, with the name the student entered under.
challenge_entries = sa.Table(
    "challenge_entries",
    metadata,
    sa.Column("run_id", sa.Text, primary_key=True),
    sa.Column("challenge_id", sa.Text, nullable=False, index=True),
    sa.Column("nickname", sa.Text, nullable=False, server_default=""),
    sa.Column("entered_at", sa.Double, nullable=False),
)

RUN_TABLES = (
    runs,
    sweeps,
    weight_stats,
    model_files,
    class_rules,
    server_secrets,
    challenges,
    challenge_entries,
)
CLASS_TABLES = (class_digits,)


class StoreError(RuntimeError):
    """The store cannot be opened, read or written; the message says where and why."""


def server_url() -> str | None:
    """The shared database's URL if $MNIST_LAB_DATABASE_URL is set, else None (SQLite files)."""
    return os.environ.get(DATABASE_ENV, "").strip() or None


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def parse_url(url: str) -> sa.URL:
    """A database URL as SQLAlchemy's URL, with psycopg as PostgreSQL's driver.

    StoreError names what is wrong: not a URL, a database other than PostgreSQL or SQLite,
    or PostgreSQL's driver not installed (requirements-server.txt).
    """
    example = "postgresql://user:password@host:5432/mnist_lab"
    try:
        parsed = sa.make_url(url)
    except (exc.ArgumentError, ValueError) as error:
        raise StoreError(
            f"{DATABASE_ENV} is not a database URL ({error}); expected one like {example}"
        ) from None
    backend, _, driver = parsed.drivername.partition("+")
    if backend in ("postgresql", "postgres"):
        if driver not in ("", "psycopg"):
            raise StoreError(f"{_shown(parsed)}: PostgreSQL is reached through psycopg only")
        if importlib.util.find_spec("psycopg") is None:
            raise StoreError(
                f"{DATABASE_ENV} names a PostgreSQL database, but its driver is not installed: "
                f"pip install -r {SERVER_REQUIREMENTS}"
            )
        if not parsed.database:
            raise StoreError(f"{_shown(parsed)} names no database: end it with /NAME")
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite" and driver in ("", "pysqlite"):
        if not parsed.database or parsed.database == ":memory:":
            raise StoreError(f"{_shown(parsed)}: a SQLite store needs a file, sqlite:///PATH")
        return parsed
    raise StoreError(
        f"{_shown(parsed)}: MNIST Lab keeps its runs in PostgreSQL or SQLite, "
        f"not {parsed.drivername}; expected one like {example}"
    )


def _shown(url: sa.URL) -> str:
    """A URL as it may be shown: never with its password."""
    return url.render_as_string(hide_password=True)


_engines: dict[str, sa.Engine] = {}
_engines_lock = threading.Lock()


def engine_for(url: str) -> sa.Engine:
    """The engine for a URL, one per URL in this process (PostgreSQL's connections are pooled)."""
    parsed = parse_url(url)
    key = parsed.render_as_string(hide_password=False)
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _engines[key] = _create_engine(parsed)
        return engine


def dispose_engines() -> None:
    """Close every pooled connection of this process (before a fork, or when done with a test
    database); the next use of a URL makes a new engine."""
    with _engines_lock:
        engines = list(_engines.values())
        _engines.clear()
    for engine in engines:
        engine.dispose()


def _create_engine(url: sa.URL) -> sa.Engine:
    if url.get_backend_name() == "sqlite":
        # A short connection per call, as the stores always made: any thread or process may
        # write, and no file stays open after a test's folder is gone. 30 s for a busy writer.
        return sa.create_engine(url, poolclass=sa.NullPool, connect_args={"timeout": 30})
    return sa.create_engine(
        url,
        pool_pre_ping=True,  # a server that restarted costs one reconnection, not an error
        pool_size=5,
        max_overflow=10,
        connect_args={"connect_timeout": 10, "application_name": "mnist-lab"},
    )


def describe(engine: sa.Engine) -> str:
    """Where an engine's database is, as a message may show it (no password)."""
    return _shown(engine.url)


def open_tables(engine: sa.Engine, part: str, tables: Iterable[sa.Table]) -> None:
    """Create or upgrade `tables` to SCHEMA_VERSION, recording it as `part`'s version.

    StoreError if the database cannot be reached or was made by a newer MNIST Lab.
    """
    tables = [*tables, schema_versions]
    try:
        with engine.begin() as db:
            if engine.dialect.name == "postgresql":  # replicas starting together: one at a time
                db.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK})
            else:
                db.exec_driver_sql("PRAGMA journal_mode=WAL")
            metadata.create_all(db, tables=tables, checkfirst=True)
            stored = db.scalar(
                sa.select(schema_versions.c.version).where(schema_versions.c.part == part)
            )
            if stored is not None and stored > SCHEMA_VERSION:
                raise StoreError(
                    f"{describe(engine)} was made by a newer MNIST Lab (schema {stored}; this "
                    f"one reads up to {SCHEMA_VERSION}): upgrade the app to use it"
                )
            _add_missing_columns(db, tables)
            if stored != SCHEMA_VERSION:
                db.execute(sa.delete(schema_versions).where(schema_versions.c.part == part))
                db.execute(sa.insert(schema_versions).values(part=part, version=SCHEMA_VERSION))
    except exc.SQLAlchemyError as error:
        raise StoreError(f"cannot use {describe(engine)}: {first_line(error)}") from error


def one_writer_at_a_time(db: sa.Connection, key: int) -> None:
    """From here to the end of `db`'s transaction, no other transaction passes this point: what
    it reads next is what it writes against (a count checked against a limit, then an insert).
    On PostgreSQL the transaction holds the advisory lock `key` and the others wait for it; on
    SQLite, whose writers take turns anyway, it takes the database's write lock now, before
    reading, instead of at its first write (the others wait, up to the engine's 30 s)."""
    if db.dialect.name == "postgresql":
        db.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    else:  # a write that changes nothing: it begins the transaction as a writer
        version = schema_versions.c.version
        db.execute(sa.update(schema_versions).where(sa.false()).values(version=version))


def _add_missing_columns(db: sa.Connection, tables: list[sa.Table]) -> None:
    """An older store's tables get the columns added since (with their defaults)."""
    inspector = sa.inspect(db)
    for table in tables:
        have = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in have:
                kind = column.type.compile(dialect=db.dialect)
                default = ""
                if column.server_default is not None:
                    text = column.server_default.arg
                    default = f" NOT NULL DEFAULT '{text}'"  # our own constant, never input
                db.exec_driver_sql(
                    f"ALTER TABLE {table.name} ADD COLUMN "
                    f"{db.dialect.identifier_preparer.quote(column.name)} {kind}{default}"
                )


def read_rows(engine: sa.Engine, query: sa.Executable, what: str) -> list[sa.Row]:
    """The rows a query gives; StoreError "cannot read `what`" if the database fails."""
    try:
        with engine.connect() as db:
            return list(db.execute(query))
    except exc.SQLAlchemyError as error:
        raise StoreError(f"cannot read {what}: {first_line(error)}") from error


def first_line(error: BaseException) -> str:
    """A database error as one line: the driver's own message, without SQLAlchemy's SQL dump."""
    original = getattr(error, "orig", None) or error
    text = str(original).strip().splitlines()
    return text[0] if text else type(original).__name__


class StorePart:
    """What every part of the run store (`runs.store.RunStore`: its runs, sweeps, weight
    statistics, class rules and model files) shares: one engine, reads, and writes in one
    transaction."""

    engine: sa.Engine

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
