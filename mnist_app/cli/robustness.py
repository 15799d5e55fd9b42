"""The command line's `robustness`: a model's test accuracy under noise, rotation, shift, scale,
stroke thickness and inversion, at increasing strengths."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich import box
from rich.table import Column, Table

from mnist_app.cli.shared import stored_run
from mnist_app.cli.terminal import table_console
from mnist_app.drawing.predict import ModelFileError, default_model_path, model_card
from mnist_app.engine.config import ConfigError
from mnist_app.engine.data import TEST_IMAGES
from mnist_app.inspect.robustness import FAMILIES, SAMPLE, Robustness, measure_file, strength_key
from mnist_app.runs.store import RunStore

UNITS = {"noise": "σ grey levels", "rotation": "degrees", "shift": "pixels",
         "scale": "% larger or smaller", "thickness": "pixels per side",
         "inversion": "share of the negative"}  # fmt: skip


def add_robustness_command(commands) -> None:
    """Add `robustness` to the CLI's subparsers."""
    command = commands.add_parser(
        "robustness", help="a model's test accuracy under noise, rotation, shift, scale, ..."
    )
    which = command.add_mutually_exclusive_group()
    which.add_argument("--run", metavar="RUN_ID", help="a stored run's model")
    which.add_argument("--default", action="store_true", help="the shipped model (the default)")
    command.add_argument(
        "--sample",
        type=int,
        default=SAMPLE,
        metavar="N",
        help=f"test images per changed point (default {SAMPLE:,}; {TEST_IMAGES} for all of them)",
    )
    command.add_argument("--json", action="store_true", help="print the result as JSON last")
    command.set_defaults(handler=robustness_command)


def robustness_command(args: argparse.Namespace) -> int:
    if not 1 <= args.sample <= TEST_IMAGES:
        raise ConfigError(
            "--sample", f"{args.sample} is outside the allowed range 1..{TEST_IMAGES}"
        )
    store = RunStore()
    flag, path, scaling = model_to_measure(store, args.run)
    try:
        result = measure_file(store.directory, path, scaling, args.sample)
    except ModelFileError as error:
        raise ConfigError(flag, f"cannot use the model {path} ({error})") from None
    if args.json:
        print(json.dumps(result.to_dict()))
    else:
        table_console().print(robustness_table(result))
        print(
            f"{result.sample:,} test images per point (all {TEST_IMAGES:,} at strength 0); "
            "± is the 95% margin of error"
        )
    return 0


def model_to_measure(store: RunStore, run_id: str | None) -> tuple[str, Path, str]:
    """The flag that named the model, its file and its input scaling; ConfigError (exit 2) for
    an unknown run or one without a saved model."""
    if run_id is None:
        path = default_model_path()
        return "--default", path, model_card(path).get("config", {}).get("scaling", "unit")
    run = stored_run(store, run_id, "--run")
    path = store.model_file(run.id) if run.model_path else None
    if path is None:
        raise ConfigError("--run", f"run {run.id} has no saved model (it is {run.status})")
    return "--run", path, run.config.scaling


def robustness_table(result: Robustness) -> Table:
    """One row per strength, grouped by family: the accuracy, its margin of error, the images."""
    right = {"justify": "right"}
    table = Table(
        "family",
        "unit",
        Column("strength", **right),
        Column("accuracy", **right),
        Column("±", **right),
        Column("images", **right),
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
    )
    for family in FAMILIES:
        points = result.families[family.name]
        for index, point in enumerate(points):
            first = index == 0
            table.add_row(
                family.name if first else "",
                UNITS[family.name] if first else "",
                strength_key(point.strength),
                f"{point.accuracy:.2%}",
                f"{point.margin:.2%}",
                f"{point.n:,}",
                end_section=index == len(points) - 1,
            )
    return table
