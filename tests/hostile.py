"""Rows of tests/test_bad_input.py's table about a command's surroundings: its environment
values, the files it exports onto, a Ray address that is not Ray, a broken checkpoint, a full
disk. Each tries the real thing (real sockets on 127.0.0.1, a real tmpfs, real files)."""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import mnist_app.runs.managers as managers
import mnist_app.runs.ray_connection as ray_connection
import mnist_app.runs.training_job as training_job
from mnist_app import cli
from mnist_app.drawing.predict import default_model_path
from mnist_app.engine.config import RunConfig
from mnist_app.engine.data import PROJECT_ROOT
from mnist_app.engine.records import EpochRecord, Outcome
from mnist_app.engine.status import RunStatus
from mnist_app.runs import database
from mnist_app.runs.continuation import checkpoint_problem
from mnist_app.runs.jobs import TrainingManager
from mnist_app.runs.store import RunStore

Row = Callable[[object, pytest.CaptureFixture], str]


def cli_exit_2(capsys, *argv: str) -> str:
    """`python -m mnist_app ARGV` in this process: exit 2, one `error:` line, no traceback."""
    code = cli.main(list(argv))
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and err.startswith("error: ") and err.count("\n") == 1, err
    return err


def cli_process_refuses(env: dict[str, str], *argv: str) -> Row:
    """`python -m mnist_app ARGV` in a process of its own with `env` added: the environment is
    read as the command starts, so only a fresh process shows what a user sees."""

    def run(world, capsys) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "mnist_app", *argv], env=os.environ | env, cwd=PROJECT_ROOT,
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
        return done.stderr

    return run


# --- sweeps --------------------------------------------------------------------------------
def sweep_refused(*argv: str) -> Row:
    """`sweep ARGV`: refused before any run or sweep is stored."""

    def run(world, capsys) -> str:
        said = cli_exit_2(capsys, "sweep", "--limit", "300", "--epochs", "1", *argv)
        assert world.store.sweeps() == []
        return said

    return run


# --- exports -------------------------------------------------------------------------------
def _finished_run(world) -> str:
    """A run with one epoch of history, made on purpose."""
    run_id = world.store.create(RunConfig(limit=300, epochs=1))
    world.made.append(run_id)
    history = [EpochRecord(1, loss=0.5, accuracy=0.8, seconds=1.0)]
    world.store.record_outcome(
        run_id, Outcome(RunStatus.FINISHED, test_accuracy=0.8, test_loss=0.5, history=history)
    )
    return run_id


def _what_is_at(path: Path) -> tuple:
    """Enough of a path to see that nothing replaced it: its kind, link target and content."""
    info = path.lstat()
    target = os.readlink(path) if path.is_symlink() else None
    content = path.read_bytes() if stat.S_ISREG(info.st_mode) else None
    return stat.S_IFMT(info.st_mode), info.st_ino, info.st_rdev, target, content


def export_onto(kind: str, *command: str) -> Row:
    """`export RUN --csv PATH` (or `code --notebook PATH`, or `train --export PATH`) where PATH
    is a symbolic link, a pipe or a device: refused, and PATH is as it was (a rename would have
    put a regular file in its place)."""

    def run(world, capsys) -> str:
        real = world.scratch / "real.csv"
        real.write_text("kept\n")
        path = world.scratch / f"target-{kind}{'.ipynb' if 'code' in command else ''}"
        if command and command[0] == "train":
            path = world.scratch / f"target-{kind}.keras"
        if kind == "symlink":
            path.symlink_to(real)
        elif kind == "pipe":
            os.mkfifo(path)
        else:  # a character device like /dev/null, made here (we are root) rather than risked
            try:
                os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
            except PermissionError:
                pytest.skip("making a device node needs root")
        before = _what_is_at(path), real.read_bytes()
        argv = command or ("export", _finished_run(world), "--csv")
        said = cli_exit_2(capsys, *argv, str(path), *(("--limit", "300", "--epochs", "1")
                          if argv[0] == "train" else ()))  # fmt: skip
        assert (_what_is_at(path), real.read_bytes()) == before
        return said

    return run


def export_modes(world, capsys) -> str:
    """Under umask 027: a new export gets 0640 (open()'s 0666 less the umask, not mkstemp's
    0600), and an existing one keeps its own mode; both hold the history."""
    run_id = _finished_run(world)
    fresh, existing = world.scratch / "new.csv", world.scratch / "old.csv"
    existing.write_text("old\n")
    existing.chmod(0o604)
    old_mask = os.umask(0o027)
    try:
        for path in (fresh, existing):
            assert cli.main(["export", run_id, "--csv", str(path)]) == 0
    finally:
        os.umask(old_mask)
    assert fresh.read_text() == existing.read_text() != "old\n"
    modes = [oct(stat.S_IMODE(path.stat().st_mode)) for path in (fresh, existing)]
    return "new {}, old {}".format(*modes)


