"""The live view of a run and its HTTP API, on real small runs and the real served app."""

import json
import math
import sqlite3
import time
import urllib.error
import urllib.request

import pytest
import sqlalchemy as sa
from polling import until

from mnist_app.engine.config import RunConfig
from mnist_app.engine.records import EpochRecord, LiveView, Outcome
from mnist_app.engine.status import RunStatus
from mnist_app.experiments.sweeps import Sweep, make_vary
from mnist_app.figures.live import live_view, may_follow, pass_query
from mnist_app.i18n import missing_placeholder
from mnist_app.runs import rules
from mnist_app.runs.jobs import TrainingManager
from mnist_app.runs.owners import ClassRules, viewing_pass
from mnist_app.runs.store import RunStore

SMALL = RunConfig(limit=300, validation_size=100, batch_size=32, epochs=2, seed=3)


def test_the_view_follows_a_real_run_to_its_end(lab_home):
    manager = TrainingManager(RunStore(lab_home), max_concurrent=1)
    run_id = manager.submit(SMALL)
    manager.wait(run_id, timeout=120)
    view = live_view(manager, run_id, "en")
    assert view.status == RunStatus.FINISHED and view.active is False
    assert view.progress == 1.0 and view.lang == "en"
    assert view.text.startswith("Epoch 2/2 · batch 10/10 ·")  # 300 images / 32 per batch
    loss, accuracy = view.charts
    assert (loss["title"], accuracy["title"]) == ("Loss", "Accuracy")
    raw, smoothed, per_epoch, validation = loss["lines"]
    assert len(raw["x"]) == 2 * math.ceil(300 / 32) and raw["x"][-1] == 2.0
    assert per_epoch["x"] == [1, 2] and len(validation["y"]) == 2
    run = manager.store.get(run_id)
    assert per_epoch["y"] == pytest.approx([e.loss for e in run.history], rel=1e-3)
    served = view.to_json()
    assert list(served) == ["run_id", "lang", "status", "active", "queue_position", "progress",
                            "text", "charts"]  # fmt: skip
    assert json.loads(json.dumps(served, allow_nan=False)) == served  # strict JSON, as served
    spanish = live_view(manager, run_id, "es")
    assert spanish.text.startswith("Época 2/2 · lote 10/10 ·")
    assert spanish.charts[0]["title"] == "Pérdida"
    for shown in (view, spanish):  # every label found in its catalogue
        assert missing_placeholder("")[0] not in json.dumps(shown.to_json(), ensure_ascii=False)


def test_a_queued_run_says_where_it_stands_and_a_paused_one_says_so(lab_home):
    manager = TrainingManager(RunStore(lab_home), max_concurrent=1)
    first = manager.submit(SMALL.replace(epochs=100))
    manager.pause(first)  # held before its first batch: a known state, however fast the machine
    second = manager.submit(SMALL)
    try:
        view = live_view(manager, second, "en")
        assert view.status == RunStatus.QUEUED and view.active
        assert view.queue_position == 1
        assert view.text == "Waiting for a free slot: place 1 in the queue."
        assert view.progress == 0.0 and all(c["lines"] == [] for c in view.charts)
        held = _wait_for(lambda: live_view(manager, first, "en"), "paused")
        assert held.text.startswith("Paused at epoch 1/100 · batch 0/10")
        assert live_view(manager, first, "es").text.startswith("En pausa en la época 1/100")
    finally:
        manager.stop(second)
        manager.stop(first)
        manager.wait(first, timeout=60)
        manager.wait(second, timeout=60)
    assert live_view(manager, second, "en").status == RunStatus.STOPPED


def _wait_for(view_of, status: str, timeout: float = 60) -> LiveView:
    """The view once it reaches `status` (the training thread gets there on its own time)."""
    deadline = time.monotonic() + timeout
    while (view := view_of()).status != status:
        assert time.monotonic() < deadline, f"still {view.status}"
        time.sleep(0.05)
    return view


