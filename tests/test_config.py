"""RunConfig validation and the course presets."""

import dataclasses
import os
import subprocess
import sys

import pytest

from mnist_app.engine.config import CHOICES, RANGES, ConfigError, RunConfig, layer_plan, model_size
from mnist_app.engine.plan import Conv, parse_plan
from mnist_app.engine.presets import PRESET_INFO, PRESETS
from mnist_app.i18n import translate


def _below(low):
    if isinstance(low, int):
        return low - 1
    return low / 2 if low > 0 else -0.1


NUMERIC_CASES = [(name, _below(low)) for name, (low, _) in RANGES.items()] + [
    (name, high * 2 + 1) for name, (_, high) in RANGES.items()
]


@pytest.mark.parametrize(("field", "value"), NUMERIC_CASES)
def test_out_of_range_numbers_are_refused_naming_field_and_range(field, value):
    low, high = RANGES[field]
    with pytest.raises(ConfigError) as caught:
        RunConfig(**{field: value})
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}:")
    assert f"{low}..{high}" in str(caught.value)


@pytest.mark.parametrize("field", sorted(CHOICES))
def test_unknown_choices_are_refused_listing_the_allowed_ones(field):
    with pytest.raises(ConfigError) as caught:
        RunConfig(**{field: "bogus"})
    assert caught.value.field == field
    for allowed in CHOICES[field]:
        assert allowed in str(caught.value)


@pytest.mark.parametrize(
    ("field", "value"),
    [("width", 12.5), ("epochs", "5"), ("dropout", None), ("augment", 1), ("forms", "yes")],
)
def test_wrong_types_are_refused(field, value):
    with pytest.raises(ConfigError, match=field):
        RunConfig(**{field: value})


def test_batch_larger_than_training_set_is_refused():
    with pytest.raises(ConfigError, match=r"batch_size.*1\.\.300"):
        RunConfig(limit=300, batch_size=301)
    assert RunConfig(limit=300, batch_size=300).train_size == 300


def test_whole_training_set_as_one_batch_is_allowed():
    config = RunConfig(validation_size=0, batch_size=60_000)
    assert config.train_size == 60_000


def test_bad_layer_plans_are_refused():
    with pytest.raises(ConfigError, match="layers"):
        RunConfig(arch="cnn", layers="conv32x3 pool dense")
    with pytest.raises(ConfigError, match="conv_blocks"):  # the sliders' plan shrinks to nothing
        RunConfig(arch="cnn", conv_blocks=3, kernel_size=7)
    with pytest.raises(ConfigError, match="stride must be at least 1"):
        RunConfig(arch="cnn", layers="conv32x3s0")
    with pytest.raises(ConfigError, match="^layers:.*shrinks to nothing"):  # 28 -> 6 -> 1 -> 0
        RunConfig(arch="cnn", layers="conv8x5s4 conv8x3s2 conv8x3s2")
    with pytest.raises(ConfigError, match="^layers:.*shrinks to nothing at 'conv32x99'"):
        RunConfig(arch="cnn", layers="conv32x99")


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        (",,,", "names no layer"),
        ("   ", "names no layer"),
        ("dense10 conv8x3", "'conv8x3' comes after a dense layer"),
        ("dense10 pool", "'pool' comes after a dense layer"),
        ("bn " * 5000, "5000 layers is more than the limit of 64"),
        ("dense100000000", "a dense layer needs 1..16384 units"),
        ("conv100000x3", "filters must be 1..1024"),
        ("drop1", r"dropout must be in \[0, 1\)"),
        ("dense0", "a dense layer needs 1..16384 units"),
    ],
)
def test_plans_that_cannot_be_built_are_refused_before_building(plan, message):
    with pytest.raises(ConfigError, match=message) as caught:
        RunConfig(layers=plan)
    assert caught.value.field == "layers"


def test_a_network_over_the_parameter_cap_is_refused_giving_its_size_and_the_cap():
    with pytest.raises(ConfigError) as caught:
        RunConfig(layers="dense4096 " * 40)
    params = (784 + 1) * 4096 + 39 * (4096 + 1) * 4096 + (4096 + 1) * 10  # 658 million
    assert caught.value.field == "model_size"
    assert f"{params:,} parameters" in str(caught.value) and "cap of 25,000,000" in str(
        caught.value
    )
    assert model_size(RunConfig(width=2048, depth=5)).total_params > 8_000_000  # under the cap