# --- Ray -----------------------------------------------------------------------------------
@contextlib.contextmanager
def _listener(answer: bytes | None) -> Iterator[int]:
    """A real TCP port on 127.0.0.1 that accepts every connection, then says `answer` (or
    nothing at all), and never speaks Ray; its port."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def serve() -> None:
        with contextlib.suppress(OSError):
            while True:
                connection, _ = server.accept()
                held.append(connection)
                if answer is not None:
                    with contextlib.suppress(OSError):
                        connection.sendall(answer)

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield server.getsockname()[1]
    finally:
        server.close()
        for connection in held:
            connection.close()


def ray_not_ray(monkeypatch, answer: bytes | None) -> Row:
    """`train` with MNIST_LAB_RAY_ADDRESS at a port that accepts but is not Ray: one line,
    exit 2, within the bound (lowered here from its 30 s) rather than never."""

    def run(world, capsys) -> str:
        assert ray_connection.ANSWER_SECONDS == 30.0  # the real default
        monkeypatch.setattr(ray_connection, "ANSWER_SECONDS", 2.0)
        monkeypatch.setenv("MNIST_LAB_DATABASE_URL", f"sqlite:///{world.scratch}/shared.db")
        with _listener(answer) as port:
            monkeypatch.setenv("MNIST_LAB_RAY_ADDRESS", f"127.0.0.1:{port}")
            managers._shared = None
            try:
                return cli_exit_2(capsys, "train", "--limit", "300", "--epochs", "1")
            finally:
                managers._shared = None

    return run


# --- a broken checkpoint -------------------------------------------------------------------
def resume_broken(how: str) -> Row:
    """`resume` of a stopped run whose checkpoint is cut short (or not a zip at all): named as
    broken, exit 2, and no new (failed) run in the store."""

    def run(world, capsys) -> str:
        run_id = _finished_run(world)
        path = world.store.model_path(run_id)
        whole = default_model_path().read_bytes()
        path.write_bytes(whole[: len(whole) // 2] if how == "truncated" else b"not a zip")
        world.store.record_outcome(run_id, Outcome(RunStatus.STOPPED, model_path=str(path),
                                   history=world.store.get(run_id).history))  # fmt: skip
        count = len(world.store.list())
        said = cli_exit_2(capsys, "resume", run_id, "--epochs", "1")
        assert len(world.store.list()) == count
        assert str(path) in said
        return said

    return run


# --- a full disk ---------------------------------------------------------------------------
class FillsUp(RunStore):
    """A run store on a small disk that fills up as soon as the first epoch is saved."""

    def record_epoch(self, run_id: str, history: list[dict], train_seconds: float) -> None:
        super().record_epoch(run_id, history, train_seconds)
        if len(history) == 1:
            with contextlib.suppress(OSError), open(self.directory / "filler", "wb") as out:
                while True:  # until the disk says ENOSPC: a really full disk
                    out.write(b"\0" * 65536)


# A CLI-like process: trains 3 epochs on a store at argv[1] that fills after epoch 1; prints
# the run id, then what `train` would say: its status and message, or its one-line error (a
# full disk may refuse even reading the store).
_TRAIN_ON_A_SMALL_DISK = """
import sys
sys.path.insert(0, sys.argv[2])
from hostile import FillsUp
from mnist_app.cli.shared import follow_run
from mnist_app.engine.config import RunConfig
from mnist_app.runs.jobs import TrainingManager
from mnist_app.runs.store import StoreError
manager = TrainingManager(FillsUp(sys.argv[1]), max_concurrent=1)
config = RunConfig(limit=300, validation_size=100, batch_size=32, epochs=3)
run_id = manager.submit(config)
print(run_id)
try:
    outcome = follow_run(manager, run_id, quiet=True)
    print(f"{outcome['status']}: {outcome['message']}")
except StoreError as error:
    print(f"error: {error}")
"""


def disk_full_mid_run(world, capsys) -> str:
    """The disk under the run store fills after epoch 1 of 3: the run ends at once (not after
    STORE_RETRY_SECONDS of waiting for a database), saying "no space left on device", and
    keeps epoch 1: its history and a whole checkpoint, from which it continues once there is
    room."""
    disk = world.scratch / "small-disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(disk)],
                             capture_output=True, text=True)  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")
    try:
        assert training_job.STORE_RETRY_SECONDS >= 300  # what a wait for the database would take
        done = subprocess.run(
            [sys.executable, "-c", _TRAIN_ON_A_SMALL_DISK, str(disk), str(Path(__file__).parent)],
            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=240,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        run_id, said = done.stdout.splitlines()[-2:]
        assert "outcome not saved: no space left on device" in done.stderr
        (disk / "filler").unlink()
        store = RunStore(disk)
        store.mark_interrupted()  # as the next command does: the process that trained is gone
        run = store.get(run_id)
        assert run.status is RunStatus.INTERRUPTED and len(run.history) == 1
        assert checkpoint_problem(store.model_path(run.id)) is None
        assert [path.name for path in disk.glob("models/.saving-*")] == []
        manager = TrainingManager(store, max_concurrent=1)
        more = manager.continue_run(run.id, 2)  # from epoch 1, now that there is room
        result = manager.wait(more, 600)
        assert result.status is RunStatus.FINISHED, result.message
        assert len(store.get(more).history) == 3
        return said
    finally:
        database.dispose_engines()
        subprocess.run(["umount", "-l", str(disk)], check=False)