@pytest.mark.parametrize(
    "run_id", ["no-such-run", "x" * 10_000, "'; DROP TABLE runs; --", "0123456789AB", "../../etc"]
)
def test_unknown_or_hostile_run_ids_have_no_view(lab_home, run_id):
    manager = TrainingManager(RunStore(lab_home))
    assert live_view(manager, run_id, "en") is None
    assert manager.store.list() == []  # and the store is untouched


def _get(url: str) -> tuple[int, dict, dict]:
    try:
        with urllib.request.urlopen(url, timeout=30) as reply:
            return reply.status, dict(reply.headers), json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


def test_the_served_app_answers_the_live_api(app_url, served_home):
    assert _get(f"{app_url}/api/runs/nope/live")[::2] == (404, {"error": "no such run"})
    # A run another process trains into the same store (the CLI): its view comes from the
    # store, with the progress figures that process's heartbeat published.
    store = RunStore(served_home)
    run_id = store.create(SMALL)
    store.mark_running(run_id)
    history = [EpochRecord(1, loss=0.8, accuracy=0.7, val_loss=0.9, val_accuracy=0.6)]
    store.record_epoch(run_id, history, train_seconds=2.0)
    figures = {"status": "running", "epoch": 1, "batch": 4, "batches_per_epoch": 10,
               "samples_seen": 428, "samples_total": 600, "train_seconds": 2.0}  # fmt: skip
    store.beat({run_id: figures})
    status, headers, view = _get(f"{app_url}/api/runs/{run_id}/live?lang=es")
    assert status == 200 and headers["cache-control"] == "no-store"
    assert view["status"] == "running" and view["active"] is True and view["lang"] == "es"
    assert view["text"].startswith("Época 2/2 · lote 4/10 · 214 imágenes/s")  # not 0 images/s
    assert view["progress"] == pytest.approx(428 / 600)  # not 0%
    assert view["charts"][0]["lines"][0]["y"] == [0.8]  # per epoch only: no batches stored
    assert _get(f"{app_url}/api/runs/{run_id}/live?lang=klingon")[2]["lang"] == "es"
    store.record_outcome(run_id, Outcome(RunStatus.FINISHED, history=history))
    served = _get(f"{app_url}/api/runs/{run_id}/live?lang=es")[2]
    assert served["active"] is False
    here = live_view(TrainingManager(store), run_id, "es").to_json()  # the same, key by key
    assert served == here and list(served) == list(here)


def test_a_run_whose_row_no_longer_parses_gets_a_clear_answer(app_url, served_home):
    store = RunStore(served_home)
    broken, fine = store.create(SMALL), store.create(SMALL)
    with sqlite3.connect(store.path) as db:
        db.execute("UPDATE runs SET config='{\"width\": 5000}' WHERE id=?", (broken,))
    status, _, answer = _get(f"{app_url}/api/runs/{broken}/live")
    assert status == 422 and "width: 5000 is outside the allowed range" in answer["error"]
    assert _get(f"{app_url}/api/runs/{fine}/live")[0] == 200  # every other run still works


