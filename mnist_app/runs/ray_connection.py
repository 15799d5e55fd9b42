"""Joining a Ray cluster: the address and CPU settings, and a probe that finds out in seconds
whether a Ray head answers at an address (Ray itself would wait minutes).

Ray is imported only when a cluster is joined (requirements-server.txt).
"""

from __future__ import annotations

import importlib.util
import os
import re
import socket

from mnist_app.engine.config import ConfigError
from mnist_app.runs.database import SERVER_REQUIREMENTS

RAY_ADDRESS_ENV = "MNIST_LAB_RAY_ADDRESS"
RAY_CPUS_ENV = "MNIST_LAB_RAY_CPUS"  # CPUs each run's actor asks for (default 1)
NAMESPACE = "mnist-lab"
PROBE_SECONDS = 5.0  # how long a head's port may take to accept a connection
# How long a head that accepts the connection may take to answer as Ray: a port held by
# something else that says nothing would otherwise keep ray.init waiting with no end.
ANSWER_SECONDS = 30.0
# Ray's client server (ray://) starts a server of its own for each client; on a fresh head the
# first of them fails to start about every other time here ("Initialization failure from
# server", after some 40 s), and the next try works: so a ray:// address gets a second try.
CLIENT_TRIES = 2
_ADDRESS = re.compile(r"auto|(ray://)?[A-Za-z0-9.\-\[\]:]+:\d{1,5}")


def ray_address() -> str | None:
    """$MNIST_LAB_RAY_ADDRESS, or None: train in this process's threads."""
    return os.environ.get(RAY_ADDRESS_ENV, "").strip() or None


def cpus_per_run() -> int:
    """$MNIST_LAB_RAY_CPUS: how many CPUs each run's actor takes on its node (default 1)."""
    text = os.environ.get(RAY_CPUS_ENV, "").strip() or "1"
    if not text.isdigit() or not 1 <= int(text) <= 256:
        raise ConfigError(RAY_CPUS_ENV, f"{text!r} is not a whole number from 1 to 256")
    return int(text)


def check_address_form(address: str) -> None:
    """ConfigError unless `address` is written as a Ray address."""
    if not _ADDRESS.fullmatch(address):
        raise ConfigError(
            RAY_ADDRESS_ENV,
            f"{address!r} is not a Ray address: give auto, HOST:PORT (the head's GCS port, "
            "6379 by default) or ray://HOST:10001",
        )


def check_address(address: str) -> None:
    """ConfigError unless `address` is a Ray address and Ray is installed (before anything
    else is opened)."""
    check_address_form(address)
    if importlib.util.find_spec("ray") is None:
        raise ConfigError(
            RAY_ADDRESS_ENV,
            f"names a Ray cluster, but Ray is not installed: pip install -r {SERVER_REQUIREMENTS}",
        )


_joined: str | None = None  # the address this process joined


def connect(address: str) -> None:
    """Join the Ray cluster at `address` (once per process).

    ConfigError names what is wrong: a malformed address, Ray not installed, or no cluster
    answering there (found out in seconds: Ray itself would wait minutes for a head that is
    not there). A ray:// address is tried twice (CLIENT_TRIES).
    """
    global _joined
    check_address(address)
    import ray

    if ray.is_initialized() and address == _joined:
        return
    # Another address than the one this process joined is probed too: it must answer (a test
    # process joins the suite's cluster, then tries addresses where nothing or no Ray answers).
    if address != "auto":
        host, _, port = address.removeprefix("ray://").rpartition(":")
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=PROBE_SECONDS).close()
        except OSError as error:
            raise ConfigError(
                RAY_ADDRESS_ENV,
                f"nothing answers at {address} ({error.strerror or error}): is `ray start "
                "--head` running there, and is the port open?",
            ) from None
        _check_answers_as_ray(address)
    if ray.is_initialized():  # joined elsewhere already: Ray keeps one cluster per process
        return
    tries = CLIENT_TRIES if address.startswith("ray://") else 1
    for attempt in range(1, tries + 1):
        try:
            ray.init(
                address=address, namespace=NAMESPACE, log_to_driver=False, configure_logging=False
            )
            _joined = address
            return
        except (ConnectionError, RuntimeError, ValueError, TimeoutError) as error:
            text = str(error).strip()
            startup = isinstance(error, ConnectionAbortedError) or "client server" in text
            if attempt < tries and startup:
                continue  # the client server failed to start this client's server: again
            first = text.splitlines()[0] if text else type(error).__name__
            raise ConfigError(
                RAY_ADDRESS_ENV, f"cannot join the Ray cluster at {address}: {first}"
            ) from None


def _check_answers_as_ray(address: str) -> None:
    """ConfigError unless the head at `address` answers Ray's first question within
    ANSWER_SECONDS: its cluster id (a GCS port) or a ping (a ray:// client server)."""
    import grpc
    from ray.core.generated import (
        gcs_service_pb2,
        gcs_service_pb2_grpc,
        ray_client_pb2,
        ray_client_pb2_grpc,
    )

    with grpc.insecure_channel(address.removeprefix("ray://")) as channel:
        try:
            if address.startswith("ray://"):
                ping = ray_client_pb2.ClusterInfoRequest(type=ray_client_pb2.ClusterInfoType.PING)
                ray_client_pb2_grpc.RayletDriverStub(channel).ClusterInfo(
                    ping, timeout=ANSWER_SECONDS
                )
            else:
                gcs_service_pb2_grpc.NodeInfoGcsServiceStub(channel).GetClusterId(
                    gcs_service_pb2.GetClusterIdRequest(), timeout=ANSWER_SECONDS
                )
        except grpc.RpcError as error:
            # Any other answer (e.g. UNAUTHENTICATED from a head with token authentication)
            # came from a Ray head: ray.init takes it from there.
            code = error.code()
            if code not in (
                grpc.StatusCode.DEADLINE_EXCEEDED,
                grpc.StatusCode.UNAVAILABLE,
                grpc.StatusCode.UNIMPLEMENTED,
            ):
                return
            waited = code is grpc.StatusCode.DEADLINE_EXCEEDED
            why = f"no answer in {ANSWER_SECONDS:g} s" if waited else "it does not speak Ray"
            raise ConfigError(
                RAY_ADDRESS_ENV,
                f"{address} accepts connections but is not a Ray head ({why}): is it the "
                "head's GCS port (6379 by default) or its ray:// client port (10001)?",
            ) from None
