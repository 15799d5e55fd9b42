"""Waiting for something another thread, process or server does: poll, never sleep a guess."""

from __future__ import annotations

import time

WAIT = 300  # seconds for anything to happen on a loaded machine


def until(condition, what: str = "the condition held", timeout: float = WAIT):
    """Poll until `condition()` is truthy; its value. Fails saying `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.1)
    return value


def stop_all(manager, timeout: float = WAIT) -> None:
    """Stop every run active in the manager's store and wait for each to end, so that none is
    left holding a training slot (a thread, or a Ray trainer) for the next test."""
    for run in manager.store.active():
        manager.stop(run.id)
        manager.wait(run.id, timeout)
