"""A class server in headless Chromium: two Streamlit replicas sharing one real PostgreSQL and
one real Ray cluster. A run started on replica A is watched, paused and stopped on replica B, and
outlives replica A killed with -9; replica B then draws with its model."""

from __future__ import annotations

import re
import signal
import uuid
from urllib.parse import parse_qs, urlparse

import pytest
import services
from browsing import press
from conftest import SERVED, serve_app
from playwright.sync_api import expect
from polling import stop_all
from test_browser_draw import DIGITS, READING, draw
from test_browser_train import LIVE_TIMEOUT, open_train_page, start_long_run

from mnist_app.engine.status import RunStatus
from mnist_app.runs.cluster import ClusterManager
from mnist_app.runs.store import RunStore

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def class_server(tmp_path_factory, postgres_server, ray_cluster):
    """Replicas A and B of one class server: their URLs and the database's. Afterwards, pass
    or fail, no run of theirs is left holding a trainer of the suite's cluster."""
    url = services.new_database(postgres_server.url, f"class_{uuid.uuid4().hex[:8]}")
    env = {"MNIST_LAB_DATABASE_URL": url, "MNIST_LAB_RAY_ADDRESS": ray_cluster.address}
    try:
        with (
            serve_app(tmp_path_factory, env=env) as (a, _),
            serve_app(tmp_path_factory, env=env) as (b, _),
        ):
            yield a, b, url
    finally:
        manager = ClusterManager(RunStore(tmp_path_factory.mktemp("cleanup"), url=url),
                                 ray_cluster.address)  # fmt: skip
        stop_all(manager, LIVE_TIMEOUT / 1000)
        manager.close()


@pytest.fixture
def student_tab(browser):
    """student_tab(id): a browser tab whose localStorage holds this student id, on every
    origin; its context is closed after the test (the browser serves the worker's session)."""
    contexts = []

    def open_tab(student: str):
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        contexts.append(context)
        context.add_init_script(f"localStorage.setItem('mnist-lab-owner', '{student}')")
        return context.new_page()

    yield open_tab
    for context in contexts:
        context.close()


def test_a_run_from_replica_a_is_steered_on_b_and_outlives_a(student_tab, class_server, tmp_path):
    replica_a, replica_b, database_url = class_server
    # One student, sent to replica A and then to B. Behind the proxy both are one origin, so
    # one localStorage and one student id; here each replica has its own port (origin), and the
    # student's id is put in both.
    student = uuid.uuid4().hex
    tab_a, tab_b = student_tab(student), student_tab(student)
    open_train_page(tab_a, replica_a)
    start_long_run(tab_a)  # 200 epochs: only Stop ends it
    live_a = tab_a.locator(".st-key-train_live .status")
    expect(live_a).to_contain_text(re.compile(r"^Epoch .* batch [1-9]\d*/"), timeout=LIVE_TIMEOUT)
    expect(tab_a).to_have_url(re.compile(r"[?&]run=\w+"))
    (run_id,) = parse_qs(urlparse(tab_a.url).query)["run"]

    # Replica B shows the same run live, and its buttons steer it.
    tab_b.goto(f"{replica_b}/?lang=en")  # the home page first, so the router is in place
    expect(tab_b.get_by_role("heading", name="MNIST Lab")).to_be_visible(timeout=LIVE_TIMEOUT)
    tab_b.goto(f"{replica_b}/train?lang=en&run={run_id}")
    live_b = tab_b.locator(".st-key-train_live .status")
    expect(live_b).to_contain_text(re.compile(r"^Epoch .* batch \d+/"), timeout=LIVE_TIMEOUT)
    press(tab_b, "Pause")
    expect(live_b).to_contain_text("Paused at epoch", timeout=LIVE_TIMEOUT)
    expect(live_a).to_contain_text("Paused at epoch", timeout=LIVE_TIMEOUT)  # A sees it too

    # Replica A dies; the run lives on in its actor, and B goes on steering it.
    server_a = SERVED[replica_a]
    server_a.send_signal(signal.SIGKILL)
    server_a.wait()
    tab_b.reload()
    expect(tab_b.get_by_role("button", name="Continue")).to_be_visible(timeout=LIVE_TIMEOUT)
    store = RunStore(tmp_path / "look", url=database_url)
    assert store.get(run_id).status is RunStatus.RUNNING  # held, not interrupted
    press(tab_b, "Continue")
    expect(live_b).not_to_contain_text("Paused", timeout=LIVE_TIMEOUT)
    press(tab_b, "Stop")
    expect(tab_b.get_by_text("Training stopped")).to_be_visible(timeout=LIVE_TIMEOUT)
    expect(tab_b.get_by_text("Test accuracy")).to_be_visible(timeout=LIVE_TIMEOUT)
    assert store.get(run_id).status is RunStatus.STOPPED

    # B reads digits with the model the cluster trained (fetched from the database).
    tab_b.goto(f"{replica_b}/draw?lang=en&model={run_id}")
    canvas = tab_b.locator("canvas.upper-canvas")
    expect(canvas).to_be_visible(timeout=LIVE_TIMEOUT)
    picked = tab_b.locator(".st-key-draw_model").get_by_role("combobox", name="Model")
    expect(picked).to_have_value(re.compile(rf"^Run {run_id} "))
    draw(tab_b, canvas, DIGITS["1"])
    expect(tab_b.locator(READING)).to_have_text(re.compile(r"^\d$"), timeout=LIVE_TIMEOUT)
