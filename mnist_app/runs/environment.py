"""The settings a server or a command takes from the environment (MNIST_LAB_*), checked at once.

A mistyped value (MNIST_LAB_MAX_PARAMS=lots, MNIST_LAB_RAY_CPUS=-1) is named in one line when
the CLI or the server starts, rather than as a traceback from wherever it is first read.
"""

from __future__ import annotations

from mnist_app.engine.config import size_caps
from mnist_app.runs.jobs import max_trainings
from mnist_app.runs.ray_connection import check_address_form, cpus_per_run, ray_address


def check_environment() -> None:
    """ConfigError naming the first MNIST_LAB_* variable whose value cannot be used."""
    size_caps()
    max_trainings()
    cpus_per_run()
    address = ray_address()
    if address is not None:
        check_address_form(address)