def test_a_batch_over_the_activation_memory_cap_is_refused():
    with pytest.raises(ConfigError, match=r"batch of 60,000 images needs [\d,]+ MB.*1,024 MB"):
        RunConfig(arch="cnn", filters=256, validation_size=0, batch_size=60_000)
    RunConfig(arch="cnn", filters=256, validation_size=0, batch_size=128)  # fine


def test_the_caps_are_configurable(monkeypatch):
    monkeypatch.setenv("MNIST_LAB_MAX_PARAMS", "10000")
    with pytest.raises(ConfigError, match="101,770 parameters .* cap of 10,000"):
        RunConfig()
    assert model_size(RunConfig(depth=0)).total_params == 7_850  # softmax regression fits
    monkeypatch.setenv("MNIST_LAB_MAX_PARAMS", "lots")
    with pytest.raises(ConfigError, match="MNIST_LAB_MAX_PARAMS: 'lots' is not a whole number"):
        RunConfig()


def test_a_servers_lower_cap_refuses_a_preset_when_trained_not_when_the_presets_load():
    # A fresh interpreter: the presets load under the server's caps (here lower than any
    # preset's network, or mistyped), and only a run made from one is refused.
    script = (
        "from mnist_app.engine.config import ConfigError\n"
        "from mnist_app.engine.presets import PRESETS\n"
        "try:\n"
        "    PRESETS['chollet-512'].replace(epochs=2)\n"
        "except ConfigError as error:\n"
        "    print(len(PRESETS), error.reason or error)\n"
    )
    for cap, refusal in (("1000", "too_many_params"), ("lots", "MNIST_LAB_MAX_PARAMS: 'lots'")):
        env = {**os.environ, "MNIST_LAB_MAX_PARAMS": cap}
        done = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        count, reason = done.stdout.strip().split(" ", 1)
        assert int(count) == len(PRESETS) and refusal in reason


def test_strided_convolutions_shrink_the_image_by_their_stride():
    plan = layer_plan(RunConfig(arch="cnn", layers="conv8x5s4 conv8x3s2"))
    assert plan == (Conv(8, 5, 4), Conv(8, 3, 2))
    assert [row.output_shape for row in model_size(RunConfig(layers="conv8x5s4 conv8x3s2")).layers][
        1:3
    ] == [(6, 6, 8), (2, 2, 8)]  # 28 -> 6 -> 2: still an image


def test_a_plan_reads_back_as_the_words_it_was_written_in():
    words = "conv32x5s2 bn pool drop0.25 dense128 conv16x3"
    assert " ".join(map(str, parse_plan(words.replace("conv16x3", "")))) == words[:-9]


def test_slider_fields_build_the_expected_plan():
    cnn = RunConfig(arch="cnn", filters=16, conv_blocks=2, depth=1, width=64, dropout=0.2)
    assert [str(spec) for spec in layer_plan(cnn)] == [
        "conv16x3",
        "pool",
        "drop0.2",
        "conv32x3",
        "pool",
        "drop0.2",
        "dense64",
        "drop0.2",
    ]
    assert layer_plan(RunConfig(depth=0)) == ()


def test_config_round_trips_through_a_dict_and_ignores_unknown_keys():
    config = PRESETS["report-v3"]
    assert RunConfig.from_dict({**config.to_dict(), "from_the_future": 1}) == config


def test_handwriting_forms_are_off_unless_asked_and_read_from_older_records():
    assert RunConfig().forms is False
    older = {k: v for k, v in PRESETS["lab-default"].to_dict().items() if k != "forms"}
    assert RunConfig.from_dict(older) == PRESETS["lab-default"]  # e.g. the shipped model's card
    assert RunConfig(forms=True).replace(epochs=3).forms is True


def test_configs_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        RunConfig().width = 3


def test_presets_cover_the_course_notebooks_with_their_reported_figures():
    reported = {slug: p.reported_accuracy for slug, p in PRESET_INFO.items()}
    assert reported["chollet-512"] == pytest.approx(0.9792)
    assert reported["mlp-64-64"] == pytest.approx(0.9562)
    assert reported["report-v1"] == pytest.approx(0.9762)
    assert reported["report-v2"] == pytest.approx(0.9822)
    assert reported["report-v3"] == pytest.approx(0.9915)
    assert reported["slides-sigmoid"] == pytest.approx(0.098)
    assert reported["dnn-50-50"] == pytest.approx(0.97)
    for slug in PRESET_INFO:  # every preset is described in both languages
        assert "⟦" not in translate(f"preset.{slug}", "en") + translate(f"preset.{slug}", "es")
    assert PRESETS["mlp-64-64"].scaling == "centered"
    assert PRESETS["dnn-50-50"].validation_size == 10_000
