"""The code behind a run: the plain script trains what the engine trains, and runs on its own."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest

from mnist_app.cli import main
from mnist_app.engine.config import RunConfig
from mnist_app.engine.models import build_model
from mnist_app.engine.presets import PRESETS
from mnist_app.engine.training import EVAL_BATCH, train
from mnist_app.experiments import codegen
from mnist_app.experiments.codegen import notebook_for, notebook_text, number, script_for
from mnist_app.i18n import translate
from mnist_app.runs.store import RunStore

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MNIST = PROJECT_ROOT / "data" / "mnist.npz"
# Enough steps (190) that two seeds land within a point or two; at 1 epoch on 1,000 images
# four seeds of the same MLP scored 0.56 to 0.66.
SMALL = {"limit": 2000, "batch_size": 32, "epochs": 3, "validation_size": 500}
ALLOWED_IMPORTS = {"argparse", "math", "keras", "numpy"}

# One of each kind the script must get right; small, so each trains in a few seconds.
KINDS = {
    "mlp": RunConfig(width=64, depth=2, scaling="centered", **SMALL),
    "cnn_from_fields": RunConfig(
        arch="cnn", filters=8, conv_blocks=2, width=32, dropout=0.1, **SMALL
    ),
    # (A batch norm just before the dense layers made four seeds score 0.70 to 0.81.)
    "plan_stride_bn_dropout": RunConfig(
        arch="cnn",
        layers="conv16x5s2 bn conv32x3s2 drop0.1 dense64 drop0.2",
        **SMALL | {"validation_size": 0},
    ),
    "augmented": RunConfig(width=64, augment=True, **SMALL),
    "cosine": RunConfig(
        arch="cnn",
        layers="conv8x3 pool dense32",
        learning_rate=0.005,
        lr_schedule="cosine",
        **SMALL,
    ),
    "onecycle": RunConfig(
        arch="cnn",
        layers="conv8x3 pool dense32",
        learning_rate=0.01,
        lr_schedule="onecycle",
        **SMALL,
    ),
}


# The scripts run one after another in one Python process of their own: importing TensorFlow
# is ~5 s of CPU, paid once rather than per script. Each runs as `python mnist_lab.py ...` would:
# as __main__, from its own scratch folder, with sys.argv set, no project on its path and a
# clean environment; its output, exit code and traceback go to files in its folder.
RUNNER = """
import contextlib, json, os, runpy, sys, traceback
for folder, args in json.loads(sys.argv[1]):
    os.chdir(folder)
    sys.argv = ["mnist_lab.py", *args]
    with open("stdout.txt", "w") as out, open("stderr.txt", "w") as err:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                runpy.run_path("mnist_lab.py", run_name="__main__")
                code = 0
            except SystemExit as exit:
                code = exit.code if isinstance(exit.code, int) else 1
            except BaseException:
                traceback.print_exc()
                code = 1
    if "keras" in sys.modules:  # the next script starts from a fresh Keras session
        sys.modules["keras"].backend.clear_session()
    with open("exit.txt", "w") as done:  # written last: the test waits for it
        done.write(str(code))
"""


def mistakes_config() -> RunConfig:
    """Notebook 003's labels divided by 255, small."""
    return PRESETS["pitfall-labels-255"].replace(limit=1000, epochs=1, validation_size=200)


