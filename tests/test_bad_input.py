"""The hostile-input table: every bad input gets a clear message, and nothing is lost.

Each row is something a visitor, a student or a careless admin can hand the app: a CLI flag, a
layer plan, an image, a model file, a data file, a stored row, an API id, a URL parameter, an
environment value. Each is tried for real and must (1) be refused or handled with a message that
says what is wrong, and (2) leave everything else as it was: the runs already stored, the
genuine MNIST, the shipped model.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import sqlite3
import sys
import threading
import tracemalloc
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import hostile
import keras
import numpy as np
import pytest
import services
from PIL import Image
from polling import until
from services import free_port
from starlette.requests import Request
from streamlit.testing.v1 import AppTest
from test_classset import canvas_png, png_claiming
from test_text import (
    HOSTILE_HTML,
    ISSUE_LABEL,
    PLOTLY_TEMPLATE_FIELD,
    TERMINAL_ESCAPES,
    plotly_shows,
    plotly_tags,
)

import mnist_app.runs.managers as managers
from mnist_app import cli
from mnist_app.drawing.classset import ClassSet
from mnist_app.drawing.predict import (
    ModelFileError,
    default_model_path,
    load_model,
    model_card,
    read_digit,
)
from mnist_app.drawing.preprocess import canvas_to_mnist
from mnist_app.drawing.uploads import MAX_CANVAS_BYTES, ImageError, read_canvas_value, read_upload
from mnist_app.engine.config import ConfigError, RunConfig
from mnist_app.engine.data import DataError, dataset_path, load_mnist
from mnist_app.engine.records import Outcome
from mnist_app.engine.status import RunStatus
from mnist_app.experiments.comparison import choice_label
from mnist_app.experiments.sweeps import Sweep, make_vary
from mnist_app.figures import charts
from mnist_app.figures.live import live_endpoint, live_view, sweep_endpoint
from mnist_app.i18n import translate
from mnist_app.runs import database
from mnist_app.runs.jobs import TrainingManager
from mnist_app.runs.lockout import CodeLimiter
from mnist_app.runs.owners import AccessError, ClassRules, Visitor, check_start
from mnist_app.runs.store import RunStore, StoreError, UnreadableRun, UnreadableRunError


@dataclass(frozen=True)
class World:
    """What must survive every bad input: a store holding one finished run, and a scratch dir."""

    home: Path
    store: RunStore
    good_run: str
    scratch: Path
    made: list[str]  # runs a row stores on purpose (e.g. a hand-edited one): not "appeared"


def refused(error_type: type[Exception], action: Callable[[], object]) -> str:
    """Run `action`, which must raise `error_type`; the message it gave."""
    with pytest.raises(error_type) as caught:
        action()
    return str(caught.value)


def cli_refuses(*argv: str) -> Callable[[World, pytest.CaptureFixture], str]:
    """A CLI command that must exit 2 with a one-line error on stderr and no traceback."""

    def run(world: World, capsys) -> str:
        code = cli.main(list(argv))
        err = capsys.readouterr().err
        assert code == 2, err
        assert "Traceback" not in err and err.startswith("error: ")
        return err

    return run


def _png(mode: str, size=(60, 60), value=0) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, value).save(buffer, format="PNG")
    return buffer.getvalue()


def _npz(world: World, **changes) -> Path:
    x_train, y_train, x_test, y_test = load_mnist()
    arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    path = world.scratch / "mnist-bad.npz"
    np.savez(path, **(arrays | changes))
    return path


def _load_data_from(path: Path, monkeypatch) -> Callable[[], object]:
    def action():
        monkeypatch.setenv("MNIST_LAB_DATA", str(path))
        load_mnist.cache_clear()
        try:
            return load_mnist()
        finally:
            monkeypatch.delenv("MNIST_LAB_DATA")
            load_mnist.cache_clear()

    return action


def _keras_file(world: World, model: keras.Model) -> Path:
    path = world.scratch / f"{model.name}.keras"
    model.save(path)
    return path


def _corrupt_row(world: World, column: str, value: str) -> str:
    run_id = world.store.create(RunConfig())
    with sqlite3.connect(world.store.path) as db:
        db.execute(f"UPDATE runs SET {column}=? WHERE id=?", (value, run_id))
    return run_id


# --- the table: (kind, what is handed in, how it is tried) -> the message it must give ----------
def lambda_model() -> keras.Model:
    return keras.Sequential(
        [keras.Input((28, 28)), keras.layers.Lambda(lambda x: x * 2), keras.layers.Flatten(),
         keras.layers.Dense(10, activation="softmax")], name="with_lambda",
    )  # fmt: skip


def wrong_input() -> keras.Model:
    return keras.Sequential(
        [keras.Input((32, 32)), keras.layers.Flatten(), keras.layers.Dense(10)], name="wrong_in"
    )


def wrong_output() -> keras.Model:
    return keras.Sequential(
        [keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(7)], name="wrong_out"
    )


def _cases(monkeypatch) -> dict[str, tuple[Callable, str]]:
    return {
        # CLI flags
        "cli --width 0": (cli_refuses("train", "--width", "0"), r"width: 0 is outside .*1\.\.2048"),
        "cli --learning-rate -1": (cli_refuses("train", "--learning-rate", "-1"), "learning_rate"),
        "cli --epochs 0": (cli_refuses("train", "--epochs", "0"), r"epochs: 0 .*1\.\.200"),
        "cli --batch-size 70000": (cli_refuses("train", "--batch-size", "70000"), "batch_size"),
        "cli --dropout 0.95": (cli_refuses("train", "--dropout", "0.95"), "dropout"),
        "cli --validation-size 60000": (
            cli_refuses("train", "--validation-size", "60000"),
            "validation_size",
        ),
        "cli --class-digits 51": (
            cli_refuses("train", "--class-digits", "51"),
            r"class_digits: 51 is outside .*0\.\.50",
        ),
        "cli --class-digits 3, an empty class set": (
            cli_refuses("train", "--class-digits", "3"),
            r"^error: class_digits: the class set has 0 drawings .*Class digits page or set",
        ),
        "cli --layers ,,,": (cli_refuses("train", "--layers", ",,,"), "names no layer"),
        "cli --layers dense100000000": (
            cli_refuses("train", "--layers", "dense100000000"),
            "needs 1..16384 units",
        ),
        "cli --layers conv100000x3": (
            cli_refuses("train", "--layers", "conv100000x3"),
            "filters must be 1..1024",
        ),
        "cli --layers bn x5000": (cli_refuses("train", "--layers", "bn " * 5000), "limit of 64"),
        "cli --layers conv32x99": (
            cli_refuses("train", "--layers", "conv32x99"),
            r"^error: layers: .*shrinks",
        ),
        "cli --layers dense4096 x40": (
            cli_refuses("train", "--layers", "dense4096 " * 40),
            "657,727,498 parameters",
        ),
        "cli whole set as one CNN batch": (
            cli_refuses(
                "train",
                "--arch",
                "cnn",
                "--filters",
                "256",
                "--validation-size",
                "0",
                "--batch-size",
                "60000",
            ),
            r"needs [\d,]+ MB .*cap of 1,024 MB",
        ),  # fmt: skip
        "cli reproduce --presets ''": (
            cli_refuses("reproduce", "--presets", ""),
            "give at least one preset slug",
        ),
        "cli reproduce --epochs 0": (
            cli_refuses("reproduce", "--presets", "chollet-512", "--epochs", "0"),
            r"--epochs: 0 is outside the allowed range 1\.\.200",
        ),
        "cli reproduce --lessons unknown": (
            cli_refuses("reproduce", "--lessons", "004-width,no-such-lesson"),
            r"--lessons: unknown lesson\(s\) no-such-lesson \(known: 004-width, ",
        ),
        "cli reproduce --limit -5": (
            cli_refuses("reproduce", "--presets", "chollet-512", "--limit", "-5"),
            "--limit",
        ),
        "cli challenge create --metric speed": (
            cli_refuses("challenge", "create", "--title", "t", "--metric", "speed"),
            "--metric: 'speed' is not a metric",
        ),
        "cli challenge create --deadline friday": (
            cli_refuses("challenge", "create", "--title", "t", "--deadline", "friday"),
            "--deadline: 'friday' is not a date and time",
        ),
        "cli train --challenge unknown": (
            cli_refuses("train", "--challenge", "0123456789ab"),
            "--challenge: there is no challenge",
        ),
        "cli --export to a folder": (
            lambda w, c: cli_refuses("train", "--export", str(w.scratch))(w, c),
            "is a folder",
        ),
        "cli --export x.h5": (
            lambda w, c: cli_refuses("train", "--export", str(w.scratch / "x.h5"))(w, c),
            r"\.keras",
        ),
        # layer plans, as the Train page and the engine take them
        "plan conv after dense": (
            lambda w, c: refused(ConfigError, lambda: RunConfig(layers="dense10 conv8x3")),
            "comes after a dense layer",
        ),
        "plan drop1": (
            lambda w, c: refused(ConfigError, lambda: RunConfig(layers="drop1")),
            r"dropout must be in \[0, 1\)",
        ),
        "plan markdown": (
            lambda w, c: refused(ConfigError, lambda: RunConfig(layers="[x](http://a.b)")),
            "is not a layer",
        ),
        # images
        "image: text file": (
            lambda w, c: refused(ImageError, lambda: read_upload(b"hello, not a picture")),
            "not_image",
        ),
        "image: truncated PNG": (
            lambda w, c: refused(ImageError, lambda: read_upload(_png("L")[:60])),
            "broken",
        ),
        "image: GIF": (
            lambda w, c: refused(ImageError, lambda: read_upload(_gif())),
            "not_image: GIF",
        ),
        "image: decompression bomb": (
            lambda w, c: refused(ImageError, lambda: read_upload(_png("1", (20_000, 20_000)))),
            "bomb",
        ),
        "image: over 10 MB": (
            lambda w, c: refused(ImageError, lambda: read_upload(b"\0" * (11 * 2**20))),
            "too_big",
        ),
        "image: empty canvas": (
            lambda w, c: str(canvas_to_mnist(np.zeros((280, 280, 4), np.uint8))),
            "None",
        ),
        "image: blank 16-bit PNG": (
            lambda w, c: str(canvas_to_mnist(read_upload(_png("I;16", value=40_000)))),
            "None",
        ),
        # the Draw page's canvas value, sent by a websocket client rather than the canvas
        "canvas: 9000×9000 PNG": (
            lambda w, c: _forged_canvas(_data_url(_png("1", (9000, 9000)))),
            r"^wrong_size: .*not the size of this canvas",
        ),
        "canvas: 20000×20000 PNG": (
            lambda w, c: _forged_canvas(_data_url(png_claiming(20_000, 20_000))),
            r"^wrong_size: .*not the size of this canvas",
        ),
        "canvas: a data URL that is not an image": (
            lambda w, c: _forged_canvas(_data_url(b"hello, not a picture")),
            r"^not_image: .*is not a PNG image",
        ),
        "canvas: a data URL without ;base64,": (
            lambda w, c: _forged_canvas("data:image/png," + "A" * 100),
            r"^not_canvas: .*not a PNG image from this canvas",
        ),
        "canvas: a JPEG data URL": (
            lambda w, c: _forged_canvas(_data_url(canvas_png(), "data:image/jpeg;base64,")),
            r"^not_canvas: .*not a PNG image from this canvas",
        ),
        "canvas: not base64": (
            lambda w, c: _forged_canvas("data:image/png;base64,<script>alert(1)</script>"),
            r"^not_canvas: .*not a PNG image from this canvas",
        ),
        "canvas: over 4 MB": (
            lambda w, c: _forged_canvas(_data_url(canvas_png() + b"\0" * MAX_CANVAS_BYTES)),
            r"^too_big: .*larger than a canvas drawing can be \(4 MB\)",
        ),
        "canvas: forged value on the Draw page": (
            lambda w, c: _draw_page_says(_data_url(_png("1", (9000, 9000)))),
            r"^The drawing that reached the server is not the size of this canvas, so it was not "
            r"read\. Clear the canvas \(bin\) and draw again\.$",
        ),
        # the class set's limits on drawings (a class server)
        "class set: a student over their limit": (
            lambda w, c: _class_set_over(monkeypatch, w, ClassRules(max_drawings=3), own=3),
            r"you already have 3 drawings in the class set, the limit for one student is 3",
        ),
        "class set: the class over its limit": (
            lambda w, c: _class_set_over(monkeypatch, w, ClassRules(max_class_drawings=5), own=0),
            r"the class set already holds 5 drawings, the class's limit of 5",
        ),
        # model files
        "model: missing": (
            lambda w, c: refused(ModelFileError, lambda: load_model(w.scratch / "none.keras")),
            "missing",
        ),
        "model: random bytes": (
            lambda w, c: refused(ModelFileError, lambda: load_model(_bytes(w, b"\x00garbage"))),
            "corrupt",
        ),
        "model: a zip that is not Keras": (
            lambda w, c: refused(ModelFileError, lambda: load_model(_zip(w))),
            "corrupt",
        ),
        "model: Lambda layer": (
            lambda w, c: refused(
                ModelFileError, lambda: load_model(_keras_file(w, lambda_model()))
            ),
            "unsafe",
        ),
        "model: 32x32 input": (
            lambda w, c: refused(ModelFileError, lambda: load_model(_keras_file(w, wrong_input()))),
            "wrong_shape",
        ),
        "model: 7 outputs": (
            lambda w, c: refused(
                ModelFileError, lambda: load_model(_keras_file(w, wrong_output()))
            ),
            "wrong_shape",
        ),
        "model: malformed card": (
            lambda w, c: json.dumps(model_card(_bytes(w, b"{not json", "card.json"))),
            "^{}$",
        ),
        # data files
        "data: missing file": (
            lambda w, c: refused(DataError, _load_data_from(w.scratch / "gone.npz", monkeypatch)),
            "gone.npz",
        ),
        "data: float images in [0, 1]": (
            lambda w, c: refused(
                DataError,
                _load_data_from(
                    _npz(w, x_train=load_mnist()[0].astype(np.float32) / 255), monkeypatch
                ),
            ),
            "x_train",
        ),
        "data: labels times 1000": (
            lambda w, c: refused(
                DataError,
                _load_data_from(
                    _npz(w, y_test=load_mnist()[3].astype(np.int64) * 1000), monkeypatch
                ),
            ),
            "y_test",
        ),
        "data: wrong shape": (
            lambda w, c: refused(
                DataError, _load_data_from(_npz(w, x_test=load_mnist()[2][:5]), monkeypatch)
            ),
            "x_test",
        ),
        "data: pickled objects": (
            lambda w, c: refused(
                ValueError,
                _load_data_from(_npz(w, y_train=np.array([object()] * 3)), monkeypatch),
            ),
            "pickle",
        ),
        # stored rows
        "row: config out of range": (
            lambda w, c: _unreadable(w, "config", json.dumps({"width": 5000})),
            "width: 5000",
        ),
        "row: config not a mapping": (
            lambda w, c: _unreadable(w, "config", "[1, 2, 3]"),
            "expected a mapping",
        ),
        "row: history not JSON": (lambda w, c: _unreadable(w, "history", "{oops"), "Expecting"),
        "row: unknown status": (lambda w, c: _unreadable(w, "status", "zombie"), "zombie"),
        "row: hostile progress figures": (
            lambda w, c: json.dumps(
                _view(w, _hostile_live(w)).to_json(), allow_nan=False, ensure_ascii=False
            ),
            r'"status": "running".*"text": "Epoch 1/5 · batch 0/0',
        ),
        # live API ids
        "api: 10,000-character id": (lambda w, c: str(_view(w, "x" * 10_000)), "^None$"),
        "api: SQL in the id": (lambda w, c: str(_view(w, "'; DROP TABLE runs; --")), "^None$"),
        "api: a viewing pass of é and …": (
            lambda w, c: _non_ascii_pass(monkeypatch, w),
            r'^404 \{"error":"no such run"\} \| 404 \{"error":"no such sweep"\}$',
        ),
        "api: a hidden run and sweep": (
            lambda w, c: _hidden_reads_as_unknown(monkeypatch, w),
            r'^404 \{"error":"no such run"\}$',  # as for an id nobody made
        ),
        "api: unreadable run": (
            lambda w, c: refused(
                UnreadableRunError, lambda: _view(w, _corrupt_row(w, "history", "[1]"))
            ),
            "history is not a list of epochs",
        ),
        # URL parameters
        "url /draw?model=[x](http://evil.example)": (
            lambda w, c: _page_markdown("pages/draw.py", model="[x](http://evil.example)"),
            r"^(?!.*\]\(http).*\\\[x\\\]",  # shown escaped, never as a link
        ),
        "url /train?run=[x](http://evil.example)": (
            lambda w, c: _page_markdown(
                "pages/train.py", run="[x](http://evil.example)", lang="en"
            ),
            r"^(?!.*\]\(http).*There is no run '\\\[x\\\]",  # said as text, never a link
        ),
        "url ?lang=klingon": (
            lambda w, c: _page_markdown("pages/train.py", lang="klingon"),
            "Entrenar",
        ),
        "url /train?run=../../etc/passwd": (
            lambda w, c: _page_markdown("pages/train.py", run="../../etc/passwd", lang="en"),
            r"There is no run '\\\.\\\.\\/\\\.\\\.\\/etc\\/passwd' here",  # as text
        ),
        "url /train?run=<a deleted run>": (
            lambda w, c: _train_link_to_deleted(w),
            r"^There is no run '[0-9a-f]{12}' here: .* or the run was deleted",
        ),
        "url /train?run=<another student's hidden run>": (
            lambda w, c: _train_link_to_hidden(monkeypatch, w),
            r"^There is no run '[0-9a-f]{12}' here: the link may be old",  # as for no run at all
        ),
        "url /train?preset=nope&learning_rate=nan, page run again": (
            lambda w, c: _link_refusals_stay(),
            r"^The link names a preset, «nope», .* \| The link's Learning rate «nan» is not",
        ),
        "url /compare?runs= with 5,000 ids": (
            lambda w, c: _compare_five_thousand(w),
            r"^2,500 parts of the address are not valid run ids: skipped \(x0, x1, x2, x3, x4, "
            r"…\)\. \| There are no runs 000000000000, 000000000001, .*, …: 8 skipped .* \| "
            r"The address names more than 10 runs: the first 10 are compared\.$",
        ),
        "image: pure noise": (
            lambda w, c: str(_reading_of(np.random.default_rng(0).integers(0, 256, (280, 280)))),
            "does not look like a digit",
        ),
        # what a student typed (a label), shown on everyone's pages and the teacher's terminal
        "label of HTML on Compare's charts": (
            lambda w, c: _compare_chart_shows(w),
            "^" + re.escape(f"{ISSUE_LABEL} | {HOSTILE_HTML}") + "$",
        ),
        "label with terminal escapes: compare": (
            lambda w, c: _cli_shows(c, "compare", *_escaped_labels(w)),
            r"(?s)old␛\]0;pwned␇␛\[31mred␀.*new\]0;pwned\[31mred",
        ),
        "stored escapes: runs": (
            lambda w, c: (
                _made(w, _corrupt_row(w, "preset", "p" + TERMINAL_ESCAPES)),
                _cli_shows(c, "runs"),
            )[1],
            r"p␛\]0;pwned␇␛\[31mred␀",
        ),
        "label with terminal escapes: runs --json": (
            lambda w, c: _runs_json_label(w, c),
            "^" + re.escape("old" + TERMINAL_ESCAPES) + "$",
        ),
        "label with a right-to-left override in Compare's picker": (
            lambda w, c: _picker_shows(w),
            "^\u2068abcevil\u2069 · – · \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d · [0-9a-f]{12}$",
        ),
        # environment values
        "env MNIST_LAB_MAX_TRAININGS=abc": (
            lambda w, c: _env_refused(monkeypatch, "MNIST_LAB_MAX_TRAININGS", "abc", w),
            "'abc' is not a whole number of at least 1",
        ),
        "env MNIST_LAB_MAX_TRAININGS=0": (
            lambda w, c: _env_refused(monkeypatch, "MNIST_LAB_MAX_TRAININGS", "0", w),
            "'0' is not a whole number of at least 1",
        ),
        # A class server's owners and limits (the pages' checks: tests/test_access_pages.py)
        "owner id forged": (
            lambda w, c: _class_refuses(
                monkeypatch, w, lambda: Visitor.of("../" * 11).check_change("run x", STUDENT)
            ),
            "run x belongs to another student: only they or the teacher can change it",
        ),
        "teacher code wrong": (
            lambda w, c: _class_refuses(monkeypatch, w, lambda: Visitor.of(STUDENT, "profe ")),
            "not the teacher's code",
        ),
        "teacher code guessed from four tabs at once, new ids each try": (
            lambda w, c: _guessed_in_parallel(monkeypatch),
            r"^too many wrong codes: try again in 1 s$",
        ),
        "student over the runs-at-once limit": (
            lambda w, c: _over_limits(monkeypatch, w, ClassRules(max_active=1)),
            r"already have 1 run\(s\) queued or training, this adds 1, and the limit is 1",
        ),
        "student over the cost cap": (
            lambda w, c: _over_limits(monkeypatch, w, ClassRules(max_cost=1e9)),
            r"this run costs [\d,]+ .*, \d+\.\d× the class limit of 1,000,000,000",
        ),
        "env MNIST_LAB_MAX_PARAMS=lots": (
            lambda w, c: refused(
                ConfigError,
                lambda: (
                    monkeypatch.setenv("MNIST_LAB_MAX_PARAMS", "lots"),
                    RunConfig(),
                ),  # fmt: skip
            ),
            "MNIST_LAB_MAX_PARAMS: 'lots'",
        ),
        "env MNIST_LAB_HOME under a file": (
            lambda w, c: refused(StoreError, lambda: RunStore(_bytes(w, b"x", "f") / "home")),
            "cannot use .* make it writable",
        ),
        # a class server's database URL ($MNIST_LAB_DATABASE_URL), tried by the CLI
        "env database URL: not a URL": (
            _database_refused(monkeypatch, "just some words"),
            "is not a database URL .*postgresql://user:password@host:5432/mnist_lab",
        ),
        "env database URL: MySQL": (
            _database_refused(monkeypatch, "mysql://ana:s3cret@db.school/lab"),
            r"mysql://ana:\*\*\*@db.school/lab: MNIST Lab keeps its runs in PostgreSQL or SQLite",
        ),
        "env database URL: no database name": (
            _database_refused(monkeypatch, "postgresql://ana:s3cret@db.school"),
            "names no database: end it with /NAME",
        ),
        "env database URL: nobody listens": (
            _database_refused(monkeypatch, f"postgresql://ana:s3cret@127.0.0.1:{free_port()}/lab"),
            r"cannot use postgresql\+psycopg://ana:\*\*\*@127.0.0.1:\d+/lab: .*(refused|failed)",
        ),
        "env database URL: psycopg not installed": (
            lambda w, c: (
                monkeypatch.setitem(sys.modules, "psycopg", None),
                _database_refused(monkeypatch, "postgresql://ana@db.school/lab")(w, c),
            )[1],
            "driver is not installed: pip install -r requirements-server.txt",
        ),
        # a class server's Ray cluster ($MNIST_LAB_RAY_ADDRESS), tried by `train`
        "env Ray address: not an address": (
            _ray_refused(monkeypatch, "http://head.school"),
            "MNIST_LAB_RAY_ADDRESS: 'http://head.school' is not a Ray address: give auto, ",
        ),
        "env Ray address: Ray not installed": (
            lambda w, c: (
                monkeypatch.setitem(sys.modules, "ray", None),
                _ray_refused(monkeypatch, "auto")(w, c),
            )[1],
            "Ray is not installed: pip install -r requirements-server.txt",
        ),
        "env Ray address: no shared database": (
            _ray_refused(monkeypatch, "auto"),
            "needs the shared database its workers save runs to: set MNIST_LAB_DATABASE_URL",
        ),
        "env Ray address: nobody listens": (
            lambda w, c: (
                monkeypatch.setenv("MNIST_LAB_DATABASE_URL", f"sqlite:///{w.scratch}/shared.db"),
                _ray_refused(monkeypatch, f"127.0.0.1:{free_port()}")(w, c),
            )[1],
            r"nothing answers at 127.0.0.1:\d+ .*is `ray start --head` running there",
        ),
        "database gone mid-run": (
            lambda w, c: _database_gone_mid_run(w),
            "the database cannot be reached: training goes on here and saves again when it is back",
        ),
        "env database URL: SQLite in memory": (
            _database_refused(monkeypatch, "sqlite://"),
            "a SQLite store needs a file, sqlite:///PATH",
        ),
        # a sweep's cap counts runs, repeats included
        "cli sweep 4×3 grid --repeats 5": (
            hostile.sweep_refused(
                "--vary", "width=8,16,32,64", "--vary", "depth=1,2,3", "--repeats", "5"
            ),  # fmt: skip
            r"12 combinations × 5 repeats = 60 runs: a sweep trains at most 24 runs",
        ),
        "cli sweep 5 values --repeats 5": (
            hostile.sweep_refused("--vary", "width=8,16,32,64,128", "--repeats", "5"),
            r"^error: vary: 5 combinations × 5 repeats = 25 runs",
        ),
        # exports onto what a rename would replace, and with the umask's permissions
        "cli export --csv onto a symlink": (
            hostile.export_onto("symlink"),
            r"--csv: .*target-symlink is a symbolic link",
        ),
        "cli export --csv onto a pipe": (
            hostile.export_onto("pipe"),
            r"--csv: .*target-pipe is not a regular file",
        ),
        "cli export --csv onto a device": (
            hostile.export_onto("device"),
            r"--csv: .*target-device is not a regular file \(a device",
        ),
        "cli code --notebook onto a symlink": (
            hostile.export_onto("symlink", "code", "--notebook"),
            r"--notebook: .*target-symlink\.ipynb is a symbolic link",
        ),
        "cli train --export onto a device": (
            hostile.export_onto("device", "train", "--export"),
            r"--export: .*target-device\.keras is not a regular file",
        ),
        "cli export --csv under umask 027": (hostile.export_modes, "^new 0o640, old 0o604$"),
        # environment values, read as a fresh command starts
        "env MNIST_LAB_MAX_PARAMS=abc (runs)": (
            hostile.cli_process_refuses({"MNIST_LAB_MAX_PARAMS": "abc"}, "runs"),
            r"^error: MNIST_LAB_MAX_PARAMS: 'abc' is not a whole number of at least 1\n$",
        ),
        "env MNIST_LAB_MAX_ACTIVATION_MB=-5 (train)": (
            hostile.cli_process_refuses({"MNIST_LAB_MAX_ACTIVATION_MB": "-5"}, "train"),
            r"^error: MNIST_LAB_MAX_ACTIVATION_MB: '-5' is not a whole number of at least 1",
        ),
        "env MNIST_LAB_MAX_TRAININGS=lots (runs)": (
            hostile.cli_process_refuses({"MNIST_LAB_MAX_TRAININGS": "lots"}, "runs"),
            r"^error: MNIST_LAB_MAX_TRAININGS: 'lots' is not a whole number of at least 1",
        ),
        "env MNIST_LAB_RAY_CPUS=0 (runs)": (
            hostile.cli_process_refuses({"MNIST_LAB_RAY_CPUS": "0"}, "runs"),
            r"^error: MNIST_LAB_RAY_CPUS: '0' is not a whole number from 1 to 256",
        ),
        "env MNIST_LAB_MAX_PARAMS=1000 under a preset": (
            hostile.cli_process_refuses(
                {"MNIST_LAB_MAX_PARAMS": "1000"}, "train", "--preset", "chollet-512"
            ),
            r"^error: model_size: 407,050 parameters .* over the cap of 1,000",
        ),
        # a Ray address whose port accepts but is not Ray
        "env Ray address: a port that says nothing": (
            hostile.ray_not_ray(monkeypatch, None),
            r"127.0.0.1:\d+ accepts connections but is not a Ray head \(no answer in 2 s\)",
        ),
        "env Ray address: a port that answers garbage": (
            hostile.ray_not_ray(monkeypatch, b"220 smtp.example ESMTP ready\r\n" * 4),
            r"127.0.0.1:\d+ accepts connections but is not a Ray head \(it does not speak Ray\)",
        ),
        # a checkpoint that cannot be continued from
        "cli resume: truncated checkpoint": (
            hostile.resume_broken("truncated"),
            r"^error: run: run \w+'s checkpoint .*\.keras is broken \(not a whole \.keras file",
        ),
        "cli resume: checkpoint not a zip": (
            hostile.resume_broken("not a zip"),
            r"checkpoint .*\.keras is broken \(not a whole \.keras file: File is not a zip",
        ),
        # a full disk under a training run
        "disk full mid-run": (
            hostile.disk_full_mid_run,
            r"interrupted: Stopped: no space left on device \(.*small-disk/models\)\. It keeps its "
            r"last saved epoch \(1\): make room and continue it\.",
        ),
    }


def _page_markdown(page: str, **query: str) -> str:
    """Every piece of Markdown and text a page sent, opened with these URL parameters."""
    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "app.py"),
                           default_timeout=60)  # fmt: skip
    for name, value in query.items():
        at.query_params[name] = value
    at.run()
    at.switch_page(page).run()
    assert not at.exception
    shown = [*at.markdown, *at.info, *at.warning, *at.error, *at.title, *at.caption]
    return " | ".join(str(element.value) for element in shown)


def _train_link_to_deleted(world: World) -> str:
    """/train?run=<id> of a run deleted since: the page says there is no such run."""
    run_id = world.store.create(RunConfig(limit=300))
    world.store.record_outcome(run_id, Outcome(RunStatus.STOPPED))
    world.store.delete(run_id)
    at = _opened("pages/train.py", run=run_id, lang="en")
    return " | ".join(str(error.value) for error in at.error)


def _hidden_from_students(monkeypatch, world: World) -> tuple[str, str]:
    """A class server whose teacher hides each student's runs: another student's run and sweep
    (this visitor has no owner id: a student, not theirs)."""
    monkeypatch.setenv("MNIST_LAB_TEACHER_CODE", "profe")
    world.store.set_class_rules(ClassRules(everyone_sees_all=False))
    sweep = Sweep(RunConfig(limit=300), (make_vary("learning_rate", [0.001, 0.01]),))
    sweep_id = world.store.create_sweep(sweep.to_dict())
    run_id = world.store.create(RunConfig(limit=300), sweep_id=sweep_id, student=STUDENT)
    world.made.append(run_id)
    return run_id, sweep_id


def _train_link_to_hidden(monkeypatch, world: World) -> str:
    """/train?run=<a hidden run> reads word for word as /train?run=<no such run>."""
    hidden, _ = _hidden_from_students(monkeypatch, world)
    said = {}
    for run_id in (hidden, UNKNOWN):
        at = _opened("pages/train.py", run=run_id, lang="en")
        said[run_id] = " | ".join(str(e.value) for e in [*at.error, *at.warning, *at.info])
    assert said[hidden].replace(hidden, "ID") == said[UNKNOWN].replace(UNKNOWN, "ID")
    return said[hidden]


def _live_api(kind: str, item_id: str, **query: str) -> str:
    """What GET /api/{kind}s/{item_id}/live?{query} answers: its status and body."""
    endpoint = {"run": live_endpoint, "sweep": sweep_endpoint}[kind]
    request = Request({"type": "http", "method": "GET", "path": f"/api/{kind}s/{item_id}/live",
                       "query_string": urlencode(query).encode(), "headers": [],
                       "path_params": {f"{kind}_id": item_id}})  # fmt: skip
    response = endpoint(request)
    return f"{response.status_code} {response.body.decode()}"


def _non_ascii_pass(monkeypatch, world: World) -> str:
    """A hidden run's and sweep's live view asked with a viewing pass of é and …: no such."""
    run_id, sweep_id = _hidden_from_students(monkeypatch, world)
    tail = {"lang": "en", "pass": "é…" * 16}
    return f"{_live_api('run', run_id, **tail)} | {_live_api('sweep', sweep_id, **tail)}"


def _hidden_reads_as_unknown(monkeypatch, world: World) -> str:
    """The live API answers a hidden run or sweep exactly as one that does not exist."""
    run_id, sweep_id = _hidden_from_students(monkeypatch, world)
    for kind, hidden in (("run", run_id), ("sweep", sweep_id)):
        assert _live_api(kind, hidden, lang="en") == _live_api(kind, UNKNOWN, lang="en")
    return _live_api("run", run_id, lang="en")


def _link_refusals_stay() -> str:
    """What a link could not use is still said on the page's next runs (the student-id
    component's rerun came a moment after the first), until the student changes a setting."""
    at = _opened("pages/train.py", preset="nope", learning_rate="nan", lang="en")
    first = [str(w.value) for w in at.warning]
    assert len(first) == 2
    for _ in range(2):
        at.run()
        assert [str(w.value) for w in at.warning] == first
    assert at.select_slider(key="train_learning_rate").value == RunConfig().learning_rate
    at.select_slider(key="train_learning_rate").set_value(0.01).run()
    assert not at.warning  # the student changed something: the link's word is done
    return " | ".join(first)


