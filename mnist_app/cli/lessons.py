"""`reproduce --lessons`: train the notebooks' lessons and set each value's figures beside what
the notebook printed (experiments/notebook_figures.py), as a table or as JSON."""

from __future__ import annotations

import json
import sys

from mnist_app.cli.shared import INTERRUPTED_EXIT, FlagError, follow_run, training_manager
from mnist_app.cli.terminal import lessons_table, table_console
from mnist_app.engine.config import ConfigError
from mnist_app.engine.status import RunStatus
from mnist_app.experiments.lessons import LESSONS, Lesson, lesson_json, lesson_results
from mnist_app.experiments.sweeps import Sweep, setting_text, start_sweep

ALL = ()  # a bare --lessons: every lesson


def lesson_ids(text: str | tuple) -> list[str]:
    """The --lessons list: every lesson for a bare flag, else the ids given (all checked)."""
    if text == ALL:
        return list(LESSONS)
    ids = [slug.strip() for slug in text.split(",") if slug.strip()]
    known = ", ".join(LESSONS)
    if not ids:
        raise FlagError(
            "--lessons", f"give at least one lesson id, or none for all (known: {known})"
        )
    unknown = [slug for slug in ids if slug not in LESSONS]
    if unknown:
        raise FlagError("--lessons", f"unknown lesson(s) {', '.join(unknown)} (known: {known})")
    return list(dict.fromkeys(ids))


def lesson_sweeps(ids: list[str], changes: dict[str, int]) -> dict[str, Sweep]:
    """Each lesson's sweep with --limit / --epochs applied, every run checked before any trains."""
    sweeps = {}
    for slug in ids:
        try:
            sweeps[slug] = LESSONS[slug].sweep(**changes)
            sweeps[slug].configs()
        except ConfigError as error:
            raise ConfigError(f"lesson {slug}", str(error)) from None
    return sweeps


def reproduce_lessons(text: str | tuple, changes: dict[str, int], as_json: bool) -> int:
    """Train the lessons one after another; the table (or the JSON line) of every value."""
    sweeps = lesson_sweeps(lesson_ids(text), changes)
    manager = training_manager()
    printed, scored = [], False
    for slug, sweep in sweeps.items():
        lesson = LESSONS[slug]
        sweep_id = start_sweep(manager, sweep)
        runs = manager.store.sweep_runs(sweep_id)
        for run in runs:
            value = setting_text(lesson.setting, getattr(run.config, lesson.setting))
            print(f"{slug}: {value}", file=sys.stderr)
            outcome = follow_run(manager, run.id, quiet=as_json)
            if outcome["status"] == RunStatus.STOPPED:  # Ctrl-C: stop the lesson's other runs
                for other in runs:
                    manager.stop(other.id)
                return INTERRUPTED_EXIT
            scored = scored or RunStatus(outcome["status"]).scored
        printed.append(_lesson_json(lesson, manager.store.sweep_runs(sweep_id)))
    if as_json:
        print(json.dumps({"lessons": printed}))
    else:
        table_console().print(lessons_table(printed))
    return 0 if scored else 1


def _lesson_json(lesson: Lesson, runs) -> dict:
    return lesson_json(lesson, lesson_results(lesson, runs))
