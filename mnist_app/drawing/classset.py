"""The class set: digits the students drew, with the digit each meant: four fifths to train models
with (the Train setting `class_digits`), the fixed fifth held out to test every model on.

On a laptop it lives beside the run store, in its own SQLite file (classset.sqlite3) in the same
data directory: a teacher can copy, share or remove the class's drawings (a new term) without
touching the runs, and storing drawings never waits on the training's heartbeat writes to the
runs. On a class server it is a table of the shared database ($MNIST_LAB_DATABASE_URL).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import sqlalchemy as sa
from PIL import Image
from sqlalchemy import exc

from mnist_app.drawing.preprocess import evened_ink, fit, ink_image, measure_ink, work_to_mnist
from mnist_app.engine.data import scale_images
from mnist_app.engine.evaluation import predict_classes
from mnist_app.engine.plan import IMAGE_SIDE, NUM_CLASSES
from mnist_app.runs.class_drawings import CLASS_SET_FILE, ClassSplit, class_split, load_drawings
from mnist_app.runs.database import (
    CLASS_SET_LOCK,
    CLASS_TABLES,
    StoreError,
    class_digits,
    engine_for,
    first_line,
    one_writer_at_a_time,
    open_tables,
    read_rows,
    server_url,
    sqlite_url,
)
from mnist_app.runs.owners import ClassRules, Visitor
from mnist_app.runs.store import data_dir
from mnist_app.text import clean_user_text

if TYPE_CHECKING:
    import keras

FILE_NAME = CLASS_SET_FILE  # beside the runs' SQLite file
MAX_DRAWING_BYTES = 1 * 2**20  # a 280×280 canvas PNG is a few kB
MAX_DRAWING_PIXELS = 2048 * 2048  # checked on the PNG's header, before anything is decoded
MAX_NAME = 40  # characters
COPY_SIDE = 56  # the drawing is kept as a 56×56 grey PNG (≤ 3.3 kB), not the canvas's own PNG
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class ClassSetError(ValueError):
    """A digit the class set refuses; `reason` names why, for a translated message.

    Reasons: "label" (not a digit 0-9), "image" (not a 28×28 grey image), "empty" (no ink),
    "not_a_digit" (a scribble), "too_big", "not_png", "bomb" (the drawing's file), "name"
    (too long), "duplicate" (this very drawing is already in the set).
    """

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True)
class ClassDigit:
    """One drawing in the class set."""

    id: int
    created_at: float
    digit: int  # the digit the student meant
    image: np.ndarray  # 28×28 uint8, ink bright on black, as MNIST (what the network sees)
    name: str  # who drew it ("" if they did not say)
    student: str | None = None  # the owner id of the student who drew it (owners.py)


class ClassSet:
    """The class's digits: in the shared database, else in classset.sqlite3 (WAL)."""

    def __init__(self, directory: str | os.PathLike | None = None, url: str | None = None):
        self.directory = Path(directory) if directory else data_dir()
        self.path = self.directory / FILE_NAME  # the SQLite file, when there is no server
        url = url or server_url()
        if url is None:
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise StoreError(f"cannot use {self.path} for the class set ({error})") from error
        self.engine = engine_for(url or sqlite_url(self.path))
        open_tables(self.engine, "class_set", CLASS_TABLES)

    # Two ClassSets on one database are the same set: so they are for caches (class_scores.py).
    def __eq__(self, other: object) -> bool:
        return isinstance(other, ClassSet) and other.engine is self.engine

    def __hash__(self) -> int:
        return hash(self.engine)

    def _read(self, query: sa.Executable) -> list[sa.Row]:
        return read_rows(self.engine, query, "the class set")

    def _write(self, statement: sa.Executable) -> int:
        """Make one change; how many rows it touched."""
        with self._transaction() as db:
            return db.execute(statement).rowcount

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sa.Connection]:
        """One transaction; a database error as StoreError, but for IntegrityError (a rule
        of the table's, which the caller names)."""
        try:
            with self.engine.begin() as db:
                yield db
        except exc.IntegrityError:
            raise
        except exc.SQLAlchemyError as error:
            raise StoreError(f"cannot write the class set: {first_line(error)}") from error

    def add_drawing(
        self,
        digit: int,
        drawing: bytes,
        name: str = "",
        visitor: Visitor | None = None,
        rules: ClassRules | None = None,
    ) -> int:
        """Add a canvas PNG, drawn by `visitor`, as the 28×28 image the network sees (and a
        small copy of the drawing); its new id.

        ClassSetError if the label, the file or the name is refused, the canvas is empty or the
        ink does not look like a digit (a scribble); AccessError over the class's limits on
        drawings (`rules`, else the defaults). Nothing is stored then.
        """
        check_label(digit)
        picture = read_drawing(drawing)
        work = evened_ink(picture)
        if work is None:
            raise ClassSetError("empty")
        if not measure_ink(work).looks_like_digit:
            raise ClassSetError("not_a_digit")
        visitor = visitor or Visitor()
        values = self._values(digit, work_to_mnist(work), drawing, picture, name, visitor.owner)
        return self._insert(values, (rules or ClassRules(), visitor))

    def add(
        self,
        digit: int,
        image: np.ndarray,
        drawing: bytes | None = None,
        name: str = "",
        student: str | None = None,
    ) -> int:
        """Add a 28×28 image (uint8 0..255, or float in [0, 1]) meant as `digit`, drawn by
        `student` (an owner id); its new id. The class's limits are add_drawing's."""
        picture = read_drawing(drawing) if drawing is not None else None
        return self._insert(self._values(digit, image, drawing, picture, name, student))

    def _values(
        self,
        digit: int,
        image: np.ndarray,
        drawing: bytes | None,
        picture: np.ndarray | None,
        name: str,
        student: str | None,
    ) -> dict:
        """A new row: the 28×28 image, and of the drawing (`picture` decoded) a small copy and
        its file's digest, which finds the same drawing sent twice."""
        check_label(digit)
        pixels = image_bytes(image)
        name = clean_name(name)
        copy = digest = None
        if drawing is not None:
            copy, digest = drawing_copy(picture), hashlib.sha256(drawing).hexdigest()
        return dict(
            created_at=time.time(),
            digit=int(digit),
            image=pixels,
            drawing=copy,
            drawing_sha256=digest,
            name=name,
            student=student,
        )

    def _insert(self, values: dict, limits: tuple[ClassRules, Visitor] | None = None) -> int:
        """Store one row, its id; with `limits`, counted against them in the same transaction."""
        try:
            with self._transaction() as db:
                if limits is not None:  # two students' last drawings must not pass one count
                    one_writer_at_a_time(db, CLASS_SET_LOCK)
                    _check_limits(db, *limits)
                inserted = db.execute(class_digits.insert().returning(class_digits.c.id), values)
                return int(inserted.scalar_one())
        except exc.IntegrityError as error:
            raise ClassSetError("duplicate", "this drawing is already in the class set") from error

    def entries(self, digit: int | None = None, limit: int = 100_000) -> list[ClassDigit]:
        """Newest first, optionally only those meant as one digit."""
        table = class_digits.c
        query = sa.select(
            table.id, table.created_at, table.digit, table.image, table.name, table.student
        )
        if digit is not None:
            query = query.where(table.digit == int(digit))
        rows = self._read(query.order_by(table.id.desc()).limit(limit))
        return [
            ClassDigit(row.id, row.created_at, row.digit, _image(row.image), row.name, row.student)
            for row in rows
        ]

    def drawing(self, entry_id: int) -> bytes | None:
        """The PNG kept of one entry's drawing, if it has one: a 56×56 grey copy (a store from
        before it kept the canvas's own PNG: those read as they are)."""
        rows = self._read(
            sa.select(class_digits.c.drawing).where(class_digits.c.id == int(entry_id))
        )
        return bytes(rows[0].drawing) if rows and rows[0].drawing is not None else None

    def counts(self) -> list[int]:
        """How many drawings were meant as each digit, 0 to 9."""
        counts = [0] * NUM_CLASSES
        digit = class_digits.c.digit
        for row in self._read(sa.select(digit, sa.func.count()).group_by(digit)):
            counts[row[0]] = row[1]
        return counts

    def delete(self, entry_ids: list[int], visitor: Visitor | None = None) -> int:
        """Remove entries by id; how many went. With a `visitor`, only those they may change
        (on a class server a student's own drawings; the teacher's, any)."""
        ids = [int(entry_id) for entry_id in entry_ids]
        if not ids:
            return 0
        which = class_digits.c.id.in_(ids)
        if visitor is not None and not visitor.manages_all():
            if visitor.owner is None:  # (`== None` would match everyone's ownerless drawings)
                return 0
            which = which & (class_digits.c.student == visitor.owner)
        return self._write(class_digits.delete().where(which))

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """All entries, oldest first, in MNIST's layout: x uint8 N×28×28, y uint8 N."""
        table = class_digits.c
        rows = self._read(sa.select(table.digit, table.image).order_by(table.id))
        x = np.zeros((len(rows), IMAGE_SIDE, IMAGE_SIDE), np.uint8)
        for i, row in enumerate(rows):
            x[i] = _image(row.image)
        return x, np.array([row.digit for row in rows], np.uint8)

    def export_npz(self) -> bytes:
        """The class set as an .npz file read as MNIST is: np.load(f)["x"], np.load(f)["y"]."""
        x, y = self.arrays()
        buffer = io.BytesIO()
        np.savez_compressed(buffer, x=x, y=y)
        return buffer.getvalue()

    def split(self) -> ClassSplit:
        """The ids of the part runs train on and of the held-out fifth (class_drawings.py)."""
        return class_split(self.engine)

    def revision(self) -> str:
        """Changes whenever an entry is added or deleted (ids are never reused)."""
        ids = [row.id for row in self._read(sa.select(class_digits.c.id).order_by("id"))]
        return hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()

    def evaluate(
        self, model: keras.Model, scaling: str, trained_on: tuple[int, ...] = ()
    ) -> float | None:
        """The fraction of the held-out fifth (the drawings no run trains on: class_drawings.py)
        the model reads as meant, less any drawing it `trained_on`; None if there are none."""
        skip = set(trained_on)
        ids = tuple(i for i in class_split(self.engine).held_out if i not in skip)
        if not ids:
            return None
        held_out = load_drawings(self.engine, ids)
        x, y = held_out.images, held_out.digits
        batch = scale_images(x, scaling).reshape((len(x), *model.input_shape[1:]))
        predicted = predict_classes(model, batch).argmax(axis=1)
        return float(np.mean(predicted == y))


