"""RunConfig validation and the course presets."""

import dataclasses

import pytest

from mnist_app.config import (
    CHOICES,
    PRESET_INFO,
    PRESETS,
    RANGES,
    ConfigError,
    RunConfig,
    layer_plan,
)


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


@pytest.mark.parametrize(("field", "value"), [("width", 12.5), ("epochs", "5"), ("dropout", None)])
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
    with pytest.raises(ConfigError, match="conv_blocks"):
        RunConfig(arch="cnn", conv_blocks=3, kernel_size=7)
    with pytest.raises(ConfigError, match="stride must be at least 1"):
        RunConfig(arch="cnn", layers="conv32x3s0")
    with pytest.raises(ConfigError, match="conv_blocks"):  # 28 -> 6 -> 1 -> nothing
        RunConfig(arch="cnn", layers="conv8x5s4 conv8x3s2 conv8x3s2")


def test_strided_convolutions_shrink_the_image_by_their_stride():
    assert layer_plan(RunConfig(arch="cnn", layers="conv8x5s4 conv8x3s2")) == [
        "conv8x5s4",
        "conv8x3s2",
    ]  # 28 -> 6 -> 2: still an image


def test_slider_fields_build_the_expected_plan():
    cnn = RunConfig(arch="cnn", filters=16, conv_blocks=2, depth=1, width=64, dropout=0.2)
    assert layer_plan(cnn) == [
        "conv16x3",
        "pool",
        "drop0.2",
        "conv32x3",
        "pool",
        "drop0.2",
        "dense64",
        "drop0.2",
    ]
    assert layer_plan(RunConfig(depth=0)) == []


def test_config_round_trips_through_a_dict_and_ignores_unknown_keys():
    config = PRESETS["report-v3"]
    assert RunConfig.from_dict({**config.to_dict(), "from_the_future": 1}) == config


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
    for preset in PRESET_INFO.values():
        assert set(preset.description) == {"en", "es"}
    assert PRESETS["mlp-64-64"].scaling == "centered"
    assert PRESETS["dnn-50-50"].validation_size == 10_000
