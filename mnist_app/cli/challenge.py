"""The command line's class challenges: `challenge create`, `challenge list`, `challenge board`,
and the challenge `train --challenge ID` enters (mnist_app.experiments.challenge ranks them)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime

from mnist_app.cli.shared import FlagError
from mnist_app.cli.terminal import challenge_table, challenges_table, table_console
from mnist_app.engine.config import RunConfig
from mnist_app.experiments.challenge import Board, config_over_limits, leaderboard, why, why_text
from mnist_app.runs.challenges import Challenge, ChallengeError, new_challenge, parse_metric
from mnist_app.runs.owners import shared_server
from mnist_app.runs.store import ID_PATTERN, RunStore


def add_challenge_commands(commands) -> None:
    """Add `challenge create|list|board` to the CLI's subparsers."""
    challenge = commands.add_parser("challenge", help="class challenges: create, list, board")
    actions = challenge.add_subparsers(required=True, metavar="action")

    create = actions.add_parser("create", help="open a challenge with its rules")
    create.add_argument("--title", required=True, help="what the class sees (1..80 characters)")
    create.add_argument("--max-params", type=int, metavar="N", help="at most N parameters")
    create.add_argument("--max-seconds", type=float, metavar="S", help="at most S s of training")
    create.add_argument("--max-epochs", type=int, metavar="E", help="at most E epochs")
    create.add_argument(
        "--metric",
        default="accuracy",
        help="accuracy (best test accuracy, the default) or epochs-to:T (fewest epochs to a "
        "validation accuracy of T, e.g. epochs-to:0.98)",
    )
    create.add_argument("--deadline", metavar="ISO", help="e.g. 2026-03-01T10:30 (local time)")
    create.add_argument("--json", action="store_true", help="print the challenge as JSON last")
    create.set_defaults(handler=_create_command)

    listing = actions.add_parser("list", help="every challenge, newest first")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_list_command)

    board = actions.add_parser("board", help="a challenge's leaderboard, best first")
    board.add_argument("challenge_id", metavar="ID")
    board.add_argument("--json", action="store_true")
    board.set_defaults(handler=_board_command)


def _create_command(args: argparse.Namespace) -> int:
    try:
        challenge = new_challenge(
            args.title,
            target=parse_metric(args.metric),
            max_params=args.max_params,
            max_seconds=args.max_seconds,
            max_epochs=args.max_epochs,
            deadline=parse_deadline(args.deadline) if args.deadline is not None else None,
        )
    except ChallengeError as error:
        raise FlagError("--" + error.field.replace("_", "-"), str(error)) from None
    RunStore().create_challenge(challenge)
    if args.json:
        print(json.dumps(challenge_json(challenge)))
    else:
        table_console().print(challenges_table([challenge]))
    return 0


def parse_deadline(text: str) -> float:
    """An ISO 8601 date and time (local time unless it says its zone) as a Unix time."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise FlagError(
            "--deadline",
            f"{text!r} is not a date and time: give one like 2026-03-01T10:30 (ISO 8601)",
        ) from None
    return moment.timestamp()  # a naive one is read as local time


def _list_command(args: argparse.Namespace) -> int:
    challenges = RunStore().challenges()
    if args.json:
        print(json.dumps([challenge_json(c) for c in challenges]))
    else:
        table_console().print(challenges_table(challenges))
    return 0


def _board_command(args: argparse.Namespace) -> int:
    store = RunStore()
    store.mark_interrupted()
    challenge = stored_challenge(store, args.challenge_id, "ID")
    board = leaderboard(challenge, store.challenge_entries(challenge.id), shared_server())
    if args.json:
        print(json.dumps(board_json(board)))
    else:
        table_console().print(challenge_table(board))
        if board.training:
            print(f"{board.training} more run(s) of this challenge still training", file=sys.stderr)
    return 0


def stored_challenge(store: RunStore, text: str, flag: str = "--challenge") -> Challenge:
    """The challenge an id names; FlagError if the id is malformed or names none."""
    challenge = store.challenge(text) if ID_PATTERN.fullmatch(text) else None
    if challenge is None:
        raise FlagError(flag, f"there is no challenge {text[:40]!r}: `challenge list` shows them")
    return challenge


def challenge_to_enter(store: RunStore, text: str, config: RunConfig) -> Challenge:
    """The open challenge `train --challenge ID` enters, checked before anything trains; the
    rules its settings will break are said on stderr (the run still enters, as not eligible)."""
    challenge = stored_challenge(store, text)
    if not challenge.is_open():
        raise FlagError("--challenge", f"the challenge {challenge.id} is closed")
    for broken in config_over_limits(challenge, config):
        print(f"note: not eligible for the challenge: {why_text(broken)}", file=sys.stderr)
    return challenge


def challenge_json(challenge: Challenge) -> dict:
    """A challenge's rules as JSON (times as ISO 8601 in local time, null if none)."""
    return {
        "challenge_id": challenge.id,
        "title": challenge.title,
        "metric": challenge.metric,
        "max_params": challenge.max_params,
        "max_seconds": challenge.max_seconds,
        "max_epochs": challenge.max_epochs,
        "deadline": _iso(challenge.deadline),
        "closed_at": _iso(challenge.closed_at),
        "open": challenge.is_open(),
    }


def board_json(board: Board) -> dict:
    """The leaderboard as JSON: the challenge and its entries, best first."""
    entries = [
        {
            "run_id": entry.run_id,
            "student": entry.student,
            "test_accuracy": entry.test_accuracy,
            "params": entry.params,
            "seconds": entry.seconds,
            "epochs": entry.epochs,
            "eligible": entry.eligible,
            "why": why(entry),
            "rank": board.rank(entry),
            "epochs_to_target": entry.epochs_to_target,
            "changes": entry.changes,
            "finished_at": entry.finished_at,
        }
        for entry in board.entries
    ]
    return {**challenge_json(board.challenge), "entries": entries, "training": board.training}


def _iso(moment: float | None) -> str | None:
    if moment is None:
        return None
    return datetime.fromtimestamp(moment).astimezone().isoformat(timespec="minutes")