def _compare_five_thousand(world: World) -> str:
    """/compare?runs= with two real runs, then 2,500 unknown ids and 2,500 malformed: one
    message per kind, the first ten ids looked up, the two runs compared."""
    other = world.store.create(RunConfig(limit=300))
    world.made.append(other)
    named = [world.good_run, other]
    for n in range(2500):
        named += [f"{n:012x}", f"x{n}"]
    at = _opened("pages/compare.py", runs=",".join(named), lang="en")
    assert at.multiselect(key="compare_runs").value == [world.good_run, other]
    return " | ".join(str(w.value) for w in at.warning)


def _opened(page: str, **query: str) -> AppTest:
    """The app opened on `page` with these URL parameters."""
    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "app.py"),
                           default_timeout=60)  # fmt: skip
    for name, value in query.items():
        at.query_params[name] = value
    at.run()
    at.switch_page(page).run()
    assert not at.exception
    return at


def _reading_of(image: np.ndarray) -> str:
    reading = read_digit(load_model(default_model_path()), image.astype(np.uint8), "unit")
    return "a digit" if reading.looks_like_digit else "does not look like a digit"


def _gif() -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (10, 10)).save(buffer, format="GIF")
    return buffer.getvalue()


def _bytes(world: World, data: bytes, name: str = "file.keras") -> Path:
    path = world.scratch / name
    path.write_bytes(data)
    return path


