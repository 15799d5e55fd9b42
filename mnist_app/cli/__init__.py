"""The command line, `python -m mnist_app`: `main` reads the command and its flags and runs it.

One module per family of commands: `train` (train, runs, reproduce), `experiments` (sweep,
resume, compare, delete, export), `code`, `robustness` and `challenge` (create, list, board);
what they share (the settings' flags, following a run, the stored run a command names) is in
`shared`, a run's one JSON shape in `run_json`, and what they print (progress and tables, with
rich) in `terminal`.
"""

from __future__ import annotations

import argparse
import sys

from mnist_app.cli.challenge import add_challenge_commands
from mnist_app.cli.code import add_code_command
from mnist_app.cli.experiments import add_experiment_commands
from mnist_app.cli.robustness import add_robustness_command
from mnist_app.cli.shared import INTERRUPTED_EXIT, FlagError
from mnist_app.cli.train import add_train_commands
from mnist_app.engine.config import ConfigError
from mnist_app.runs.environment import check_environment
from mnist_app.runs.store import StoreError

DESCRIPTION = "Command line: train, list runs, reproduce the course notebooks."


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m mnist_app`."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        check_environment()
        return args.handler(args)
    except (ConfigError, FlagError, StoreError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # before a run started, or while its table was printed
        print("interrupted", file=sys.stderr)
        return INTERRUPTED_EXIT


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mnist_app", description=DESCRIPTION)
    commands = parser.add_subparsers(required=True, metavar="command")
    add_train_commands(commands)
    add_experiment_commands(commands)
    add_code_command(commands)
    add_robustness_command(commands)
    add_challenge_commands(commands)
    return parser
