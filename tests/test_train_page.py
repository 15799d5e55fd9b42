"""The Train page driven through AppTest: settings, a real small training run, its results."""

import json
import sqlite3
import time
from pathlib import Path

import keras
import pytest
from apptest_text import held_run, open_page, texts, wait_for_results
from streamlit.runtime.scriptrunner import script_runner
from streamlit.testing.v1 import AppTest

import mnist_app.runs.managers as managers
from mnist_app import ui
from mnist_app.drawing.classset import ClassSet
from mnist_app.engine.config import RunConfig
from mnist_app.engine.data import load_mnist
from mnist_app.engine.presets import PRESETS
from mnist_app.engine.records import Outcome
from mnist_app.engine.status import RunStatus
from mnist_app.i18n import translate
from mnist_app.runs.managers import shared_manager


def open_train_page(lang: str = "en", **query: str) -> AppTest:
    return open_page("pages/train.py", lang, **query)


def test_streamlit_leaves_keras_alone_between_reruns_once_the_server_is_prepared(monkeypatch):
    # Streamlit resets Keras after every run; twice a second that stalled training 6x.
    resets = []
    monkeypatch.setattr(keras.backend, "clear_session", lambda *a, **k: resets.append(a))
    # Streamlit's own clean-up, even if another test module prepared the server already.
    original = ui.streamlit_cleanup or getattr(script_runner, ui.CLEANUP_NAME)
    monkeypatch.setattr(script_runner, ui.CLEANUP_NAME, original)
    open_train_page().run()
    assert len(resets) >= 2  # Streamlit's own behaviour, which the patch must switch off
    resets.clear()
    ui.prepare_server()  # what app.py's lifespan does when the server starts
    open_train_page().run()
    assert resets == []


def test_a_streamlit_that_moved_the_patched_function_stops_the_server_with_a_reason(monkeypatch):
    monkeypatch.delattr(script_runner, ui.CLEANUP_NAME)
    with pytest.raises(RuntimeError, match="no longer has script_runner._clean_problem_modules"):
        ui.prepare_server()


def test_the_server_looks_at_its_config_files_every_few_seconds_not_five_times_a_second(
    monkeypatch, capsys
):
    from streamlit.watcher import polling_path_watcher

    monkeypatch.setattr(polling_path_watcher, ui.POLL_NAME, 0.2)  # Streamlit's own rate
    ui.prepare_server()
    assert getattr(polling_path_watcher, ui.POLL_NAME) == ui.CONFIG_POLL_SECONDS >= 2
    # a Streamlit without the setting keeps its own rate, and the server starts all the same
    monkeypatch.delattr(polling_path_watcher, ui.POLL_NAME)
    ui.prepare_server()
    assert f"no polling_path_watcher.{ui.POLL_NAME}" in capsys.readouterr().err


def small_settings(at: AppTest) -> None:
    """One epoch on 500 real MNIST images, validated on 100."""
    at.select_slider(key="train_limit").set_value(500)
    at.select_slider(key="train_validation_size").set_value(100)
    at.select_slider(key="train_batch_size").set_value(32)
    at.slider(key="train_epochs").set_value(1)
    at.slider(key="train_width").set_value(64)
    at.run()


def live_component_data(at: AppTest) -> dict:
    """What the page handed the live view component (its first view and where to poll)."""
    (component,) = at.get("bidi_component")
    return json.loads(component.proto.json)


def test_small_run_trains_and_shows_results():
    at = open_train_page()
    small_settings(at)
    summary = {m.label: m.value for m in at.metric}
    assert summary["Parameters in total"] == f"{784 * 64 + 64 + 64 * 10 + 10:,}"  # Keras' count
    at.button(key="train_start").click().run()
    run_id = at.query_params["run"]
    live = live_component_data(at)
    assert live["url"] == f"/api/runs/{run_id}/live?lang=en" and live["refresh_ms"] == 500
    # Start waits up to a second for the run to leave the queue; a loaded machine may take longer.
    assert live["view"]["run_id"] == run_id
    assert live["view"]["status"] in ("queued", "running", "finished")
    assert at.button(key="train_stop")  # Stop sits beside the live view
    wait_for_results(at)
    run = shared_manager().store.get(run_id)
    assert run.status == "finished" and run.config.train_size == 500
    assert "Training finished." in texts(at.success)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Test accuracy"] == f"{run.test_accuracy * 100:.2f}%"
    assert run.test_accuracy > 0.5  # one real epoch on 500 images beats chance by far
    # loss, accuracy, confusion matrix, per digit; the weights once their expander is open
    assert len(at.get("plotly_chart")) == 4
    at.session_state["train_weights_open"] = True  # what opening it sends
    at.run()
    assert len(at.get("plotly_chart")) == 6  # each layer's weights, the gradient norms
    links = [link.proto for link in at.get("page_link")]
    assert any(
        link.page.endswith("draw") and f"model={run_id}" in link.query_string for link in links
    )