def _zip(world: World) -> Path:
    path = world.scratch / "not-keras.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hello.txt", "hi")
    return path


def _unreadable(world: World, column: str, value: str) -> str:
    run_id = _corrupt_row(world, column, value)
    (row,) = [row for row in world.store.rows() if row.id == run_id]
    assert isinstance(row, UnreadableRun)
    return row.reason


def _hostile_live(world: World) -> str:
    """A running run whose published figures were hand-edited into nonsense."""
    run_id = world.store.create(RunConfig())
    world.made.append(run_id)
    world.store.mark_running(run_id)
    figures = {"status": "zombie", "samples_seen": "many", "train_seconds": float("inf"),
               "batch": -3, "epochs": True}  # fmt: skip
    world.store.beat({run_id: figures})
    return run_id


def _view(world: World, run_id: str):
    return live_view(TrainingManager(world.store), run_id, "en")


def _ray_refused(monkeypatch, address: str) -> Callable[[World, pytest.CaptureFixture], str]:
    """`python -m mnist_app train` with MNIST_LAB_RAY_ADDRESS=address: exit 2, one line, no run
    started anywhere."""

    def run(world: World, capsys) -> str:
        monkeypatch.setenv("MNIST_LAB_RAY_ADDRESS", address)
        managers._shared = None
        try:
            return cli_refuses("train", "--limit", "300", "--epochs", "1")(world, capsys)
        finally:
            managers._shared = None

    return run


