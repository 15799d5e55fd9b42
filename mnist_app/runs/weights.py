"""Weights over training as kept: each run's weight statistics by epoch (one part of the run
store), a continued run's earlier epochs read back from the runs it continues."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Protocol

import sqlalchemy as sa

from mnist_app.runs.database import StorePart, weight_stats
from mnist_app.runs.run import Run, UnreadableRunError

if TYPE_CHECKING:  # it imports TensorFlow (~3 s), which the store itself never needs
    from mnist_app.engine.weight_history import EpochWeights

MAX_ANCESTORS = 50  # continued runs followed back to find earlier epochs (a guard against loops)


class WeightStatsKept(StorePart):
    """A RunStore's weight statistics: per epoch, each layer's histogram and gradient norm."""

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


class KeptRuns(Protocol):
    """What recorded_weights reads from a RunStore: its runs and their weight statistics."""

    def get(self, run_id: str) -> Run | None: ...

    def weight_stats(self, run_id: str) -> list[tuple[int, list[dict]]]: ...


def recorded_weights(store: KeptRuns, run_id: str, parent: str | None = None) -> list[EpochWeights]:
    """A run's records by epoch; a continued run's earlier epochs come from the runs it continues.

    Empty for a run trained before weights were recorded.
    """
    from mnist_app.engine.weight_history import EpochWeights  # TensorFlow: once weights are read

    by_epoch = {epoch: payload for epoch, payload in store.weight_stats(run_id)}
    for _ in range(MAX_ANCESTORS):
        if parent is None:
            break
        first = min(by_epoch, default=math.inf)
        by_epoch |= {e: p for e, p in store.weight_stats(parent) if e < first}
        try:
            ancestor = store.get(parent)
        except UnreadableRunError:
            break
        parent = ancestor.parent if ancestor is not None else None
    return [EpochWeights.from_payload(e, by_epoch[e]) for e in sorted(by_epoch)]