def test_results_survive_a_reload_and_a_visit_to_another_page():
    at = open_train_page()
    small_settings(at)
    at.button(key="train_start").click().run()
    run_id = at.query_params["run"]
    wait_for_results(at)
    at.switch_page("pages/home.py").run()
    at.switch_page("pages/train.py").run()
    assert at.query_params["run"] == run_id and "Training finished." in texts(at.success)
    assert at.select_slider(key="train_limit").value == 500  # settings kept too
    reloaded = open_train_page(lang="es", run=run_id)  # a new session: only the URL is left
    assert "Entrenamiento terminado." in texts(reloaded.success)
    assert len(reloaded.get("plotly_chart")) == 4  # the weights' two wait in their expander


def test_preset_fills_every_widget_and_shows_its_figure():
    at = open_train_page()
    at.selectbox(key="train_preset").set_value("chollet-512").run()
    assert at.slider(key="train_width").value == 512
    assert at.selectbox(key="train_optimizer").value == "rmsprop"
    assert at.select_slider(key="train_validation_size").value == 0
    assert "Chollet" in texts(at.caption)
    assert "97.92%" in at.selectbox(key="train_preset").format_func("chollet-512")
    at.slider(key="train_width").set_value(256).run()
    assert "Changed from preset chollet-512" in texts(at.caption)


def test_every_run_sends_the_settings_values_so_a_browser_that_missed_a_run_keeps_them():
    # Under load a second run (the student-id component's) replaced the first run's widgets
    # before the browser drew them; the second run sent no value, so the browser drew every
    # slider at its low end and sent that back: width 1, rate 1e-6, 100 images, batch size 1.
    at = open_train_page()
    at.slider(key="train_width").set_value(256).run()
    at.run()  # a run in which nothing changed
    widgets = {
        "slider": ("train_width", "train_epochs"),
        "selectbox": ("train_optimizer", "train_preset"),
        "select_slider": ("train_learning_rate", "train_limit", "train_batch_size"),
    }
    for kind, keys in widgets.items():
        for key in keys:
            widget = getattr(at, kind)(key=key)
            assert widget.proto.set_value, key  # the value goes with the widget, every run
    assert list(at.slider(key="train_width").proto.value) == [256]
    assert list(at.slider(key="train_epochs").proto.value) == [RunConfig().epochs]
    rate = at.select_slider(key="train_learning_rate").proto.raw_value
    assert list(rate) == [f"{RunConfig().learning_rate:g}"]


@pytest.mark.parametrize(
    ("lang", "change", "expected"),
    [
        ("en", ("select_slider", "train_batch_size", 4096), "larger than the training set"),
        ("es", ("select_slider", "train_batch_size", 4096), "mayor que el conjunto"),
        ("en", ("text_input", "train_layers", "conv32x3 pool banana"), "stride S), pool"),
        ("es", ("slider", "train_kernel_size", 7), "se queda sin píxeles"),
        # The probe's plan that grew the server by 2.9 GB while merely typed: now refused by
        # arithmetic, before any weight exists.
        ("en", ("text_input", "train_layers", "dense4096 " * 40), "657,727,498 parameters"),
        ("es", ("text_input", "train_layers", "dense4096 " * 40), "657.727.498 parámetros"),
        ("en", ("text_input", "train_layers", "bn " * 5000), "5,000 layers is more than"),
        ("en", ("text_input", "train_layers", ",,,"), "names no layer"),
        ("en", ("text_input", "train_layers", "conv32x99"), "shrinks to nothing at 'conv32x99'"),
        ("en", ("text_input", "train_layers", "[x](http://evil.example)"), r"'\[x\]\(http"),
    ],
)
def test_bad_settings_explain_themselves(lang, change, expected):
    key = change[1]
    at = open_train_page(lang)
    at.select_slider(key="train_limit").set_value(500)
    at.selectbox(key="train_arch").set_value("cnn").run()
    at.slider(key="train_conv_blocks").set_value(3 if key == "train_kernel_size" else 1)
    widget, key, value = change
    getattr(at, widget)(key=key).set_value(value)
    at.run()
    assert not at.exception
    assert expected in texts(at.error)
    assert at.button(key="train_start").disabled


def test_queued_run_shows_its_place_and_stops():
    manager = shared_manager()
    assert manager.max_concurrent == 1
    blocker = manager.submit(RunConfig(limit=1000, validation_size=0, epochs=50), paused=True)
    try:
        at = open_train_page()
        small_settings(at)
        at.button(key="train_start").click().run()
        assert "place 1 in the queue" in texts(at.info)
        assert live_component_data(at)["view"]["queue_position"] == 1  # it polls to see it move
        at.button(key="train_stop").click().run()
        wait_for_results(at)
        assert "Training stopped" in texts(at.info)
    finally:
        manager.stop(blocker)
        manager.wait(blocker, timeout=120)
    assert not manager.store.get(blocker).status.active


