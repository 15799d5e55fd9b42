"""The laptop's single embedded server killed with -9 mid-run (SQLite, threads): started again,
it shows the run interrupted and continues it from its last checkpoint; the SQLite file passes
its integrity check and no half-written .keras file is left anywhere."""

from __future__ import annotations

import re
import signal
import sqlite3
import time
from urllib.parse import parse_qs, urlparse

import pytest
from browsing import press
from conftest import SERVED, serve_app
from playwright.sync_api import expect
from test_browser_train import LIVE_TIMEOUT, open_train_page, start_long_run

from mnist_app.engine.files import TEMP_PREFIX
from mnist_app.engine.status import RunStatus
from mnist_app.runs.store import RunStore

pytestmark = pytest.mark.browser


def test_a_server_killed_mid_run_restarts_with_the_run_interrupted_and_resumable(
    page, tmp_path_factory
):
    home = tmp_path_factory.mktemp("laptop")
    with serve_app(tmp_path_factory, home=home) as (url, _):
        open_train_page(page, url)
        start_long_run(page)  # 200 epochs over the 60k images: only Stop would end it
        expect(page).to_have_url(re.compile(r"[?&]run=\w+"), timeout=LIVE_TIMEOUT)
        (run_id,) = parse_qs(urlparse(page.url).query)["run"]
        store = RunStore(home)
        deadline = time.monotonic() + LIVE_TIMEOUT / 1000
        while len(store.get(run_id).history) < 1:  # an epoch and its checkpoint are saved
            assert time.monotonic() < deadline, "no epoch was saved"
            time.sleep(0.2)
        server = SERVED[url]
        server.send_signal(signal.SIGKILL)  # mid-epoch, perhaps mid-write
        server.wait()
    saved = store.get(run_id).history
    assert store.get(run_id).status is RunStatus.RUNNING  # as the killed process left it

    with serve_app(tmp_path_factory, home=home) as (url, _):
        page.goto(f"{url}/?lang=en")
        page.goto(f"{url}/train?lang=en&run={run_id}")
        expect(page.get_by_text("stopped before it finished")).to_be_visible(timeout=LIVE_TIMEOUT)
        run = store.get(run_id)
        assert run.status is RunStatus.INTERRUPTED and run.history[: len(saved)] == saved
        with sqlite3.connect(home / "runs.sqlite3") as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert not [p.name for p in home.rglob(f"{TEMP_PREFIX}*")]  # no partial .keras
        # As many more epochs as it may have: only Stop ends the continued run, on any machine.
        more = page.locator(".st-key-train_continue_epochs").get_by_role("spinbutton")
        left = 200 - len(run.history)
        more.fill(str(left))
        more.press("Enter")
        page.get_by_role("button", name=f"Continue for {left} more epochs").click()
        status = page.locator(".st-key-train_live .status")
        expect(status).to_contain_text(re.compile(r"batch [1-9]"), timeout=LIVE_TIMEOUT)
        expect(page.get_by_text("Learning rate (live)")).to_be_visible(timeout=LIVE_TIMEOUT)
        # Held, then read: an epoch may pass before the page first shows one, on a fast machine.
        press(page, "Pause")
        paused = re.compile(r"^Paused at epoch \d+/200 ")
        expect(status).to_contain_text(paused, timeout=LIVE_TIMEOUT)
        epoch = int(re.match(r"Paused at epoch (\d+)/", status.inner_text()).group(1))
        (child_id,) = parse_qs(urlparse(page.url).query)["run"]  # the page follows the new run
        assert child_id != run_id and store.get(child_id).parent == run_id
        # Until its first epoch is saved, the new run's row has no history: its parent's is it.
        continued = store.get(child_id).history or run.history
        # It went on from the epoch after its last checkpoint, keeping the epochs before it
        # (held wherever the pause landed: an epoch may pass before it, on a fast machine).
        assert epoch == len(continued) + 1 > len(run.history)
        assert continued[: len(run.history)] == run.history
        press(page, "Stop")
        expect(page.get_by_text("Training stopped")).to_be_visible(timeout=LIVE_TIMEOUT)
