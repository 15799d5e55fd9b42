"""Comparing runs: the Runs table's rows, the Compare page's selection, table and figures."""

import math
import re
import sqlite3
from datetime import datetime

import pytest

from mnist_app.engine.config import RunConfig
from mnist_app.engine.records import Outcome
from mnist_app.engine.status import RunStatus
from mnist_app.experiments.comparison import (
    architecture_text,
    filter_runs,
    highlight_columns,
    keep_selection,
    parse_run_ids,
    runs_table_rows,
    runs_table_style,
    select_runs,
    settings_table,
)
from mnist_app.experiments.sweeps import FIELDS, differing_fields, run_name
from mnist_app.figures import charts
from mnist_app.i18n import has_text
from mnist_app.runs.jobs import TrainingManager
from mnist_app.runs.store import RunStore

TINY = RunConfig(limit=300, epochs=2, validation_size=100, batch_size=64, width=32)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One real run: two epochs on 300 MNIST images; its history and scores are reused."""
    manager = TrainingManager(RunStore(tmp_path_factory.mktemp("trained")))
    run_id = manager.submit(TINY)
    result = manager.wait(run_id, timeout=180)
    assert result is not None and result.status is RunStatus.FINISHED
    return manager.store.get(run_id)


def stored(store: RunStore, trained, label: str = "", parent: str | None = None, **changes):
    """A finished run in `store` with a changed config and the real run's history and score."""
    run_id = store.create(trained.config.replace(**changes), parent=parent)
    if label:
        store.set_label(run_id, label, "")
    store.record_outcome(
        run_id,
        Outcome(RunStatus.FINISHED, history=trained.history, test_loss=trained.test_loss,
                test_accuracy=trained.test_accuracy, train_seconds=trained.train_seconds),
    )  # fmt: skip
    return store.get(run_id)


def test_the_legend_names_each_run_by_what_differs_and_validation_is_dashed(lab_home, trained):
    store = RunStore(lab_home)
    runs = [stored(store, trained, learning_rate=lr) for lr in (0.001, 0.02)]
    figure = charts.compare_curves_figure(runs, "loss", "en")
    legend = [trace.name for trace in figure.data if trace.showlegend is not False]
    assert legend == ["lr = 0.001", "lr = 0.02"]  # not the whole config
    assert len(figure.data) == 4  # training and validation per run
    dashes = {(trace.name, trace.line.dash) for trace in figure.data}
    assert dashes == {(n, d) for n in legend for d in ("solid", "dash")}
    colours = {trace.name: trace.line.color for trace in figure.data}
    assert colours["lr = 0.001"] != colours["lr = 0.02"]
    epochs = [record.epoch for record in trained.history]
    assert list(figure.data[0].x) == epochs and list(figure.data[0].y) == pytest.approx(
        [record.loss for record in trained.history]
    )
    accuracy = charts.compare_curves_figure(runs, "accuracy", "es")
    assert accuracy.layout.title.text == "Precisión"  # short: the page says which line is which
    assert list(accuracy.layout.yaxis.range) == [0, 1]


def test_a_label_names_its_run_in_the_legend(lab_home, trained):
    store = RunStore(lab_home)
    runs = [stored(store, trained, "wide one", width=64), stored(store, trained, width=16)]
    figure = charts.compare_curves_figure(runs, "accuracy", "en")
    assert [t.name for t in figure.data if t.showlegend is not False] == ["wide one", "width = 16"]


def test_the_parallel_chart_has_one_axis_per_differing_setting_then_accuracy(lab_home, trained):
    store = RunStore(lab_home)
    runs = [
        stored(store, trained, optimizer="adam", learning_rate=0.001),
        stored(store, trained, optimizer="sgd", learning_rate=0.1),
        stored(store, trained, optimizer="sgd", learning_rate=0.001),
    ]
    (parcoords,) = charts.parallel_figure(runs, "en").data
    dims = parcoords.dimensions
    assert [d.label for d in dims] == ["optimizer", "lr", "test accuracy"]
    optimizer, rate, accuracy = dims
    assert list(optimizer.ticktext) == ["adam", "sgd"]  # a choice's values get their names
    assert list(optimizer.values) == [0, 1, 1] and list(optimizer.tickvals) == [0, 1]
    assert list(rate.values) == pytest.approx([-3, -1, -3])  # a rate is placed on a log scale
    assert list(rate.ticktext) == ["0.001", "0.1"]
    assert list(accuracy.values) == pytest.approx([trained.test_accuracy] * 3)