def test_hidden_runs_answer_only_to_the_pass_their_page_gave(app_url, served_home):
    store = RunStore(served_home)
    mine, theirs = store.create(SMALL, student="a" * 32), store.create(SMALL, student="b" * 32)
    sweep = store.create_sweep(Sweep(SMALL, (make_vary("learning_rate", [0.001, 0.01]),)).to_dict())
    store.create(SMALL, sweep_id=sweep, student="a" * 32)
    runs, sweeps = f"{app_url}/api/runs/{{}}/live", f"{app_url}/api/sweeps/{{}}/live"
    assert pass_query(store, f"run:{mine}") == ""  # everyone sees all: no pass needed
    assert _get(runs.format(theirs))[0] == 200 and _get(sweeps.format(sweep))[0] == 200
    store.set_class_rules(ClassRules(everyone_sees_all=False))
    try:
        # The served app reads the rules at most once every RULES_SECONDS: wait for the switch.
        until(lambda: _get(runs.format(theirs))[0] == 404, "the served app hides runs", 30)
        key = store.secret("viewing")
        assert RunStore(served_home).secret("viewing") == key  # one key for every replica
        run_pass, sweep_pass = (
            pass_query(store, what) for what in (f"run:{mine}", f"sweep:{sweep}")
        )
        assert run_pass == f"&pass={viewing_pass(key, f'run:{mine}')}"
        # No pass, a made-up one or one of é and … (not ASCII): as if there were no such run.
        for url in (runs.format(mine), runs.format(theirs), runs.format("0a0b0c0d0e0f")):
            for tail in ("", "&pass=" + "0" * 32, "&pass=<script>", "&pass=%C3%A9%E2%80%A6"):
                assert _get(f"{url}?lang=en{tail}")[::2] == (404, {"error": "no such run"})
        assert _get(f"{sweeps.format(sweep)}?lang=en&pass=%C3%A9")[::2] == (
            404, {"error": "no such sweep"})  # fmt: skip
        status, _, view = _get(f"{runs.format(mine)}?lang=en{run_pass}")
        assert status == 200 and view["run_id"] == mine
        # A pass opens only what it was given for: not another run, nor the sweep.
        assert _get(f"{runs.format(theirs)}?lang=en&pass={run_pass[6:]}")[0] == 404
        assert _get(f"{sweeps.format(sweep)}?lang=en&pass={run_pass[6:]}")[::2] == (
            404, {"error": "no such sweep"})  # fmt: skip
        assert _get(f"{sweeps.format(sweep)}?lang=en{sweep_pass}")[0] == 200
    finally:
        store.set_class_rules(ClassRules())
        # as it was, for the tests after
        until(lambda: _get(runs.format(theirs))[0] == 200, "it shows them again", 30)


def test_the_live_api_reads_the_class_rules_at_most_once_every_two_seconds(lab_home, monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(rules, "clock", lambda: now[0])  # the clock held still, moved by hand
    store, teacher = RunStore(lab_home), RunStore(lab_home)  # two replicas of one class server
    reads = []  # the SELECTs of the class rules, by either replica (they share one engine)

    def count(conn, cursor, statement, *rest):
        if statement.lstrip().upper().startswith("SELECT") and "FROM class_rules" in statement:
            reads.append(statement)

    sa.event.listen(store.engine, "before_cursor_execute", count)
    run_id = store.create(SMALL, student="a" * 32)
    what = f"run:{run_id}"
    assert all(may_follow(store, what, None) for _ in range(50))  # everyone sees all
    assert len(reads) == 0  # read when the store opened, one poll ago in the held clock
    teacher.set_class_rules(ClassRules(everyone_sees_all=False))  # on the other replica
    now[0] += rules.RULES_SECONDS - 0.1
    assert may_follow(store, what, None) and len(reads) == 0  # not yet asked again
    now[0] += 0.2
    assert not may_follow(store, what, None) and len(reads) == 1  # the switch, within 2 s
    assert not any(may_follow(store, what, None) for _ in range(50)) and len(reads) == 1
    store.set_class_rules(ClassRules())  # a switch on this replica counts here at once
    assert may_follow(store, what, None) and len(reads) == 1


def test_behind_a_proxy_under_a_path_prefix_the_live_api_is_there_too(start_app):
    with start_app("--server.baseUrlPath", "lab") as (url, home):
        store = RunStore(home)
        run_id = store.create(SMALL)
        status, _, view = _get(f"{url}/lab/api/runs/{run_id}/live?lang=en")
        assert status == 200 and view["status"] == "queued"
        assert _get(f"{url}/lab/api/runs/nope/live")[::2] == (404, {"error": "no such run"})
