"""A sweep's live view and result figures, on real tiny runs (a few hundred MNIST images)."""

import json
import math
import statistics

import pytest
from polling import until

from mnist_app.engine.config import ConfigError, RunConfig
from mnist_app.engine.status import RunStatus
from mnist_app.experiments.lessons import LESSONS
from mnist_app.experiments.sweeps import Sweep, make_vary, start_sweep, sweep_points
from mnist_app.figures.sweeps import (
    PALETTE,
    answer_text,
    error_text,
    estimate_text,
    result_figure,
    shortened_text,
    starting_values,
    sweep_live_view,
)
from mnist_app.i18n import missing_placeholder
from mnist_app.runs.jobs import TrainingManager
from mnist_app.runs.store import RunStore

TINY = RunConfig(limit=300, epochs=1, validation_size=100, batch_size=64, width=32)
RATES = (0.001, 0.01, 0.1)


def names(chart: dict) -> set[str]:
    return {line["name"] for line in chart["lines"]}


def test_live_view_has_one_line_per_member_and_one_bar_for_the_whole_sweep(lab_home):
    manager = TrainingManager(RunStore(lab_home), max_concurrent=1)
    sweep = Sweep(TINY, (make_vary("learning_rate", list(RATES)),))
    sweep_id = start_sweep(manager, sweep, paused=True)  # every member held before its first batch
    first, second, third = (run.id for run in manager.store.sweep_runs(sweep_id))
    try:
        view = sweep_live_view(manager, sweep_id, sweep, "en")
        assert view.active is True and view.progress == 0.0
        assert view.text.startswith("0 of 3 runs done")
        accuracy, loss = view.charts
        assert accuracy["y_range"] == [0, 1] and accuracy["x_max"] == 1
        assert names(accuracy) == names(loss) == {"lr = 0.001", "lr = 0.01", "lr = 0.1"}
        manager.resume(first)  # one member trains to its end; the others stay held
        manager.wait(first, timeout=120)
        until(
            lambda: sweep_live_view(manager, sweep_id, sweep, "en").queue_position == 1,
            "the sweep's live view shows its place in the queue",
            timeout=120,
        )
        view = sweep_live_view(manager, sweep_id, sweep, "en")
        assert view.progress == pytest.approx(1 / 3)  # its images of all three runs' images
        assert view.text.startswith("1 of 3 runs done")
        drawn = [line for line in view.charts[0]["lines"] if line["y"]]
        assert {line["name"] for line in drawn} == {"lr = 0.001"}
        for run_id in (second, third):
            manager.resume(run_id)
            manager.wait(run_id, timeout=120)
    finally:
        for run_id in (first, second, third):
            manager.stop(run_id)
    view = sweep_live_view(manager, sweep_id, sweep, "es")
    assert view.active is False and view.status == RunStatus.FINISHED
    assert view.progress == 1.0 and view.text == "Barrido terminado: 3 entrenamientos."
    assert view.to_json() == {"sweep_id": sweep_id, "lang": "es", "status": "finished",
                              "active": False, "queue_position": 3, "progress": 1.0,
                              "text": view.text, "charts": list(view.charts)}  # fmt: skip
    accuracy, loss = view.charts
    solid = [line for line in accuracy["lines"] if not line["dash"]]
    dotted = [line for line in accuracy["lines"] if line["dash"]]
    assert len(solid) == len(dotted) == 3  # training per batch, validation per epoch
    assert [line["color"] for line in solid] == list(PALETTE[:3])  # one colour per value
    assert all(0 <= y <= 1 for line in solid for y in line["y"]) and all(solid[0]["y"])
    runs = manager.store.sweep_runs(sweep_id)
    assert [d["y"] for d in dotted] == [
        pytest.approx([run.history[0].val_accuracy], rel=1e-3) for run in runs
    ]
    served = view.to_json()
    assert json.loads(json.dumps(served, allow_nan=False)) == served  # strict JSON, as served
    assert missing_placeholder("")[0] not in json.dumps(served, ensure_ascii=False)

    points = sweep_points(sweep, runs)
    figure = result_figure(sweep, points, "en", "accuracy")
    assert figure.layout.xaxis.type == "log"  # learning rates a decade apart
    (scatter,) = figure.data
    assert list(scatter.x) == list(RATES)
    assert list(scatter.y) == [run.test_accuracy for run in runs]
    assert list(scatter.customdata) == [run.id for run in runs]  # every point opens its run
    assert scatter.error_y.visible is False  # one run per value: no spread to show
    best = max(range(3), key=lambda i: runs[i].test_accuracy)
    assert [s == "star" for s in scatter.marker.symbol] == [i == best for i in range(3)]
    # On a log axis plotly places an annotation by the log10 of its value: the arrow points at
    # the best value, not at 10**value off to the right of the chart.
    assert figure.layout.annotations[0].x == pytest.approx(math.log10(RATES[best]))
    assert list(figure.layout.xaxis.tickvals) == list(RATES)  # ticks at the values tried
    assert "lr = " not in answer_text(sweep, points, "en")  # words, not legend shorthand
    assert answer_text(sweep, points, "en").startswith(f"Best here: Learning rate {RATES[best]:g}")
    time_figure = result_figure(sweep, points, "en", "time")
    assert list(time_figure.data[0].y) == [run.train_seconds for run in runs]


