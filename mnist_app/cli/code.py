"""The command line's `code`: print the code behind a run, and write it as a notebook."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mnist_app.cli.shared import add_config_flags, config_from_args, stored_run
from mnist_app.engine.config import ConfigError, RunConfig
from mnist_app.engine.presets import PRESETS
from mnist_app.experiments.codegen import notebook_text, script_for
from mnist_app.i18n import DEFAULT_LANGUAGE, LANGUAGES
from mnist_app.runs.store import RunStore


def add_code_command(commands) -> None:
    """Add `code` to the CLI's subparsers."""
    code = commands.add_parser(
        "code", help="print a plain Keras script that trains a setting or a stored run"
    )
    code.add_argument("--preset", choices=sorted(PRESETS), help="start from a course preset")
    code.add_argument("--run", metavar="RUN_ID", help="start from a stored run's settings")
    add_config_flags(code)
    code.add_argument("--notebook", metavar="FILE.ipynb", help="also write it as a notebook")
    code.add_argument(
        "--lang", choices=list(LANGUAGES), default=DEFAULT_LANGUAGE, help="language of comments"
    )
    code.set_defaults(handler=code_command)


def code_command(args: argparse.Namespace) -> int:
    config = config_for(args)
    script = script_for(config, args.lang)
    if args.notebook is not None:
        write_notebook(Path(args.notebook), notebook_text(config, args.lang))
    sys.stdout.write(script)
    return 0


def config_for(args: argparse.Namespace) -> RunConfig:
    """A stored run's or a preset's settings (or the defaults), with the flags given applied."""
    if args.preset and args.run:
        raise ConfigError("--run", "give --preset or --run, not both")
    return config_from_args(args, stored_config(args.run) if args.run else None)


def stored_config(run_id: str) -> RunConfig:
    """The settings of a stored run; ConfigError (exit 2) names an unknown or malformed id."""
    return stored_run(RunStore(), run_id, "--run").config


def write_notebook(target: Path, text: str) -> None:
    """Write the notebook whole or not at all; a bad target is a flag error (exit 2)."""
    if target.suffix != ".ipynb":
        raise ConfigError("--notebook", f"{target}: give a file name ending in .ipynb")
    from mnist_app.runs.exports import ExportTargetError, write_export

    try:
        write_export(target, lambda temporary: temporary.write_text(text, encoding="utf-8"))
    except ExportTargetError as error:
        raise ConfigError("--notebook", str(error)) from None
    except OSError as error:
        raise ConfigError("--notebook", f"cannot write {target} ({error})") from None
