"""The Runs and Compare pages driven through AppTest, over a real store and real trained runs."""

import functools
import shutil
import sqlite3
from pathlib import Path

import pytest
from apptest_text import open_page as open_app_page
from apptest_text import page_text
from streamlit.testing.v1 import AppTest

import mnist_app.runs.managers as managers
from mnist_app.engine.config import RunConfig
from mnist_app.engine.records import Outcome
from mnist_app.engine.status import RunStatus
from mnist_app.runs.jobs import TrainingManager
from mnist_app.runs.managers import shared_manager
from mnist_app.runs.store import RunStore

TINY = RunConfig(limit=300, epochs=2, validation_size=100, batch_size=64, width=32)


pytestmark = pytest.mark.usefixtures("prepared_server")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One real run (two epochs on 300 MNIST images) and its saved model file; trained once per
    process, for test_access_pages.py too (the same xdist group: tests/conftest.py). Tests copy
    it (add_run), never change it."""
    return _trained(tmp_path_factory.getbasetemp())


@functools.cache
def _trained(basetemp: Path):
    manager = TrainingManager(RunStore(basetemp / "trained-run"))
    run_id = manager.submit(TINY)
    assert manager.wait(run_id, timeout=180).status is RunStatus.FINISHED
    return manager.store.get(run_id), manager.store.model_path(run_id)


@pytest.fixture
def store(monkeypatch, lab_home):
    """The pages' own store: a fresh manager over this test's MNIST_LAB_HOME."""
    monkeypatch.setattr(managers, "_shared", None)
    return shared_manager().store


def add_run(
    store: RunStore, trained, label: str = "", student: str | None = None, **changes
) -> str:
    """A finished run (`student`'s) with the real run's history, score and a copy of its
    model file."""
    run, model = trained
    run_id = store.create(run.config.replace(**changes), student=student)
    shutil.copy(model, store.model_path(run_id))
    store.set_label(run_id, label, "")
    store.record_outcome(
        run_id,
        Outcome(RunStatus.FINISHED, history=run.history, test_loss=run.test_loss,
                test_accuracy=run.test_accuracy, train_seconds=run.train_seconds,
                model_path=str(store.model_path(run_id))),
    )  # fmt: skip
    return run_id


def open_page(page: str, lang: str = "en", **query: str) -> AppTest:
    return open_app_page(page, lang, **query)


def select(at: AppTest, *rows: int) -> AppTest:
    """Tick these rows of the Runs table (what clicking their checkboxes sends)."""
    at.session_state["runs_table"] = {"selection": {"rows": list(rows), "columns": [], "cells": []}}
    at.run()
    assert not at.exception
    return at


def table_ids(at: AppTest) -> list[str]:
    return list(at.dataframe[0].value["id"])


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def test_an_empty_store_says_so_and_links_to_training(store):
    at = open_page("pages/runs.py", lang="es")
    assert "Todavía no hay entrenamientos guardados" in texts(at.info)
    assert at.get("page_link")[0].proto.page.endswith("train")


def test_the_table_lists_every_run_and_filters_them(store, trained):
    first = add_run(store, trained, "baseline")
    second = add_run(store, trained, learning_rate=0.01)
    queued = store.create(TINY, preset="lab-default")
    broken = store.create(TINY)
    with sqlite3.connect(store.path) as db:
        db.execute("UPDATE runs SET config='[1]' WHERE id=?", (broken,))
    at = open_page("pages/runs.py", lang="es")
    assert table_ids(at) == [queued, second, first]  # newest first; the broken row apart
    table = at.dataframe[0].value.set_index("id")
    assert table.loc[first, "label"] == "baseline" and table.loc[queued, "status"] == "en cola"
    assert table.loc[second, "learning_rate"] == 0.01
    assert table.loc[first, "test_accuracy"] == pytest.approx(trained[0].test_accuracy)
    assert broken in page_text(at) and "expected a mapping of settings" in page_text(at)
    at.text_input(key="runs_search").set_value("BASE").run()
    assert table_ids(at) == [first]
    at.text_input(key="runs_search").set_value("").run()
    at.multiselect(key="runs_status").set_value([RunStatus.QUEUED]).run()
    assert table_ids(at) == [queued]


def test_a_label_and_note_edited_on_the_page_are_kept_in_the_store(store, trained):
    run_id = add_run(store, trained)
    at = select(open_page("pages/runs.py"), 0)
    at.text_input(key=f"runs_label_{run_id}").input("  wide   net ")
    at.text_area(key=f"runs_note_{run_id}").input("shown in class on Monday")
    at.button(key=f"runs_save_{run_id}").click().run()
    run = store.get(run_id)
    assert (run.label, run.note) == ("wide net", "shown in class on Monday")
    assert "Label and note saved." in texts(at.success)
    assert at.dataframe[0].value["label"][0] == "wide net"


def test_one_selected_run_offers_its_results_drawing_and_downloads(store, trained):
    run_id = add_run(store, trained)
    at = select(open_page("pages/runs.py"), 0)
    links = {
        link.proto.page.rsplit("/", 1)[-1]: link.proto.query_string for link in at.get("page_link")
    }
    assert links == {"train": f"run={run_id}", "draw": f"model={run_id}"}
    downloads = [b.proto.label for b in at.get("download_button")]
    assert downloads == ["Download the model (.keras)", "Download the history (CSV)"]
    at.session_state[f"runs_code_{run_id}_open"] = True  # the run's code, once opened
    at.run()
    code = ["Download the script (.py)", "Download the notebook (.ipynb)"]
    downloads = [b.proto.label for b in at.get("download_button")]
    assert downloads == ["Download the model (.keras)", "Download the history (CSV)", *code]
    store.model_path(run_id).unlink()  # the file went missing: no drawing, no model download
    at.run()
    assert [link.proto.page.rsplit("/", 1)[-1] for link in at.get("page_link")] == ["train"]
    downloads = [b.proto.label for b in at.get("download_button")]
    assert downloads == ["Download the history (CSV)", *code]
    assert "saved no model" in texts(at.caption)


def test_delete_asks_first_then_removes_the_row_and_the_model_file(store, trained):
    keep, gone = add_run(store, trained), add_run(store, trained)
    at = select(open_page("pages/runs.py"), 0)  # the newest: `gone`
    at.button(key=f"runs_delete_{gone}").click().run()
    assert "cannot be undone" in texts(at.warning) and store.get(gone) is not None
    at.button(key=f"runs_delete_yes_{gone}").click().run()
    assert not at.exception
    assert store.get(gone) is None and not store.model_path(gone).exists()
    assert table_ids(at) == [keep] and store.model_path(keep).exists()
    assert f"Run {gone} deleted" in texts(at.success)
    assert not at.get("download_button")  # the selection did not slide onto the other run


def test_a_run_that_is_training_cannot_be_deleted(store, trained):
    manager = shared_manager()
    run_id = manager.submit(TINY, paused=True)  # held before its first batch
    try:
        at = select(open_page("pages/runs.py"), 0)
        assert at.button(key=f"runs_delete_{run_id}").disabled
        assert "cannot be deleted while it trains" in texts(at.caption)
        # Asked just before it started (another tab): the store refuses, the page explains.
        at.session_state["runs_confirm"] = run_id
        at.run()
        at.button(key=f"runs_delete_yes_{run_id}").click().run()
        assert not at.exception and "it was not deleted" in texts(at.error)
        assert store.get(run_id) is not None
    finally:
        manager.stop(run_id)
        manager.resume(run_id)
        manager.wait(run_id, timeout=60)


def test_continue_trains_more_epochs_and_opens_the_new_run_on_the_train_page(store, trained):
    run_id = add_run(store, trained)
    at = select(open_page("pages/runs.py"), 0)
    at.number_input(key=f"runs_continue_{run_id}_epochs").set_value(1)
    at.button(key=f"runs_continue_{run_id}_button").click().run()
    new_id = at.query_params["run"]  # and the Train page shows it
    assert new_id != run_id
    result = shared_manager().wait(new_id, timeout=120)
    assert result.status is RunStatus.FINISHED, result.message
    new = store.get(new_id)
    assert new.parent == run_id and len(new.history) == 3 and new.config.epochs == 3
    at = open_page("pages/runs.py", lang="es")
    assert at.dataframe[0].value.set_index("id").loc[new_id, "parent"] == run_id


def test_a_run_that_can_no_longer_be_continued_is_explained_not_a_traceback(store, trained):
    run_id = add_run(store, trained)
    at = select(open_page("pages/runs.py", lang="es"), 0)
    store.model_path(run_id).unlink()  # gone between showing the button and clicking it
    at.button(key=f"runs_continue_{run_id}_button").click().run()
    assert not at.exception and "no se puede continuar" in texts(at.error)
    assert [r.id for r in store.list()] == [run_id]  # nothing was queued


def test_a_run_whose_checkpoint_is_broken_says_so_and_queues_nothing(store, trained):
    run_id = add_run(store, trained)
    at = select(open_page("pages/runs.py"), 0)
    path = store.model_path(run_id)
    path.write_bytes(path.read_bytes()[:1000])  # cut short, as by a full disk or a bad copy
    at.button(key=f"runs_continue_{run_id}_button").click().run()
    assert not at.exception
    assert "This run's saved model is broken (the file is cut short" in texts(at.error)
    assert [r.id for r in store.list()] == [run_id]  # no continued run, failed or not


def test_two_to_ten_selected_runs_link_to_compare_and_more_are_refused(store, trained):
    ids = [add_run(store, trained, seed=s) for s in range(11)]
    at = select(open_page("pages/runs.py"), 0, 2)
    (link,) = at.get("page_link")
    assert link.proto.page.endswith("compare") and link.proto.label == "Compare 2 runs"
    assert link.proto.query_string == f"runs={ids[-1]}%2C{ids[-3]}"
    select(at, *range(11))
    assert not at.get("page_link") and "at most 10 are compared" in texts(at.warning)


def test_compare_overlays_the_runs_named_by_what_differs(store, trained):
    a = add_run(store, trained, learning_rate=0.001)
    b = add_run(store, trained, learning_rate=0.02, optimizer="sgd")
    at = open_page("pages/compare.py", runs=f"{a},{b}")
    assert at.multiselect(key="compare_runs").value == [a, b]
    loss, accuracy, parallel = at.get("plotly_chart")
    for chart in (loss, accuracy):
        assert '"name":"optimizer = adam, lr = 0.001"' in chart.proto.spec
        assert '"name":"optimizer = sgd, lr = 0.02"' in chart.proto.spec
        assert '"dash":"dash"' in chart.proto.spec
    assert '"type":"parcoords"' in parallel.proto.spec
    table = at.dataframe[0]
    assert list(table.value.columns[:4]) == ["Run", "Test accuracy", "Optimizer", "Learning rate"]
    assert "#fff3bf" in str(table.proto)  # the differing columns are highlighted
    assert "They differ in: Optimizer, Learning rate." in texts(at.caption)


def test_compare_reports_bad_ids_in_the_url_and_skips_them(store, trained):
    a, b = add_run(store, trained, seed=1), add_run(store, trained, seed=2)
    at = open_page("pages/compare.py", lang="es", runs=f"{a},[evil](http://x.org),0123456789ab,{b}")
    warnings = texts(at.warning)
    assert r"«\[evil\]\(http\:" in warnings  # shown as typed, never as a link
    assert "No hay ningún entrenamiento 0123456789ab" in warnings
    assert at.multiselect(key="compare_runs").value == [a, b]
    assert len(at.get("plotly_chart")) == 3


def test_compare_with_fewer_than_two_runs_explains_and_follows_the_multiselect(store, trained):
    a, b = add_run(store, trained, seed=1), add_run(store, trained, seed=2)
    at = open_page("pages/compare.py", runs=a)
    assert "Pick at least two runs" in texts(at.info) and not at.get("plotly_chart")
    at.multiselect(key="compare_runs").select(b).run()
    assert at.query_params["runs"] == f"{a},{b}"  # the URL follows: a reload shows the same
    assert len(at.get("plotly_chart")) == 3