def test_pause_and_continue_hold_the_run_and_the_page_says_so():
    manager = shared_manager()
    at = open_train_page()
    small_settings(at)
    at.select_slider(key="train_limit").set_value(0)  # the whole set, 200 times: 12 million
    at.slider(key="train_epochs").set_value(200)  # images, so only Stop can end it
    at.run()
    at.button(key="train_start").click().run()
    run_id = at.query_params["run"]
    try:
        at.button(key="train_pause").click().run()
        deadline = time.monotonic() + 60
        while manager.snapshot(run_id).status != "paused":  # held after its current batch
            assert time.monotonic() < deadline
            time.sleep(0.05)
        at.run()  # the rerun the live view asks for when the run's phase changes
        view = live_component_data(at)["view"]
        assert view["status"] == "paused" and view["text"].startswith("Paused at epoch")
        assert at.button(key="train_resume").label == "Continue"
        seen = manager.snapshot(run_id).samples_seen
        time.sleep(0.3)
        assert manager.snapshot(run_id).samples_seen == seen  # nothing moves while paused
        at.button(key="train_resume").click().run()
        assert at.button(key="train_pause")  # running again
        at.button(key="train_pause").click().run()
        at.button(key="train_stop").click().run()  # Stop works while paused
        wait_for_results(at)
        assert "Training stopped" in texts(at.info)
    finally:
        manager.stop(run_id)
        manager.wait(run_id, timeout=120)


def test_a_stored_run_that_no_longer_parses_is_named_not_a_traceback():
    store = shared_manager().store
    run_id = store.create(RunConfig())
    with sqlite3.connect(store.path) as db:
        db.execute("UPDATE runs SET config='{\"width\": 5000}' WHERE id=?", (run_id,))
    at = open_train_page(run=run_id)
    assert not at.exception
    assert f"Run {run_id} can no longer be read" in texts(at.error)
    assert "width: 5000 is outside the allowed range" in texts(at.code)
    assert not at.button(key="train_start").disabled  # the page still works


def test_a_result_whose_model_file_is_damaged_says_so(tmp_path):
    manager = shared_manager()
    at = open_train_page()
    small_settings(at)
    at.button(key="train_start").click().run()
    run_id = at.query_params["run"]
    assert manager.wait(run_id, timeout=120).status == "finished"
    Path(manager.store.get(run_id).model_path).write_bytes(b"PK\x03\x04 not really a zip")
    at.run()  # the page shows the results for the first time, from the damaged file
    assert not at.exception
    assert "damaged or is not a Keras model" in texts(at.error)
    assert "Training finished." in texts(at.success)  # the rest of the results still shows