def check_label(digit: object) -> None:
    """ClassSetError("label") unless `digit` is a whole number 0 to 9."""
    if isinstance(digit, bool) or not isinstance(digit, int | np.integer) or not 0 <= digit <= 9:
        raise ClassSetError("label", f"{digit!r} is not a digit 0-9")


def image_bytes(image: np.ndarray) -> bytes:
    """A 28×28 image as 784 uint8 bytes; floats are read as [0, 1]. ClassSetError("image")."""
    image = np.asarray(image)
    if image.shape != (IMAGE_SIDE, IMAGE_SIDE) or image.dtype.kind not in "uif":
        raise ClassSetError("image", f"shape {image.shape}, {image.dtype}")
    if image.dtype.kind == "f":
        if not np.isfinite(image).all() or image.min() < 0 or image.max() > 1:
            raise ClassSetError("image", "float pixels must lie in [0, 1]")
        image = np.round(image * 255.0)
    elif image.min() < 0 or image.max() > 255:
        raise ClassSetError("image", "pixels must lie in 0..255")
    return image.astype(np.uint8).tobytes()


def _image(pixels: bytes) -> np.ndarray:
    return np.frombuffer(pixels, np.uint8).reshape(IMAGE_SIDE, IMAGE_SIDE)


def clean_name(name: str | None) -> str:
    """The drawer's name on one line, printable characters only; ClassSetError("name") if long."""
    name = clean_user_text(name or "")
    if len(name) > MAX_NAME:
        raise ClassSetError("name", f"more than {MAX_NAME} characters")
    return name


