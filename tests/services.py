"""Real services for the class-server tests and benchmarks: a PostgreSQL server started here.

Debian's PostgreSQL (`apt-get install postgresql`; .ci/run installs it where missing) runs from a
scratch data directory on a free loopback port and is thrown away afterwards. initdb refuses to
run as root, so as root the server runs as the `postgres` user.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def postgres_bin(name: str) -> str:
    """A PostgreSQL program: on PATH, else in Debian's /usr/lib/postgresql/N/bin."""
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if found is None:
        raise RuntimeError(f"{name} is missing: apt-get install -y postgresql")
    return found


def _as_postgres(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


class PostgresServer:
    """A PostgreSQL server of its own, in a scratch directory on a free port; `url` is its
    `postgres` database as user `lab`. stop() and start() again keep its data and port."""

    def __init__(self):
        self.directory = Path(tempfile.mkdtemp(prefix="mnist-lab-pg-"))
        self.data, self.log = self.directory / "data", self.directory / "server.log"
        self.data.mkdir()
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres")
            shutil.chown(self.data, "postgres")
        self.port = free_port()
        self.url = f"postgresql://lab@127.0.0.1:{self.port}/postgres"
        self._run([postgres_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "lab",
                   "-E", "UTF8", "--no-sync"])  # fmt: skip

    def _run(self, command: list[str]) -> None:
        try:
            subprocess.run(_as_postgres(command), check=True, capture_output=True, text=True)
        except subprocess.CalledProcessError as error:
            shown = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"{command[0]} failed: {error.stderr}\n{shown}") from error

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c max_connections=300")  # fmt: skip
        self._run([postgres_bin("pg_ctl"), "-D", str(self.data), "-o", options, "-l",
                   str(self.log), "-w", "-t", "60", "start"])  # fmt: skip

    def stop(self) -> None:
        """Stop at once, as a crashed or unplugged server would (connections just drop)."""
        self._run([postgres_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"])

    def remove(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """A started PostgresServer, removed afterwards."""
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.remove()


def new_database(server_url: str, name: str) -> str:
    """Create an empty database on the server; its URL."""
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return server_url.rsplit("/", 1)[0] + f"/{name}"


class RayCluster:
    """A real local Ray cluster: a head node with no CPUs (nothing trains there) and worker
    nodes of `cpus` CPUs each, every node its own raylet; add_worker/remove_worker change it
    while it runs, as a school adds a machine or loses one. With `client`, the head also runs
    Ray's client server, at `client_address` (ray://127.0.0.1:PORT)."""

    def __init__(self, workers: int = 2, cpus: int = 1, client: bool = False):
        from ray.cluster_utils import Cluster

        self.cpus = cpus
        self.stopped = False
        # A node that stops answering is declared dead after 3 checks 1 s apart (Ray's default:
        # 5 checks 3 s apart, ~15 s the lost-node test waited); each check still waits its full
        # timeout, so a slow but live node under the suite's load is not declared dead.
        checks = {"health_check_period_ms": 1000, "health_check_failure_threshold": 3}
        head = {"num_cpus": 0, "_system_config": checks}
        self.client_address = None
        if client:
            head["ray_client_server_port"] = port = free_port()
            self.client_address = f"ray://127.0.0.1:{port}"
        self.cluster = Cluster(initialize_head=True, head_node_args=head)
        self.workers = [self.add_worker() for _ in range(workers)]
        self.address = self.cluster.address

    def add_worker(self):
        node = self.cluster.add_node(num_cpus=self.cpus)
        self.cluster.wait_for_nodes()
        return node

    def remove_worker(self, node_id: str) -> None:
        """Take away the worker node with that id, killing what runs on it (kill -9)."""
        (node,) = [n for n in self.workers if n.node_id == node_id]
        self.workers.remove(node)
        self.cluster.remove_node(node, allow_graceful=False)

    def shutdown(self) -> None:
        """Stop every node; a second call does nothing."""
        import ray

        if self.stopped:
            return
        self.stopped = True
        ray.shutdown()
        self.cluster.shutdown()


RAY_CLUSTERS: list[RayCluster] = []  # the clusters this process started, to end them early


@contextlib.contextmanager
def ray_cluster(workers: int = 2, cpus: int = 1, client: bool = False) -> Iterator[RayCluster]:
    cluster = RayCluster(workers, cpus, client)
    RAY_CLUSTERS.append(cluster)
    try:
        yield cluster
    finally:
        cluster.shutdown()
        RAY_CLUSTERS.remove(cluster)


def shutdown_ray_clusters() -> None:
    """End every Ray cluster this process started (ray_cluster's exit then does nothing)."""
    for cluster in RAY_CLUSTERS:
        cluster.shutdown()