def _database_refused(monkeypatch, url: str) -> Callable[[World, pytest.CaptureFixture], str]:
    """`python -m mnist_app runs` with MNIST_LAB_DATABASE_URL=url: exit 2, one line, and never
    the URL's password."""

    def run(world: World, capsys) -> str:
        monkeypatch.setenv("MNIST_LAB_DATABASE_URL", url)
        said = cli_refuses("runs")(world, capsys)
        assert "s3cret" not in said
        return said

    return run


def _database_gone_mid_run(world: World) -> str:
    """A class server's PostgreSQL stopped under a training run: the run trains on and its live
    text says so; once the database is back, every epoch and the model are in it."""
    with services.postgres_server() as server:  # a server of its own, to pull the plug on
        url = services.new_database(server.url, "lab")
        manager = TrainingManager(RunStore(world.scratch / "server", url=url), max_concurrent=1)
        config = RunConfig(limit=300, validation_size=100, batch_size=32, epochs=2)
        run_id = manager.submit(config, paused=True)
        until(lambda: manager.snapshot(run_id).status is RunStatus.PAUSED, "it holds")
        server.stop()
        manager.resume(run_id)
        until(lambda: manager.snapshot(run_id).status is RunStatus.FINISHED
              and manager.snapshot(run_id).store_error, "it waits for the database")  # fmt: skip
        said = live_view(manager, run_id, "en").text
        server.start()
        manager.wait(run_id, 300)
        elsewhere = RunStore(world.scratch / "elsewhere", url=url)
        run = elsewhere.get(run_id)
        assert run.status is RunStatus.FINISHED and len(run.history) == config.epochs
        assert elsewhere.model_file(run_id) is not None
        database.dispose_engines()
    return said