def test_a_run_without_a_test_score_is_left_out_of_the_parallel_chart(lab_home, trained):
    store = RunStore(lab_home)
    runs = [stored(store, trained, seed=s) for s in (1, 2, 3)]
    unscored = store.create(TINY.replace(seed=9))
    runs.append(store.get(unscored))
    (parcoords,) = charts.parallel_figure(runs, "en").data
    assert [d.label for d in parcoords.dimensions] == ["seed", "test accuracy"]
    assert list(parcoords.dimensions[0].values) == [1, 2, 3]


def test_the_settings_table_marks_exactly_the_differing_columns(lab_home, trained):
    store = RunStore(lab_home)
    runs = [
        stored(store, trained, batch_size=32),
        stored(store, trained, batch_size=64, dropout=0.2),
    ]
    names = [run_name(run, differing_fields([r.config for r in runs])) for run in runs]
    table, marked = settings_table(runs, names, "en")
    assert marked == ["Dropout", "Batch size"]
    assert list(table.columns[:4]) == ["Run", "Test accuracy", "Dropout", "Batch size"]
    assert list(table["Run"]) == ["dropout = 0, batch = 32", "dropout = 0.2, batch = 64"]
    html = highlight_columns(table, marked, "en").to_html()
    rules = re.findall(r"([^{}]+)\{([^{}]*)\}", html)  # the cells each CSS rule styles
    styled = {
        int(column)
        for cells, style in rules
        if "background-color: #fff3bf" in style
        for column in re.findall(r"_col(\d+)", cells)
    }
    assert styled == {list(table.columns).index(name) for name in marked}


def test_in_spanish_legends_and_the_settings_table_name_runs_in_spanish(lab_home, trained):
    store = RunStore(lab_home)
    runs = [
        stored(store, trained, learning_rate=0.001, augment=False),
        stored(store, trained, learning_rate=0.02, augment=True),
    ]
    figure = charts.compare_curves_figure(runs, "accuracy", "es")
    legend = [trace.name for trace in figure.data if trace.showlegend is not False]
    assert legend == ["tasa = 0,001, aumento = no", "tasa = 0,02, aumento = sí"]
    names = [run_name(run, differing_fields([r.config for r in runs]), "es") for run in runs]
    table, _ = settings_table(runs, names, "es")
    assert list(table["Entrenamiento"]) == legend
    # The table writes its accuracy as Spanish does; the cell keeps the number (it sorts).
    html = highlight_columns(table, [], "es", percent="Precisión (test)").to_html()
    assert percent_es(trained.test_accuracy) in html
    assert list(table["Precisión (test)"]) == [trained.test_accuracy] * 2


def test_every_setting_has_a_short_name_for_legends_in_every_language():
    for lang in ("es", "en"):
        assert [name for name in FIELDS if not has_text(f"short.{name}", lang)] == []


def percent_es(fraction: float) -> str:
    return f"{fraction * 100:.2f} %".replace(".", ",")


def test_the_runs_table_writes_numbers_in_the_page_s_language_and_keeps_them_numbers(
    lab_home, trained
):
    store = RunStore(lab_home)
    scored = stored(store, trained, learning_rate=0.001, limit=0, batch_size=10000, dropout=0.25)
    queued = store.get(store.create(TINY.replace(learning_rate=0.02)))  # no score, no time yet
    rows = runs_table_rows([scored, queued], "es")
    spanish = runs_table_style(rows, "es").to_html()
    for text in ("0,001", "0,02", "10.000", "0,25", percent_es(trained.test_accuracy), "–"):
        assert f">{text}<" in spanish, text
    assert f">{trained.train_seconds:.1f} s<".replace(".", ",") in spanish
    english = runs_table_style(rows, "en").to_html()
    for text in ("0.001", "10,000", "0.25", f"{trained.test_accuracy * 100:.2f}%"):
        assert f">{text}<" in english, text
    frame = runs_table_style(rows, "es").data  # what the table sorts by: the numbers
    assert list(frame["batch_size"]) == [10000, 64]
    assert frame["test_accuracy"][0] == trained.test_accuracy and math.isnan(
        frame["test_accuracy"][1]
    )


def test_run_ids_from_a_url_are_checked_and_reported(lab_home, trained):
    store = RunStore(lab_home)
    good = stored(store, trained).id
    broken = store.create(TINY)
    with sqlite3.connect(store.path) as db:
        db.execute("UPDATE runs SET history='{not json' WHERE id=?", (broken,))
    assert parse_run_ids(f" {good},,{good},[x](http://e.vil)") == ([good], ["[x](http://e.vil)"])
    selection = select_runs(store, f"{good},0123456789ab,{broken},nope")
    assert [run.id for run in selection.runs] == [good]
    assert selection.skipped == [
        ("nope", "malformed"),
        ("0123456789ab", "unknown"),
        (broken, "unreadable"),
    ]
    many = ",".join(f"{n:012x}" for n in range(11))
    assert select_runs(store, many).too_many and not selection.too_many