def test_a_server_with_unusable_settings_tells_every_visitor(monkeypatch, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("MNIST_LAB_HOME", str(blocker / "home"))  # cannot be created
    monkeypatch.setattr(managers, "_shared", None)
    at = open_train_page()
    assert not at.exception
    assert "cannot keep runs" in texts(at.error) and "MNIST_LAB_HOME" in texts(at.code)
    monkeypatch.setenv("MNIST_LAB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MNIST_LAB_MAX_TRAININGS", "abc")
    at = open_train_page()
    assert "MNIST_LAB_MAX_TRAININGS: 'abc' is not a whole number" in texts(at.code)


def test_behind_a_proxy_the_live_view_asks_under_the_path_prefix():
    from streamlit import config

    manager = shared_manager()
    config.set_option("server.baseUrlPath", "/lab/")
    try:
        at = open_train_page()
        small_settings(at)
        at.select_slider(key="train_limit").set_value(0)  # 200 epochs of the whole set: the
        at.slider(key="train_epochs").set_value(200)  # run is live while the page is drawn
        at.run()
        at.button(key="train_start").click().run()
        run_id = at.query_params["run"]
        assert live_component_data(at)["url"] == f"/lab/api/runs/{run_id}/live?lang=en"
    finally:
        config.set_option("server.baseUrlPath", "")
        manager.stop(run_id)
        manager.wait(run_id, timeout=120)


def stored_run(preset: str | None = None, **settings) -> str:
    """A finished run in the page's store, made with `settings` (or the preset's)."""
    store = shared_manager().store
    config = PRESETS[preset] if preset else RunConfig(**settings)
    run_id = store.create(config, preset=preset)
    store.record_outcome(run_id, Outcome(RunStatus.FINISHED, test_accuracy=0.9, test_loss=0.3))
    return run_id


def test_a_run_opened_by_its_link_puts_its_own_settings_in_the_form_and_says_so():
    run_id = stored_run(width=300, depth=3, learning_rate=0.01, epochs=7, limit=2000)
    at = open_train_page(run=run_id)
    assert at.slider(key="train_width").value == 300
    assert at.slider(key="train_depth").value == 3
    assert at.select_slider(key="train_learning_rate").value == 0.01
    assert at.slider(key="train_epochs").value == 7
    assert at.select_slider(key="train_limit").value == 2000
    assert f"The settings are those of run {run_id}" in texts(at.caption)
    at.slider(key="train_width").set_value(64).run()  # the next run's settings, from there
    at.run()
    assert at.slider(key="train_width").value == 64  # taken once, not again on every rerun
    assert "The settings are those of run" not in texts(at.caption)
    spanish = open_train_page("es", run=run_id)
    assert f"Los ajustes son los del entrenamiento {run_id}" in texts(spanish.caption)


def test_a_preset_run_names_its_preset_and_a_link_with_settings_keeps_them():
    run_id = stored_run("dnn-50-50")
    at = open_train_page(run=run_id)
    assert at.selectbox(key="train_preset").value == "dnn-50-50"
    assert at.slider(key="train_width").value == PRESETS["dnn-50-50"].width
    # A shared setup (or a reload after the sliders moved) says what the sliders hold.
    linked = open_train_page(run=run_id, width="256")
    assert linked.slider(key="train_width").value == 256
    assert "The settings are those of run" not in texts(linked.caption)


@pytest.mark.parametrize(("lang", "separators"), [("es", ",."), ("en", ".,")])
def test_the_result_charts_write_numbers_in_the_page_s_language(lang, separators):
    at = open_train_page(lang, run=stored_run(epochs=3))
    specs = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    assert specs and all(spec["layout"]["separators"] == separators for spec in specs)
    loss = next(spec for spec in specs if spec["layout"]["xaxis"].get("dtick"))
    assert loss["layout"]["xaxis"]["dtick"] == 1  # epochs 1, 2, 3: never 0.5
    rates = at.select_slider(key="train_learning_rate").options  # as the slider writes them
    assert "0,001" in rates if lang == "es" else "0.001" in rates
    sizes = at.select_slider(key="train_limit").options
    assert "10.000" in sizes if lang == "es" else "10,000" in sizes
    dropouts = at.select_slider(key="train_dropout").options
    assert "0,25" in dropouts if lang == "es" else "0.25" in dropouts


@pytest.mark.parametrize(
    ("lang", "rate", "other"), [("es", "0,001", "0.001"), ("en", "0.001", "0,001")]
)
def test_the_live_learning_rate_writes_rates_in_the_page_s_language(lang, rate, other):
    # The slider that steers a run in training writes its rates as the form's slider does.
    with held_run(RunConfig(limit=300, epochs=50, validation_size=100, batch_size=64)) as run_id:
        rates = open_train_page(lang, run=run_id).select_slider(key="train_live_lr").options
    assert rate in rates and other not in rates


@pytest.mark.parametrize("lang", ["es", "en"])
def test_class_digits_refuse_start_until_the_class_set_can_be_split_and_the_run_says_so(lang):
    store = shared_manager().store
    class_set = ClassSet(store.directory)  # beside the page's store (one per process)
    class_set.delete([entry.id for entry in class_set.entries()])
    at = open_train_page(lang)
    small_settings(at)
    at.slider(key="train_class_digits").set_value(3).run()
    too_small = translate(
        "invalid.class_set_too_small", lang, drawings=0, train=0, held_out=0, needed=5
    )
    assert too_small in texts(at.error) and at.button(key="train_start").disabled
    assert at.query_params["class_digits"] == "3"  # the setting shares like any other
    x, y = load_mnist()[2:]
    for i in range(20):
        class_set.add(int(y[i]), x[i])
    at.run()
    assert not at.error and not at.button(key="train_start").disabled
    run_id = stored_run(limit=500, class_digits=3)  # as Start stores it: the drawings chosen
    k = len(class_set.split().train)
    assert store.get(run_id).class_drawings == class_set.split().train
    shown = open_train_page(lang, run=run_id)
    said = translate("result.class_digits", lang, k=k, n=3, images=k * 3, mnist=500)
    assert said in texts(shown.caption)
    # The class removes its drawings while the form still offers Start: Start says why, and
    # nothing is queued.
    runs_before = len(store.list())
    class_set.delete([entry.id for entry in class_set.entries()])
    assert not at.button(key="train_start").disabled
    at.button(key="train_start").click().run()
    assert not at.exception and texts(at.error).count(too_small) == 2  # the click's, the form's
    assert len(store.list()) == runs_before