def test_repeats_give_error_bars_and_a_grid_gives_a_heatmap(lab_home):
    manager = TrainingManager(RunStore(lab_home), max_concurrent=1)
    repeated = Sweep(TINY, (make_vary("batch_size", [32, 64]),), repeats=2)
    grid = Sweep(TINY, (make_vary("width", [16, 32]), make_vary("activation", ["relu", "tanh"])))
    ids = [start_sweep(manager, sweep) for sweep in (repeated, grid)]
    for run in [r for sweep_id in ids for r in manager.store.sweep_runs(sweep_id)]:
        manager.wait(run.id, timeout=180)
    runs = manager.store.sweep_runs(ids[0])
    assert sorted((r.config.batch_size, r.config.seed) for r in runs) == [
        (32, 42), (32, 43), (64, 42), (64, 43),
    ]  # fmt: skip
    points = sweep_points(repeated, runs)
    (scatter,) = result_figure(repeated, points, "en", "accuracy").data
    assert scatter.error_y.visible is True
    assert list(scatter.error_y.array) == pytest.approx(
        [statistics.stdev(p.accuracies) for p in points]
    )
    assert list(scatter.y) == pytest.approx([statistics.fmean(p.accuracies) for p in points])
    assert result_figure(repeated, points, "en", "accuracy").layout.xaxis.type == "log"

    grid_points = sweep_points(grid, manager.store.sweep_runs(ids[1]))
    heatmap, star = result_figure(grid, grid_points, "es", "accuracy").data
    assert heatmap.type == "heatmap" and list(heatmap.x) == ["relu", "tanh"]
    assert list(heatmap.y) == ["16", "32"]
    assert heatmap.z[1][0] == grid_points[2].mean_accuracy  # width 32, relu
    best = max(grid_points, key=lambda p: p.mean_accuracy)
    assert (star.y[0], star.x[0]) == (str(best.values[0]), best.values[1])
    assert star.customdata[0] == best.run_ids[0]


@pytest.mark.parametrize(
    ("lang", "vary", "expected"),
    [
        ("es", ("learning_rate", ["0.001", "abc"]), "Tasa de aprendizaje: 'abc' no es un número."),
        ("en", ("width", ["64", "12.5"]), "'12.5' is not a whole number"),
        ("en", ("activation", ["relu", "swish"]), "'swish' is not one of the options (relu,"),
        ("en", ("learning_rate", ["0.001", "20"]), "outside the allowed range 1e-06 to 10"),
        ("en", ("batch_size", ["64", "5000"]), "larger than the training set (300 images)"),
    ],
)
def test_a_sweep_that_cannot_start_says_which_setting_and_why(lang, vary, expected):
    from mnist_app.experiments.sweeps import parse_value

    name, texts = vary
    with pytest.raises(ConfigError) as caught:
        values = [parse_value(name, text) for text in texts]
        Sweep(TINY, (make_vary(name, values),)).configs()
    assert expected in error_text(caught.value, lang)


def test_too_many_runs_and_a_repeated_value_are_explained():
    grid = Sweep(
        TINY, (make_vary("width", [8, 16, 32, 64, 128]), make_vary("depth", [1, 2, 3, 4, 5]))
    )
    with pytest.raises(ConfigError) as caught:
        grid.configs()
    said = error_text(caught.value, "en")
    assert "25 runs is too many: a sweep trains at most 24 runs, repeats included" in said
    with pytest.raises(ConfigError) as caught:
        make_vary("learning_rate", [0.001, 0.001])
    assert error_text(caught.value, "es").startswith("Este barrido no puede empezar — Tasa")


def test_form_starts_around_the_base_and_lessons_say_how_they_are_shortened():
    assert starting_values("learning_rate", TINY) == ["0.0001", "0.001", "0.01"]
    assert starting_values("activation", TINY) == ["relu", "sigmoid", "tanh"]
    assert estimate_text(34, "en") == "≈ 30 s" and estimate_text(200, "es") == "≈ 3 min"
    assert estimate_text(4000, "en") == "≈ 1 h 7 min"
    assert shortened_text(LESSONS["001-batch"], "en") == (
        "Shortened to fit the class: trains on 20,000 images instead of 60,000."
    )
    assert shortened_text(LESSONS["004-deep"], "en") is None  # width 500 is the exercise's own
    assert shortened_text(LESSONS["004-width"], "en") is None


def ask(sweep_id: str, query: bytes = b"") -> tuple[int, dict]:
    """The live API's answer for a sweep, as the served app gives it."""
    from starlette.requests import Request

    from mnist_app.figures.live import sweep_endpoint

    scope = {"type": "http", "method": "GET", "path_params": {"sweep_id": sweep_id},
             "query_string": query, "headers": []}  # fmt: skip
    reply = sweep_endpoint(Request(scope))
    return reply.status_code, json.loads(reply.body)


@pytest.mark.parametrize(
    "sweep_id", ["nope", "0123456789ab", "'; DROP TABLE sweeps; --", "x" * 5000]
)
def test_the_api_has_no_view_of_an_unknown_sweep(sweep_id):
    assert ask(sweep_id) == (404, {"error": "no such sweep"})


def test_the_api_serves_a_sweep_s_view_in_the_asked_language():
    from mnist_app.runs.managers import shared_manager

    manager = shared_manager()
    sweep = Sweep(TINY, (make_vary("learning_rate", [0.001, 0.01]),))
    sweep_id = start_sweep(manager, sweep, paused=True)
    try:
        status, view = ask(sweep_id, b"lang=es")
        assert status == 200 and view["lang"] == "es" and view["active"] is True
        assert view["text"].startswith("0 de 2 entrenamientos hechos")
        assert names(view["charts"][1]) == {"tasa = 0,001", "tasa = 0,01"}  # Spanish legends
        assert names(ask(sweep_id, b"lang=en")[1]["charts"][1]) == {"lr = 0.001", "lr = 0.01"}
        assert ask(sweep_id, b"lang=klingon")[1]["lang"] == "es"
    finally:
        for run in manager.store.sweep_runs(sweep_id):
            manager.stop(run.id)
            manager.wait(run.id, timeout=60)
