"""Shared fixtures: a scratch run store, and the real app served for browser tests."""

from __future__ import annotations

import collections
import contextlib
import functools
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
import services

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# One TensorFlow thread per operation, in the workers and in every process they start (served
# apps, the CLI): the suite keeps two workers, their servers and browsers busy on two cores, and
# TensorFlow's default (a thread per core in each process) had them wait on each other. The
# same training then costs about a tenth less CPU. Set before anything imports TensorFlow.
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")

RAY_GROUP = "ray"  # every test of the Ray cluster: one group, so one worker and one cluster

# The groups that take longest on a worker, slowest first (a full run's --durations summed per
# group). xdist hands groups out in collection order, so these go first and the last group each
# worker gets is a short one: neither worker waits long for the other at the end. xdist's own
# order (most tests first) would put the Ray group, ~4 minutes on one worker, mid-run and single
# long browser tests at the end. Groups not named here follow, most tests first.
SLOWEST_GROUPS = (
    RAY_GROUP,
    "test_codegen.py",
    "test_cli.py",
    "test_pitfalls.py",
    "test_browser_train.py",
    "test_browser_restart.py",
    "test_browser_owners.py",
    "test_sweep_view.py",
    "test_train_page.py",
    "test_inside_page.py",
    "test_training.py",
    "test_browser_sweep.py",
    "test_browser_access.py",
    "test_browser_classroom.py",
    "test_precision.py",
    "test_runs_page.py",
    "test_sweeps_page.py",
    "test_weight_history.py",
    "test_weights_panel.py",
    "test_browser_compare.py",
    "test_browser_inside.py",
    "test_robustness_page.py",
    "test_browser_draw.py",
    "test_layering.py",
    "test_fused.py",
    "test_train_coach.py",
    "test_browser_text.py",
    "test_browser_routing.py",
    "test_browser_classset.py",
)


# Modules that take a trained run from another module's fixture run in that module's group, so
# the run is trained once (the fixture caches it per process).
SHARED_FIXTURES = {
    "test_access_pages.py": "test_runs_page.py",
    "test_weights_view.py": "test_weight_history.py",
}


def _group(item) -> str | None:
    """The xdist group a test is marked with, if any."""
    marked = item.get_closest_marker("xdist_group")
    return marked.args[0] if marked is not None else None


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the groups' marks
def pytest_collection_modifyitems(config, items):
    """Keep each module's tests on one pytest-xdist worker (its served app is started once),
    and every test of the Ray cluster on one worker (one cluster, not two); on xdist's workers,
    order the groups slowest first (SLOWEST_GROUPS)."""
    groups = {}
    for item in items:
        if (own := _group(item)) is not None:  # a test's own (test_managers' [ray])
            groups[item] = own
            continue
        name = SHARED_FIXTURES.get(item.path.name, item.path.name)
        groups[item] = RAY_GROUP if "ray_cluster" in item.fixturenames else name
        item.add_marker(pytest.mark.xdist_group(groups[item]))
    if hasattr(config, "workerinput"):  # pyproject.toml turns xdist's reordering off
        sizes = collections.Counter(groups.values())
        rank = {name: place for place, name in enumerate(SLOWEST_GROUPS)}
        items.sort(key=lambda item: (rank.get(groups[item], len(rank)), -sizes[groups[item]]))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    """On a pytest-xdist worker the Ray group's tests run one after another (a group is handed
    out whole); after the last of them, and after its fixtures' teardown, the worker's Ray
    cluster is shut down: idle, its raylets, GCS and client server take ~0.05 of a core, for
    the rest of the session (~7 minutes)."""
    yield
    last_of_ray = _group(item) == RAY_GROUP and (nextitem is None or _group(nextitem) != RAY_GROUP)
    if last_of_ray and hasattr(item.config, "workerinput"):
        services.shutdown_ray_clusters()


@pytest.fixture(scope="session", autouse=True)
def one_component_scan():
    """Each new AppTest scans every installed package's metadata for Streamlit components (0.1 to
    0.2 s, ~140 times a run); the packages do not change during the session, so it scans once."""
    from streamlit.components.v2 import manifest_scanner

    patch = pytest.MonkeyPatch()
    scan = functools.cache(manifest_scanner.scan_component_manifests)
    patch.setattr(manifest_scanner, "scan_component_manifests", scan)
    yield
    patch.undo()