@pytest.fixture(scope="module")
def scripts(tmp_path_factory):
    """Every script this module runs, started at once in one process (RUNNER); its folders by
    name, in the order the tests ask for them."""
    jobs = {}
    for kind, config in KINDS.items():
        args = ["--data", str(MNIST), "--limit", str(config.limit), "--epochs", str(config.epochs)]
        jobs[kind] = (script_for(config, "en"), args)
    jobs["mistakes"] = (script_for(mistakes_config(), "en"), ["--data", str(MNIST)])
    folders = {}
    for name, (script, _) in jobs.items():
        folders[name] = tmp_path_factory.mktemp(f"script-{name}")
        (folders[name] / "mnist_lab.py").write_text(script, encoding="utf-8")
    root = tmp_path_factory.mktemp("scripts")
    (root / "runner.py").write_text(RUNNER, encoding="utf-8")
    order = json.dumps([[str(folders[name]), args] for name, (_, args) in jobs.items()])
    clean = {"PATH": os.environ["PATH"], "HOME": str(root), "TF_CPP_MIN_LOG_LEVEL": "2"}
    process = subprocess.Popen(
        [sys.executable, str(root / "runner.py"), order], cwd=root, env=clean, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    yield folders, process
    process.kill()
    process.communicate()


def script_result(scripts, name: str) -> dict[str, str]:
    """A script's last two lines, once it has ended well."""
    folders, process = scripts
    done = folders[name] / "exit.txt"
    deadline = time.monotonic() + 300  # the scripts before it run first
    while not done.exists():
        if process.poll() is not None:
            pytest.fail(f"the scripts' process ended early:\n{process.communicate()[0][-3000:]}")
        assert time.monotonic() < deadline, f"script {name} did not end in time"
        time.sleep(0.2)
    stderr = (folders[name] / "stderr.txt").read_text()
    assert done.read_text() == "0", stderr[-3000:]
    stdout = (folders[name] / "stdout.txt").read_text()
    return dict(line.split(": ") for line in stdout.strip().splitlines()[-2:])


@pytest.mark.parametrize("kind", list(KINDS))
def test_the_script_trains_what_the_engine_trains(kind, scripts):
    config = KINDS[kind]
    engine = train(config).test_accuracy  # while the script trains in its own process
    printed = script_result(scripts, kind)
    assert list(printed) == ["params", "test_accuracy"]
    assert int(printed["params"]) == build_model(config).count_params()
    assert abs(float(printed["test_accuracy"]) - engine) < 0.05, (printed, engine)


def test_a_script_makes_the_notebooks_mistakes_when_the_run_did(scripts):
    # Notebook 003's labels divided by 255: Keras reads them all as 0, so the network answers
    # 0 for everything and scores the share of zeros among the test digits, in the script too.
    config = mistakes_config()
    printed = script_result(scripts, "mistakes")
    zeros = float(np.mean(np.load(MNIST)["y_test"] == 0))
    assert float(printed["test_accuracy"]) == pytest.approx(zeros, abs=0.001)
    unscaled = script_for(config.replace(labels_255=False, unscaled_test=True), "en")
    assert 'x_test = x_test.astype("float32")\n' in unscaled  # raw 0..255 pixels
    assert 'x_test = x_test.astype("float32") /' not in unscaled


def imported_modules(script: str) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(script)):
        if isinstance(node, ast.Import):
            modules |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            modules.add((node.module or "").split(".")[0])
    return modules


@pytest.mark.parametrize("lang", ["es", "en"])
@pytest.mark.parametrize("slug", list(PRESETS))
def test_every_preset_gives_a_script_that_imports_only_keras_and_numpy(slug, lang):
    script = script_for(PRESETS[slug], lang)
    assert imported_modules(script) <= ALLOWED_IMPORTS
    assert "mnist_app" not in script and "⟦" not in script
    notebook = notebook_for(PRESETS[slug], lang)
    nbformat.validate(notebook)
    code = "\n\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    compile(code, f"{slug}.ipynb", "exec")
    assert imported_modules(code) <= ALLOWED_IMPORTS - {"argparse"}


def test_a_script_has_no_code_for_what_its_config_does_not_use():
    mlp = script_for(RunConfig(validation_size=0, learning_rate=0.0010000000474974513), "en")
    for unused in ("Conv2D", "Reshape", "CosineDecay", "import math", "x_val", "Random"):
        assert unused not in mlp, unused
    assert "keras.optimizers.Adam(learning_rate=0.001)" in mlp
    strided = PRESETS["fast-cnn"].replace(layers="conv32x5s2 bn conv64x3s2 bn dense128")
    cnn = script_for(strided, "en")
    assert "Conv2D(32, 5, strides=2" in cnn and "CosineDecay(\n    0.012 / 25," in cnn
    assert "warmup_target=0.012," in cnn  # fast-cnn's one cycle
    assert "MaxPooling2D" not in cnn and "Dropout" not in cnn


def test_a_script_s_defaults_are_the_config_s_and_its_comments_are_in_its_language():
    config = RunConfig(limit=2000, epochs=7, validation_size=3000)
    spanish, english = script_for(config), script_for(config, "en")
    assert "default=2000" in spanish and "default=7" in spanish
    assert "x_train[-3000:]" in spanish and "Apartar las últimas 3.000 imágenes" in spanish
    assert "Keep the last 3,000 training images" in english
    assert "# Cargar MNIST" in spanish and "# Load MNIST" in english
    assert f"batch_size={EVAL_BATCH}" in english and codegen.EVAL_BATCH == EVAL_BATCH


@pytest.mark.parametrize("lang", ["es", "en"])
def test_a_run_with_handwriting_forms_gets_code_that_says_it_leaves_them_out(lang):
    config = PRESETS["fast-cnn"].replace(forms=True)
    left_out = translate("code.left_out.forms", lang)
    script = script_for(config, lang)
    assert left_out in ast.get_docstring(ast.parse(script))
    assert f"# {translate('code.left_out.forms_short', lang)}\nmodel.fit(" in script
    assert imported_modules(script) <= ALLOWED_IMPORTS and "handforms" not in script.split('"""')[2]
    notebook = notebook_for(config, lang)
    assert left_out in notebook.cells[0].source
    without = script_for(config.replace(forms=False), lang)
    assert left_out not in without and "mnist_app" not in without
    # the rest is the same script: only what it says about the forms differs
    short = translate("code.left_out.forms_short", lang)
    assert script.replace(f"\n{left_out}\n", "").replace(f"\n# {short}", "") == without


