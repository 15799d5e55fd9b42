"""Precision: auto | float32 | bfloat16, decided from the network and the CPU's flags; mixed
bfloat16 models train for real, record what they used, and save and load as they are."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from mnist_app.drawing.predict import load_model
from mnist_app.engine.config import ConfigError, RunConfig
from mnist_app.engine.data import load_mnist, scale_images
from mnist_app.engine.models import build_model
from mnist_app.engine.precision import cpu_flags, native_bf16, resolve
from mnist_app.runs.jobs import TrainingManager
from mnist_app.runs.store import RunStore

CNN = RunConfig(arch="cnn", filters=8, conv_blocks=1, width=32, limit=3_000, epochs=2,
                validation_size=0, batch_size=64)  # fmt: skip
MLP = RunConfig(arch="mlp", width=64, limit=3_000, epochs=2, validation_size=0, batch_size=64)
CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
flags\t\t: fpu vme sse sse2 avx2 avx512f {extra}
bogomips\t: 4800.00
"""


@pytest.mark.parametrize(
    ("extra", "native"),
    [("avx512_bf16 avx512_vnni", True), ("amx_bf16 amx_tile", True), ("avx512_vnni", False)],
)
def test_native_bf16_is_read_from_the_cpus_flags(tmp_path, extra, native):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(CPUINFO.format(extra=extra))
    assert bool(cpu_flags(cpuinfo) & {"avx512_bf16", "amx_bf16"}) is native
    assert cpu_flags(tmp_path / "missing") == frozenset()


def test_this_machine_reports_its_flags():
    assert native_bf16() == bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})


def test_auto_picks_bfloat16_only_for_convolutions_on_a_native_cpu():
    assert resolve(CNN, native=True) == "bfloat16"
    assert resolve(CNN, native=False) == "float32"
    assert resolve(MLP, native=True) == "float32"  # measured slower in bf16 (0.8x)
    plan = RunConfig(layers="conv8x3 pool dense16")
    assert resolve(plan, native=True) == "bfloat16"
    for chosen in ("float32", "bfloat16"):  # an explicit choice is kept anywhere
        assert resolve(MLP.replace(precision=chosen), native=False) == chosen
    with pytest.raises(ConfigError, match="precision"):
        RunConfig(precision="float16")


def test_a_mixed_model_computes_its_hidden_layers_in_bf16_and_its_output_in_float32():
    model = build_model(CNN.replace(precision="bfloat16"))
    hidden = [layer for layer in model.layers if layer.name.startswith(("conv", "dense", "pool"))]
    assert hidden and all(layer.compute_dtype == "bfloat16" for layer in hidden)
    assert all(w.dtype == "float32" for w in model.weights)  # the weights stay float32
    assert model.get_layer("digit").compute_dtype == "float32"
    x = scale_images(load_mnist()[2][:4], "unit")
    assert np.asarray(model(x)).dtype == np.float32
    plain = build_model(CNN.replace(precision="float32"))
    assert {layer.compute_dtype for layer in plain.layers} == {"float32"}


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_both_precisions_learn_and_the_run_records_which(tmp_path, precision):
    manager = TrainingManager(RunStore(tmp_path))
    run_id = manager.submit(CNN.replace(precision=precision))
    manager.wait(run_id, timeout=300)
    run = manager.store.get(run_id)
    assert run.precision == precision
    assert run.test_accuracy > 0.85  # 3,000 images, 2 epochs
    model = load_model(run.model_path)  # the policy is saved with the model
    assert model.get_layer("conv_1").compute_dtype == precision
    x = scale_images(load_mnist()[2][:256], "unit")
    reloaded = keras.saving.load_model(run.model_path)
    np.testing.assert_array_equal(model.predict_on_batch(x), reloaded.predict_on_batch(x))


def test_the_cli_takes_the_flag_and_reports_the_precision(tmp_path):
    env = {"MNIST_LAB_HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "mnist_app", "train", "--arch", "mlp", "--width", "16",
         "--limit", "500", "--epochs", "1", "--validation-size", "0", "--precision", "bfloat16",
         "--json"],
        capture_output=True, text=True, env={**os.environ, **env}, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["precision"] == "bfloat16" and outcome["config"]["precision"] == "bfloat16"
    refused = subprocess.run(
        [sys.executable, "-m", "mnist_app", "train", "--precision", "half"],
        capture_output=True, text=True, env={**os.environ, **env}, timeout=120,
    )  # fmt: skip
    assert refused.returncode == 2 and "--precision" in refused.stderr
