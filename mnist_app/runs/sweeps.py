"""Sweeps as kept: each sweep's description, its runs and who started them (one part of the run
store; what a sweep is and how it is read lives in mnist_app.experiments.sweeps)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable

import sqlalchemy as sa

from mnist_app.runs.database import StorePart, runs, sweeps
from mnist_app.runs.run import Run, new_id, readable


class SweepsKept(StorePart):
    """A RunStore's sweeps."""

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
        return readable(rows)

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
