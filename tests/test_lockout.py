"""The teacher's code limiter (mnist_app.runs.lockout) as a plain object on a clock the test moves:
one limiter for every session, per student and for the whole server, with a growing wait."""

import logging
import threading

import pytest

from mnist_app.runs.lockout import Allowance, CodeLimiter
from mnist_app.runs.owners import AccessError

CODE = "profe-2026"
ANA, BEA = "a" * 32, "b" * 32


class Clock:
    """Time as the test says: now, until it moves it."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    monkeypatch.setenv("MNIST_LAB_TEACHER_CODE", CODE)
    return Clock()


def attempt(limiter: CodeLimiter, code: str, student: str | None) -> tuple[str, int]:
    """What the limiter answered: ("ok", 0), or the refusal's reason and seconds."""
    try:
        limiter.check(code, student)
    except AccessError as error:
        return error.reason, error.values["seconds"]
    return "ok", 0


def test_a_student_s_wait_doubles_after_the_free_tries_and_a_locked_try_is_not_compared(clock):
    limiter = CodeLimiter(Allowance(free=2, longest_wait=8), Allowance(free=100), clock=clock)
    assert [attempt(limiter, "guess", ANA) for _ in range(2)] == [("wrong_code", 0)] * 2
    waits = []
    for _ in range(5):
        reason, seconds = attempt(limiter, "guess", ANA)
        assert reason == "wrong_code"
        waits.append(seconds)
        assert attempt(limiter, CODE, ANA) == ("locked_out", seconds)  # even the right code
        clock.now += seconds - 0.5
        assert attempt(limiter, CODE, ANA) == ("locked_out", 1)  # half a second left: says 1
        clock.now += 0.5
    assert waits == [1, 2, 4, 8, 8]  # growing, up to the longest wait
    assert attempt(limiter, "guess", BEA) == ("wrong_code", 0)  # another student: their own
    assert attempt(limiter, CODE, ANA) == ("ok", 0)
    assert attempt(limiter, "guess", ANA) == ("wrong_code", 0)  # the right code forgave them


def test_made_up_ids_and_parallel_sessions_share_one_server_wide_budget(clock):
    limiter = CodeLimiter(Allowance(free=3), Allowance(free=10), clock=clock)
    answers, start = [], threading.Barrier(4)

    def session(tab: int) -> None:  # four tabs, each a new made-up id per try
        start.wait()
        for n in range(10):
            answers.append(attempt(limiter, f"guess-{tab}-{n}", f"{tab:016x}{n:016x}"))

    tabs = [threading.Thread(target=session, args=(tab,)) for tab in range(4)]
    for tab in tabs:
        tab.start()
    for tab in tabs:
        tab.join()
    reasons = [reason for reason, _ in answers]
    # Ten free wrong codes for the whole server, the 11th sets a wait: all other 29 refused.
    assert reasons.count("wrong_code") == 11 and reasons.count("locked_out") == 29
    assert attempt(limiter, CODE, "c" * 32) == ("locked_out", 1)  # the teacher waits too
    clock.now += 1
    assert attempt(limiter, CODE, "c" * 32) == ("ok", 0)


def test_wrong_codes_are_forgotten_after_a_quiet_while_and_each_is_logged(clock, caplog):
    limiter = CodeLimiter(Allowance(free=1, forget_after=60), Allowance(free=50), clock=clock)
    with caplog.at_level(logging.WARNING, logger="mnist_app.runs.lockout"):
        assert attempt(limiter, "guess", None) == ("wrong_code", 0)
        assert attempt(limiter, "guess", None) == ("wrong_code", 1)
    assert len(caplog.records) == 2
    assert "wrong teacher's code from student (no id): 2 in a row" in caplog.records[1].message
    assert "guess" not in caplog.text  # what was typed stays out of the log
    clock.now += 61
    assert attempt(limiter, "guess", None) == ("wrong_code", 0)  # a fresh start
