"""The states a run goes through, as stored, shown and compared."""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    """Where a run is in its life: waiting, training (or held), or how it ended."""

    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"  # live only: the store keeps saying "running" while a run is held
    FINISHED = "finished"
    STOPPED = "stopped"
    DIVERGED = "diverged"
    FAILED = "failed"
    INTERRUPTED = "interrupted"  # its process went away while it was queued or training

    @property
    def active(self) -> bool:
        """Queued, training or paused: it may still change."""
        return self in ACTIVE

    @property
    def scored(self) -> bool:
        """Ended with a model that was scored on the test set (and saved)."""
        return self in (RunStatus.FINISHED, RunStatus.STOPPED)


ACTIVE = frozenset({RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.PAUSED})
