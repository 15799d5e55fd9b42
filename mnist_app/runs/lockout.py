"""How fast anyone may guess the teacher's code: one limiter for the whole server.

Every session's "Enter as the teacher" goes through the same object, so four tabs (or forty)
guess no faster than one. Each student id has a few tries free (typos happen), then waits 1 s,
2 s, 4 s… up to five minutes after each wrong code; and since a browser can make up a new id at
will, the whole server has a budget too, with the same growing wait. A wrong code leaves a line
in the log; a code typed while locked out is not even compared. Wrong codes are forgotten after
a quarter of an hour without one, and a student's once they give the right code.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from mnist_app.runs.owners import AccessError, is_teacher_code

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Allowance:
    """How many wrong codes are free, and the wait after each one past them (doubling)."""

    free: int
    first_wait: float = 1.0
    longest_wait: float = 300.0
    forget_after: float = 900.0  # seconds without a wrong code, after which they are forgotten

    def wait(self, failures: int) -> float:
        """Seconds before the next try after `failures` wrong codes in a row."""
        if failures <= self.free:
            return 0.0
        return min(self.first_wait * 2 ** min(failures - self.free - 1, 30), self.longest_wait)


PER_STUDENT = Allowance(free=3)
WHOLE_SERVER = Allowance(free=20)


@dataclass
class _Tally:
    failures: int = 0
    last: float = -math.inf  # when the last wrong code came
    until: float = -math.inf  # no try before this time


class CodeLimiter:
    """The teacher's code, checked for every session of this server (thread-safe)."""

    def __init__(
        self,
        per_student: Allowance = PER_STUDENT,
        overall: Allowance = WHOLE_SERVER,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.per_student, self.overall, self._clock = per_student, overall, clock
        self._lock = threading.Lock()
        self._students: dict[str, _Tally] = {}
        self._everyone = _Tally()

    def check(self, code: str, student: str | None) -> None:
        """Nothing if `code` is the teacher's; else AccessError "wrong_code" (with `seconds`,
        the wait before the next try, 0 if none) or, while a wait lasts, "locked_out" (with the
        `seconds` left) without comparing the code."""
        key = student or ""  # every browser without an id shares one tally
        with self._lock:
            now = self._clock()
            mine = self._students.get(key) or _Tally()
            left = max(mine.until, self._everyone.until) - now
            if left > 0:
                seconds = math.ceil(left)
                raise AccessError(
                    "locked_out", f"too many wrong codes: try again in {seconds} s", seconds=seconds
                )
            if is_teacher_code(code):
                self._students.pop(key, None)
                return
            wait = max(
                self._count(mine, self.per_student, now),
                self._count(self._everyone, self.overall, now),
            )
            self._students[key] = mine
            self._forget(now)
            logger.warning(
                "wrong teacher's code from student %s: %d in a row from them, %d on the server; "
                "next try in %.0f s",
                student or "(no id)",
                mine.failures,
                self._everyone.failures,
                wait,
            )
        seconds = math.ceil(wait)
        raise AccessError("wrong_code", "that is not the teacher's code", seconds=seconds)

    def _count(self, tally: _Tally, allowance: Allowance, now: float) -> float:
        """One more wrong code on `tally`; the wait it now imposes."""
        if now - tally.last > allowance.forget_after:
            tally.failures = 0
        tally.failures += 1
        tally.last = now
        wait = allowance.wait(tally.failures)
        tally.until = now + wait
        return wait

    def _forget(self, now: float) -> None:
        """Drop the tallies of students quiet long enough (made-up ids must not pile up)."""
        quiet = self.per_student.forget_after
        for key in [k for k, t in self._students.items() if now - t.last > quiet]:
            del self._students[key]


TEACHER_CODE = CodeLimiter()  # the server's one limiter: every session checks codes through it