def _guessed_in_parallel(monkeypatch) -> str:
    """Four sessions guess the teacher's code at once, each try under a made-up student id, on
    a clock that stands still: the server's one limiter lets 20 wrong codes through, then
    refuses every try, the right code too, and says how long to wait."""
    monkeypatch.setenv("MNIST_LAB_TEACHER_CODE", "profe")
    limiter, answers = CodeLimiter(clock=lambda: 0.0), []
    start = threading.Barrier(4)

    def tab(number: int) -> None:
        start.wait()
        for n in range(10):
            try:
                limiter.check(f"guess{n}", f"{number:016x}{n:016x}")
            except AccessError as error:
                answers.append(error.reason)

    tabs = [threading.Thread(target=tab, args=(number,)) for number in range(4)]
    for each in tabs:
        each.start()
    for each in tabs:
        each.join()
    assert answers.count("wrong_code") == 21 and answers.count("locked_out") == 19
    return refused(AccessError, lambda: limiter.check("profe", STUDENT))


def _class_refuses(monkeypatch, world: World, action: Callable[[], object]) -> str:
    """On a class server (a teacher's code set): `action` must raise AccessError."""
    monkeypatch.setenv("MNIST_LAB_TEACHER_CODE", "profe")
    return refused(AccessError, action)


