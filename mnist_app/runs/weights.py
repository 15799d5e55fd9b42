"""Weights over training as kept: each run's weight statistics by epoch, a continued run's
earlier epochs read back from the runs it continues."""

from __future__ import annotations

import math

from mnist_app.engine.weight_history import EpochWeights
from mnist_app.runs.store import RunStore, UnreadableRunError

MAX_ANCESTORS = 50  # continued runs followed back to find earlier epochs (a guard against loops)


def recorded_weights(store: RunStore, run_id: str, parent: str | None = None) -> list[EpochWeights]:
    """A run's records by epoch; a continued run's earlier epochs come from the runs it continues.

    Empty for a run trained before weights were recorded.
    """
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
