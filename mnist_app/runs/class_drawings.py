"""The class's own drawings as training data: the fixed fifth no model trains on, and the rest.

A run with `class_digits` N adds every drawing of the class set's training part to MNIST's
training images, N copies each. Which drawings is decided when the run is queued and kept with
it (`Run.class_drawings`): a Ray trainer on another machine reads those very drawings from the
shared database, a continued run goes on with its parent's, and a run's page can say what it
learnt from. The class set lives beside the runs (`RunStore.class_set_engine`); its table is
`database.class_digits`, and drawing/classset.py is what the pages add, list and score with.

The held-out fifth is fixed drawing by drawing: among the drawings of one digit, in the order
they were added (by id), the 1st, 6th, 11th, ... are held out. A new drawing falls on its side
by the same rule and never moves an older one, and every digit that has a drawing has one held
out. Deleting a drawing moves the later ones of its digit by one place; the leaderboard still
never scores a run on a drawing it trained on (`ModelChoice.trained_on`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from mnist_app.engine.config import ConfigError, RunConfig
from mnist_app.engine.data import Drawings
from mnist_app.engine.plan import IMAGE_SIDE
from mnist_app.runs.database import (
    CLASS_TABLES,
    StorePart,
    class_digits,
    engine_for,
    open_tables,
    read_rows,
    sqlite_url,
)
from mnist_app.runs.run import Run

CLASS_SET_FILE = "classset.sqlite3"  # beside runs.sqlite3, when there is no shared database
HOLD_OUT_EVERY = 5  # one drawing in five of each digit: the fifth no model trains on
MIN_DRAWINGS = 5  # fewer cannot be split into a part to train on and a part to score on


@dataclass(frozen=True)
class ClassSplit:
    """The class set's entry ids, oldest first: the part runs train on, and the held-out fifth."""

    train: tuple[int, ...]
    held_out: tuple[int, ...]

    def check(self) -> None:
        """ConfigError("class_digits", reason "class_set_too_small") unless both parts have
        drawings and the set has at least MIN_DRAWINGS."""
        total = len(self.train) + len(self.held_out)
        if total < MIN_DRAWINGS or not self.train or not self.held_out:
            raise ConfigError(
                "class_digits",
                f"the class set has {total} drawings ({len(self.train)} to train on, "
                f"{len(self.held_out)} held out): training with the class's digits needs at "
                f"least {MIN_DRAWINGS}, and a digit drawn at least twice (one held out, one to "
                "train on); add drawings on the Class digits page or set it to 0",
                reason="class_set_too_small",
                drawings=total,
                train=len(self.train),
                held_out=len(self.held_out),
                needed=MIN_DRAWINGS,
            )


def training_images(config: RunConfig, drawings: int) -> int:
    """The images a run trains on in an epoch: MNIST's, and `class_digits` copies of each of
    the `drawings` class drawings it adds."""
    return config.train_size + config.class_digits * drawings


def split_entries(entries: Iterable[tuple[int, int]]) -> ClassSplit:
    """(id, digit) pairs split into the training part and the held-out fifth (see above)."""
    seen: Counter[int] = Counter()
    train, held_out = [], []
    for entry_id, digit in sorted(entries):
        (held_out if seen[digit] % HOLD_OUT_EVERY == 0 else train).append(int(entry_id))
        seen[digit] += 1
    return ClassSplit(tuple(train), tuple(held_out))


def class_split(engine: sa.Engine) -> ClassSplit:
    """The class set's split as it stands."""
    table = class_digits.c
    return split_entries(
        (row.id, row.digit) for row in read_rows(engine, sa.select(table.id, table.digit), _SET)
    )


def drawings_to_train_on(engine: sa.Engine) -> tuple[int, ...]:
    """The ids a new run with `class_digits` trains on: the training part; ConfigError if the
    set is too small to split."""
    split = class_split(engine)
    split.check()
    return split.train


def load_drawings(engine: sa.Engine, ids: tuple[int, ...]) -> Drawings:
    """The drawings with these ids, in this order, as MNIST-like images; ConfigError if some
    were removed from the class set since."""
    table = class_digits.c
    rows = {}
    for start in range(0, len(ids), 500):  # a bounded IN (...) per query
        query = sa.select(table.id, table.digit, table.image)
        for row in read_rows(engine, query.where(table.id.in_(ids[start : start + 500])), _SET):
            rows[row.id] = row
    missing = [entry_id for entry_id in ids if entry_id not in rows]
    if not ids:
        raise ConfigError("class_digits", "the run was queued with no class drawings to train on")
    if missing:
        raise ConfigError(
            "class_digits",
            f"{len(missing)} of the {len(ids)} class drawings this run trains on were removed "
            f"from the class set (ids {', '.join(map(str, missing[:5]))}): it cannot be trained",
            reason="class_drawings_gone",
            missing=len(missing),
        )
    images = np.zeros((len(ids), IMAGE_SIDE, IMAGE_SIDE), np.uint8)
    for i, entry_id in enumerate(ids):
        images[i] = np.frombuffer(rows[entry_id].image, np.uint8).reshape(IMAGE_SIDE, IMAGE_SIDE)
    digits = np.array([rows[entry_id].digit for entry_id in ids], np.uint8)
    return Drawings(images, digits, tuple(ids))


_SET = "the class set"


class ClassDrawingsKept(StorePart):
    """A RunStore's way to the class set beside it, and the drawings its runs train on."""

    directory: Path
    shares_models: bool  # a shared database: the class set is a table of it

    def class_set_engine(self) -> sa.Engine:
        """The class set's database: the shared one, else classset.sqlite3 beside the runs."""
        engine = self.engine
        if not self.shares_models:
            engine = engine_for(sqlite_url(self.directory / CLASS_SET_FILE))
        open_tables(engine, "class_set", CLASS_TABLES)
        return engine

    def class_drawings_for(self, config: RunConfig, parent: Run | None = None) -> tuple[int, ...]:
        """The class drawings a new run trains on: none without `class_digits`; a continued
        run's parent's; else the class set's training part now. ConfigError if the set is
        too small to split."""
        if not config.class_digits:
            return ()
        inherited = parent.class_drawings if parent is not None else ()
        return inherited or drawings_to_train_on(self.class_set_engine())