def _over_limits(monkeypatch, world: World, rules: ClassRules) -> str:
    """A student with one run queued starts another under `rules`: refused, nothing queued."""
    world.store.set_class_rules(rules)
    waiting = world.store.create(RunConfig(limit=300), student=STUDENT)
    world.made.append(waiting)
    count = len(world.store.list())
    said = _class_refuses(
        monkeypatch, world, lambda: check_start(world.store, Visitor(STUDENT), [RunConfig()])
    )
    assert len(world.store.list()) == count
    return said


def _env_refused(monkeypatch, name: str, value: str, world: World) -> str:
    monkeypatch.setenv(name, value)
    return refused(ConfigError, lambda: TrainingManager(world.store))


TINY = RunConfig(limit=300, epochs=1, validation_size=100, batch_size=64, width=32)
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")  # not \t, \n


def _made(world: World, run_id: str) -> str:
    world.made.append(run_id)
    return run_id


def _labelled(world: World, label: str, raw: bool = False) -> str:
    """A run with this label: given as a student gives it (store.set_label), or `raw`, written
    into the database as it is (a row stored before labels were cleaned)."""
    if raw:
        return _made(world, _corrupt_row(world, "label", label))
    run_id = _made(world, world.store.create(RunConfig()))
    world.store.set_label(run_id, label, "")
    return run_id