@pytest.mark.parametrize("lang", ["es", "en"])
def test_a_run_with_class_digits_gets_code_that_says_it_leaves_the_class_s_drawings_out(lang):
    config = RunConfig(limit=300, epochs=1, class_digits=7)
    left_out = translate("code.left_out.class_digits", lang, n=7)
    short = translate("code.left_out.class_digits_short", lang)
    script = script_for(config, lang)
    assert "7" in left_out and left_out in ast.get_docstring(ast.parse(script))
    assert f"# {short}\nmodel.fit(" in script
    assert left_out in notebook_for(config, lang).cells[0].source
    # the rest is the script of the same run without them: nothing else reads the setting
    without = script_for(config.replace(class_digits=0), lang)
    assert script.replace(f"\n{left_out}\n", "").replace(f"\n# {short}", "") == without
    both = script_for(config.replace(forms=True), lang)  # each left-out part said in turn
    assert both.index(translate("code.left_out.forms_short", lang)) < both.index(short)


def test_numbers_are_written_as_a_person_would():
    assert [number(v) for v in (0.0010000000474974513, 0.25, 1e-05, 10.0, 3)] == [
        "0.001", "0.25", "1e-5", "10.0", "3",
    ]  # fmt: skip


def test_the_notebook_says_what_it_trains_and_sets_plain_variables():
    notebook = nbformat.reads(notebook_text(PRESETS["report-v2"], "en"), as_version=4)
    nbformat.validate(notebook)
    intro, *cells = notebook.cells
    assert intro.cell_type == "markdown" and "conv32x3 pool drop0.25" in intro.source
    code = "\n".join(cell.source for cell in cells)
    assert "argparse" not in code and "args." not in code
    assert "limit = 0" in code and "epochs = 15" in code and "data_path = None" in code


def test_the_cli_prints_the_script_and_writes_the_notebook(tmp_path, capsys):
    target = tmp_path / "lesson" / "fast.ipynb"
    argv = ["code", "--preset", "fast-cnn", "--epochs", "3", "--lang", "en"]
    assert main([*argv, "--notebook", str(target)]) == 0
    config = PRESETS["fast-cnn"].replace(epochs=3)
    assert capsys.readouterr().out == script_for(config, "en")
    notebook = nbformat.read(target, as_version=4)
    nbformat.validate(notebook)
    expected = notebook_for(config, "en")  # the same cells (each new cell gets a random id)
    assert [cell.source for cell in notebook.cells] == [cell.source for cell in expected.cells]


def test_the_cli_gives_a_stored_run_s_code(capsys):
    config = RunConfig(width=32, optimizer="sgd", learning_rate=0.05)
    run_id = RunStore().create(config)
    assert main(["code", "--run", run_id]) == 0
    assert capsys.readouterr().out == script_for(config, "es")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--preset", "fast-cnn", "--run", "0123456789ab"], "--run: give --preset or --run"),
        (["--run", "../runs"], "'../runs' is not a run id"),
        (["--run", "0123456789ab"], "there is no run 0123456789ab"),
        (["--learning-rate", "50"], "learning_rate: 50.0 is outside"),
        (["--layers", "conv8x3 dense16 pool"], "layers:"),
        (["--notebook", "lesson.txt"], "give a file name ending in .ipynb"),
    ],
)
def test_bad_usages_exit_2_naming_the_problem(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["code", *argv]) == 2
    out, err = capsys.readouterr()
    assert out == "" and message in err
    assert not list(tmp_path.glob("*.ipynb"))


def show_code_panel():
    from mnist_app import ui
    from mnist_app.engine.presets import PRESETS

    ui.code_panel(PRESETS["fast-cnn"], key="code", run_id="0123456789ab")


def test_the_code_panel_shows_the_script_and_offers_both_downloads():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(show_code_panel).run(timeout=30)
    assert not at.exception
    (box,) = at.expander
    assert box.label == "El código de este entrenamiento (solo Keras y NumPy)"
    # Built only while open: closed, the page holds neither the script nor its downloads.
    assert not at.code and not at.get("download_button")
    at.session_state["code_open"] = True  # what opening the expander sends
    at.run()
    script = script_for(PRESETS["fast-cnn"], "es", "mnist_lab_0123456789ab.py")
    assert at.code[0].value == script.rstrip("\n")  # st.code drops the last newline
    labels = [button.proto.label for button in at.get("download_button")]
    assert labels == ["Descargar el script (.py)", "Descargar el cuaderno (.ipynb)"]