@pytest.fixture(autouse=True)
def lab_home(tmp_path, monkeypatch):
    """Every test gets its own run store directory."""
    home = tmp_path / "lab-home"
    monkeypatch.setenv("MNIST_LAB_HOME", str(home))
    monkeypatch.delenv("MNIST_LAB_DATABASE_URL", raising=False)  # SQLite unless a test asks
    return home


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server for the whole test session (services.PostgresServer)."""
    with services.postgres_server() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server):
    """A fresh, empty PostgreSQL database for one test; its URL."""
    from mnist_app.runs import database

    url = services.new_database(postgres_server.url, f"test_{uuid.uuid4().hex[:12]}")
    yield url
    database.dispose_engines()  # no idle connections left behind to the test's database


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, monkeypatch):
    """Each test using it runs twice: on SQLite files (None) and on a PostgreSQL database
    named by MNIST_LAB_DATABASE_URL (its URL)."""
    if request.param == "sqlite":
        return None
    url = request.getfixturevalue("postgres_url")
    monkeypatch.setenv("MNIST_LAB_DATABASE_URL", url)
    return url


@pytest.fixture
def prepared_server():
    """What app.py's lifespan does when the server starts; AppTest skips it.

    Without it Streamlit resets Keras after every script run, also while a run's thread is
    building or loading its model (a continued run then failed now and then).
    """
    from mnist_app import ui

    ui.prepare_server()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def served_home(tmp_path_factory):
    """The run store directory of the served app."""
    return tmp_path_factory.mktemp("served-home")


SERVED: dict[str, subprocess.Popen] = {}  # each served app's process, by URL (to kill -9 it)


@contextlib.contextmanager
def serve_app(tmp_path_factory, *options: str, home: Path | None = None,
              env: dict[str, str] | None = None):  # fmt: skip
    """`streamlit run app.py` on a free port with its own run store; yields (URL, store dir).

    `options` are extra command-line options, e.g. ("--server.baseUrlPath", "lab"); `env`,
    extra environment variables (a class server's database and cluster).
    """
    port = _free_port()
    home = home or tmp_path_factory.mktemp("served-home")
    env = dict(os.environ, **(env or {}), MNIST_LAB_HOME=str(home))
    log = tmp_path_factory.mktemp("logs") / "streamlit.log"
    base = options[options.index("--server.baseUrlPath") + 1] if options else ""
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true",
             "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false",
             *options],
            cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    health = f"{url}/{base}/_stcore/health" if base else f"{url}/_stcore/health"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(health, timeout=2) as reply:
                    if reply.read() == b"ok":
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not start:\n{log.read_text()}")
            time.sleep(0.2)
        SERVED[url] = server
        yield url, home
    finally:
        SERVED.pop(url, None)
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()


@pytest.fixture(scope="module")
def start_app(tmp_path_factory):
    """serve_app for this module's tests: `with start_app(*options) as (url, home): ...`."""
    return functools.partial(serve_app, tmp_path_factory)


@pytest.fixture(scope="module")
def app_url(tmp_path_factory, served_home):
    """The real app served on a free port with its own run store; yields its URL."""
    with serve_app(tmp_path_factory, home=served_home) as (url, _):
        yield url


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, headless, driven by Playwright: one per worker, as starting it takes
    seconds; each test gets fresh contexts (tabs, cookies, storage) from it."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    """A fresh browser tab with a classroom-laptop viewport."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(60_000)  # ms, for clicks too: the suite runs two at a time
    tab = context.new_page()
    yield tab
    context.close()


@pytest.fixture(scope="session")
def ray_cluster():
    """A real local Ray cluster with two worker nodes of one CPU and Ray's client server
    (services.RayCluster); one for the whole session, as starting one takes ~7 s. A test that
    removes a worker node adds one back."""
    with services.ray_cluster(workers=2, cpus=1, client=True) as cluster:
        yield cluster