def _compare_chart_shows(world: World) -> str:
    """A trained run labelled with HTML, on the Compare page's two charts (the page's own
    function): every name, title and hover shows it as text, never a tag, link or field."""
    manager = TrainingManager(world.store)
    run_id = _made(world, manager.submit(TINY))
    assert manager.wait(run_id, 300).status is RunStatus.FINISHED
    world.store.set_label(run_id, ISSUE_LABEL, "")
    assert world.store.get(run_id).label == ISSUE_LABEL  # kept as typed: the chart shows text
    names = [_chart_name(world, run_id, ISSUE_LABEL)]
    with sqlite3.connect(world.store.path) as db:  # a longer one, stored before the escaping
        db.execute("UPDATE runs SET label=? WHERE id=?", (HOSTILE_HTML, run_id))
    return " | ".join([*names, _chart_name(world, run_id, HOSTILE_HTML)])


def _chart_name(world: World, run_id: str, label: str) -> str:
    """The name plotly.js shows for the run on both charts, checked in every string of their
    JSON: the label's tags are text, the hover's only fields are the chart's own."""
    run, other = world.store.get(run_id), world.store.get(world.good_run)
    for metric in ("loss", "accuracy"):
        figure = charts.compare_curves_figure([run, other], metric)
        for key, text in _strings(figure.to_plotly_json()):
            if key == "hovertemplate":
                assert set(plotly_tags(text)) <= {"<br>", "<extra>", "</extra>"}, text
                fields = [m.group(1) for m in PLOTLY_TEMPLATE_FIELD.finditer(text)]
                assert fields == ["x", "y"], text
                assert plotly_shows(text.split("<br>")[0]).startswith(label + " · ")
            else:
                assert not plotly_tags(text), (key, text)
        assert {trace.name for trace in figure.data} == {figure.data[0].name}
    return plotly_shows(figure.data[0].name)


def _strings(value, key: str = "") -> list[tuple[str, str]]:
    """Every string in a figure's JSON, with the key it is under."""
    if isinstance(value, str):
        return [(key, value)]
    if isinstance(value, dict):
        return [pair for k, v in value.items() for pair in _strings(v, k)]
    if isinstance(value, list | tuple):
        return [pair for v in value for pair in _strings(v, key)]
    return []