def test_thousands_of_ids_give_one_report_per_reason_and_a_hidden_run_reads_as_unknown(
    lab_home, trained
):
    store = RunStore(lab_home)
    seen, hidden = stored(store, trained).id, stored(store, trained).id
    named = [f"{n:012x}" for n in range(3)] + [hidden, seen] + [f"x{n}" for n in range(5000)]
    selection = select_runs(store, ",".join(named), may_see=lambda run: run.id != hidden)
    assert [run.id for run in selection.runs] == [seen]
    grouped = selection.skipped_by_reason()
    assert list(grouped) == ["malformed", "unknown"]
    assert grouped["malformed"] == [f"x{n}" for n in range(5000)]
    # The hidden run is in its place among the unknown ones: nothing tells it exists.
    assert grouped["unknown"] == [*named[:3], hidden]
    ids = [f"{n:012x}" for n in range(5000)]
    assert parse_run_ids(",".join(ids + ids)) == (ids, [])  # once each, in order
    assert len(select_runs(store, ",".join(ids)).skipped) == 10  # only the first ten looked up


def test_the_runs_table_rows_describe_each_run(lab_home, trained):
    store = RunStore(lab_home)
    parent = stored(store, trained, "first try")
    child = stored(store, trained, parent=parent.id, epochs=4)
    cnn = store.get(store.create(TINY.replace(arch="cnn", filters=8, conv_blocks=1)))
    rows = {row["id"]: row for row in runs_table_rows([child, parent, cnn], "es")}
    assert rows[child.id]["parent"] == f"first try ({parent.id})"
    assert rows[parent.id]["parent"] == ""
    assert rows[child.id]["status"] == "terminado" and rows[cnn.id]["status"] == "en cola"
    assert rows[child.id]["epochs"] == 4 and rows[child.id]["trained_epochs"] == 2
    assert rows[child.id]["test_accuracy"] == trained.test_accuracy
    assert isinstance(rows[cnn.id]["when"], datetime)
    assert rows[parent.id]["architecture"] == "MLP 32×1"
    assert rows[cnn.id]["architecture"] == "CNN 8×1 k3 · 32×1"
    assert architecture_text(TINY.replace(layers="conv8x3  pool dense16")) == (
        "MLP · conv8x3 pool dense16"
    )
    assert math.isnan(rows[cnn.id]["train_seconds"] or math.nan)


def test_filters_and_a_selection_that_follows_its_runs(lab_home, trained):
    store = RunStore(lab_home)
    a = stored(store, trained, "Baseline")
    store.set_label(a.id, "Baseline", "the one from the slides")
    b = store.get(store.create(TINY, preset="lab-default"))
    runs = [store.get(a.id), b]
    assert filter_runs(runs, query="SLIDES") == [runs[0]]
    assert filter_runs(runs, query=b.id[:5]) == [b]
    assert filter_runs(runs, statuses=[RunStatus.QUEUED]) == [b]
    assert filter_runs(runs, preset="lab-default") == [b]
    assert filter_runs(runs, query="baseline nothing") == []
    # a new run on top shifts every row: the same runs stay selected
    assert keep_selection(["x", "y", "z"], [0, 2], ["new", "x", "y", "z"]) == [1, 3]
    assert keep_selection(["x", "y"], [1, 7], ["x"]) == []  # deleted, and out of range


def test_the_settings_table_speaks_the_page_s_language(lab_home, trained):
    store = RunStore(lab_home)
    runs = [stored(store, trained, dropout=0.25), stored(store, trained, augment=True)]
    names = [run_name(run, differing_fields([r.config for r in runs])) for run in runs]
    spanish, marked = settings_table(runs, names, "es")
    assert marked == ["Dropout", "Aumento de datos"]
    assert list(spanish["Dropout"]) == ["0,25", "0"]  # Spanish decimals, not 0.25
    assert list(spanish["Aumento de datos"]) == ["no", "sí"]  # not False / True
    assert set(spanish["Arquitectura"]) == {"MLP (capas densas)"}  # the option's name, not mlp
    english, _ = settings_table(runs, names, "en")
    assert list(english["Data augmentation"]) == ["no", "yes"]
    settings = spanish.drop(columns=["Entrenamiento"]).to_string()  # the run names aside
    assert "False" not in settings and "None" not in settings