def _check_limits(db: sa.Connection, rules: ClassRules, visitor: Visitor) -> None:
    """AccessError if `visitor` may not add a drawing now (ClassRules.check_drawing)."""
    student = class_digits.c.student
    mine = student == visitor.owner if visitor.owner else student.is_(None)
    count = sa.select(sa.func.count()).select_from(class_digits)
    rules.check_drawing(visitor, db.scalar(count.where(mine)), db.scalar(count))


def drawing_copy(picture: np.ndarray) -> bytes:
    """A drawing's ink, bright on black, as a COPY_SIDE-pixel grey PNG: a few kB at most."""
    ink = fit(ink_image(picture), COPY_SIDE)
    buffer = io.BytesIO()
    Image.fromarray(np.round(ink * 255).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def read_drawing(drawing: bytes) -> np.ndarray:
    """A canvas PNG as a uint8 array; ClassSetError unless it is a small, whole PNG."""
    if not isinstance(drawing, bytes | bytearray) or len(drawing) > MAX_DRAWING_BYTES:
        raise ClassSetError("too_big", f"more than {MAX_DRAWING_BYTES:,} bytes")
    if not drawing.startswith(PNG_SIGNATURE):
        raise ClassSetError("not_png")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            picture = Image.open(io.BytesIO(drawing))  # reads the header only
            if picture.format != "PNG":
                raise ClassSetError("not_png", str(picture.format))
            if picture.width * picture.height > MAX_DRAWING_PIXELS:
                raise ClassSetError("bomb", f"{picture.width}×{picture.height} pixels")
            if picture.mode not in ("L", "RGB", "RGBA"):  # as the Draw page reads its canvas
                picture = picture.convert("RGBA")
            return np.asarray(picture)
    except ClassSetError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ClassSetError("bomb", str(error)) from error
    except (OSError, SyntaxError, ValueError) as error:  # truncated, corrupt, unidentified
        raise ClassSetError("not_png", str(error)) from error