def _escaped_labels(world: World) -> list[str]:
    """Two runs labelled with terminal escapes: one stored raw (before the cleaning), one typed
    now (cleaned where it entered: the escapes' visible characters kept, nothing else)."""
    old = _labelled(world, "old" + TERMINAL_ESCAPES, raw=True)
    new = _labelled(world, "new" + TERMINAL_ESCAPES)
    assert world.store.get(new).label == "new]0;pwned[31mred"
    return [old, new]


def _cli_shows(capsys, *argv: str) -> str:
    """What a CLI command printed, which must hold no control character (a terminal would obey
    it: set its title, its colours)."""
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    assert code == 0, err
    assert not CONTROL.search(out + err), repr(out + err)
    return out


def _runs_json_label(world: World, capsys) -> str:
    """`runs --json` with a label stored raw: the JSON escapes it, and gives it back whole."""
    run_id = _labelled(world, "old" + TERMINAL_ESCAPES, raw=True)
    rows = json.loads(_cli_shows(capsys, "runs", "--json"))
    return next(row["label"] for row in rows if row["id"] == run_id)


def _picker_shows(world: World) -> str:
    """A label with U+202E (right-to-left override) in Compare's picker (the page's format_func):
    stored raw, it is isolated, so the accuracy, date and id after it read in order; typed now,
    the override never reaches the store."""
    typed = _labelled(world, "abc\u202eevil")
    assert world.store.get(typed).label == "abcevil"
    return choice_label(world.store.get(_labelled(world, "abc\u202eevil", raw=True)), "en")


def _data_url(data: bytes, header: str = "data:image/png;base64,") -> str:
    return header + base64.b64encode(data).decode()


def _forged_canvas(data_url: str) -> str:
    """A canvas value sent by hand, checked as the Draw page checks it: refused before anything
    is decoded (the memory taken stays under the value's own size and 1 MB; decoding a
    9000×9000 one took 507 MB), with the reason and the page's message."""
    tracemalloc.start()
    try:
        with pytest.raises(ImageError) as caught:
            read_canvas_value(data_url, 280)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < len(data_url) + 2**20, f"{peak:,} bytes"
    reason = caught.value.reason
    return f"{reason}: " + translate(f"draw.canvas_error.{reason}", "en", limit=4)


# The Draw page's canvas step, given a forged value (AppTest cannot drive the canvas itself).
CHECKED_CANVAS_SCRIPT = """
import streamlit as st
from streamlit_drawable_canvas import CanvasResult

from mnist_app.ui.canvas import checked_drawing

drawing = checked_drawing(CanvasResult(None, st.session_state["forged"], True), 280)
st.write("nothing read" if drawing is None else "read")
"""


def _draw_page_says(data_url: str) -> str:
    """The page's one plain line for a forged canvas value: no traceback, no server path, and
    the page goes on with nothing read."""
    at = AppTest.from_string(CHECKED_CANVAS_SCRIPT, default_timeout=30)
    at.session_state["lang"] = "en"
    at.session_state["forged"] = data_url
    at.run()
    assert not at.exception
    assert [m.value for m in at.markdown] == ["nothing read"]
    said = " | ".join(str(e.value) for e in at.error)
    assert "Traceback" not in said and not re.search(r"/(work|root|usr|tmp)/", said)
    return said


def _class_set_over(monkeypatch, world: World, rules: ClassRules, own: int) -> str:
    """A student adds a drawing to a class set holding `own` of theirs and others' up to 5:
    refused under `rules`, and the set is as it was."""
    monkeypatch.setenv("MNIST_LAB_TEACHER_CODE", "profe")  # a class server
    class_set = ClassSet(world.home)
    x, y = load_mnist()[2:]
    for i in range(max(own, 5)):
        class_set.add(int(y[i]), x[i], student=STUDENT if i < own else "6" * 32)
    before = class_set.arrays()
    said = refused(
        AccessError,
        lambda: class_set.add_drawing(7, canvas_png(), visitor=Visitor(STUDENT), rules=rules),
    )
    after = class_set.arrays()
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))
    return said


STUDENT = "5" * 32  # a well-formed owner id
UNKNOWN = "0a0b0c0d0e0f"  # a well-formed run id that no run has
CASE_NAMES = list(_cases(pytest.MonkeyPatch()))


@pytest.fixture
def world(lab_home, tmp_path) -> World:
    store = RunStore(lab_home)
    good = store.create(RunConfig(), preset="chollet-512")
    store.record_outcome(good, Outcome(RunStatus.FINISHED, test_accuracy=0.98, test_loss=0.07))
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    managers._shared = None
    yield World(lab_home, store, good, scratch, [])
    managers._shared = None


def test_the_table_is_long_enough():
    assert len(CASE_NAMES) >= 40


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def genuine_mnist() -> tuple[Path, str]:
    """The MNIST file every run trains on, read and checked once, and its bytes' digest."""
    load_mnist.cache_clear()
    x_train, y_train, _, _ = load_mnist()
    assert x_train.shape == (60_000, 28, 28) and list(y_train[:3]) == [5, 0, 4]
    return dataset_path(), file_digest(dataset_path())


@pytest.mark.parametrize("name", CASE_NAMES)
def test_bad_input_gets_a_clear_message_and_loses_nothing(
    name, world, capsys, monkeypatch, genuine_mnist
):
    before = {run.id: run for run in world.store.list()}
    action, message = _cases(monkeypatch)[name]
    said = action(world, capsys)
    assert re.search(message, said), f"{name}: {said!r}"
    # Nothing lost: the stored run is as it was, no half-made run appeared, the genuine MNIST
    # is still what every run trains on.
    monkeypatch.undo()
    after = {run.id: run for run in world.store.list() if run.id not in world.made}
    assert after == before
    # The same file, byte for byte, as the one read and checked at the start (reading all of it
    # again for each of the cases took 20 s); nothing the case read stays in the cache.
    load_mnist.cache_clear()
    path, digest = genuine_mnist
    assert dataset_path() == path and file_digest(path) == digest
