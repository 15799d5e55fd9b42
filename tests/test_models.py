"""Models built from configs: Keras' own parameter counts are the oracle."""

import keras
import pytest

from mnist_app.engine.config import RunConfig, model_size
from mnist_app.engine.models import OPTIMIZER_CLASSES, build_model, summarize
from mnist_app.engine.presets import PRESETS

L = keras.layers


def _notebook_model(slug: str) -> keras.Sequential:
    """Each preset's network written out by hand, as the notebooks wrote it."""
    flat = [keras.Input((28, 28)), L.Flatten()]
    image = [keras.Input((28, 28)), L.Reshape((28, 28, 1))]
    layers = {
        "chollet-512": flat + [L.Dense(512, "relu"), L.Dense(10, "softmax")],
        "mlp-64-64": flat + [L.Dense(64, "relu"), L.Dense(64, "relu"), L.Dense(10, "softmax")],
        "report-v1": flat + [L.Dense(128, "relu"), L.Dense(10, "softmax")],
        "report-v2": image
        + [
            L.Conv2D(32, 3, activation="relu"),
            L.MaxPooling2D(2),
            L.Dropout(0.25),
            L.Flatten(),
            L.Dense(10, "softmax"),
        ],
        "report-v3": image
        + [
            L.Conv2D(32, 4, activation="relu"),
            L.Conv2D(64, 3, activation="relu"),
            L.MaxPooling2D(2),
            L.Dropout(0.2),
            L.Flatten(),
            L.Dense(248, "relu"),
            L.Dense(124, "relu"),
            L.Dropout(0.4),
            L.Dense(10, "softmax"),
        ],
        "slides-sigmoid": flat + [L.Dense(10, "sigmoid"), L.Dense(10, "softmax")],
        "dnn-50-50": flat + [L.Dense(50, "relu"), L.Dense(50, "relu"), L.Dense(10, "softmax")],
    }[slug]
    return keras.Sequential(layers)


NOTEBOOK_PRESETS = [
    "chollet-512",
    "mlp-64-64",
    "report-v1",
    "report-v2",
    "report-v3",
    "slides-sigmoid",
    "dnn-50-50",
]


@pytest.mark.parametrize("slug", NOTEBOOK_PRESETS)
def test_preset_parameter_count_equals_the_notebook_network(slug):
    ours = build_model(PRESETS[slug])
    assert ours.count_params() == _notebook_model(slug).count_params()


def test_known_parameter_counts():
    assert build_model(PRESETS["chollet-512"]).count_params() == 407_050
    assert build_model(PRESETS["slides-sigmoid"]).count_params() == 7_960


@pytest.mark.parametrize("slug", sorted(PRESETS))
def test_every_preset_builds_and_its_summary_adds_up(slug):
    model = build_model(PRESETS[slug])
    summary = summarize(model)
    assert summary.total_params == model.count_params()
    assert sum(row.params for row in summary.layers) == summary.total_params
    assert summary.layers[-1].output_shape == (10,)
    assert model.output_shape == (None, 10)


PLANS = [
    RunConfig(),
    RunConfig(depth=0),
    RunConfig(width=33, depth=3, batch_norm=True, dropout=0.3),
    RunConfig(arch="cnn", filters=8, conv_blocks=3, kernel_size=2, batch_norm=True, dropout=0.1),
    RunConfig(arch="cnn", layers="conv8x7s3 bn pool"),
    RunConfig(layers="bn drop0.5 dense17 bn"),
    RunConfig(layers="pool dense20"),
    RunConfig(arch="cnn", layers="conv4x3 conv4x3", augment=True),
    RunConfig(augment=True),
]


@pytest.mark.parametrize("config", [*PRESETS.values(), *PLANS], ids=str)
def test_the_size_worked_out_before_building_is_what_keras_builds(config):
    # Layer by layer: name, type, output shape, parameters (trainable and not).
    assert model_size(config) == summarize(build_model(config))


@pytest.mark.parametrize("name", sorted(OPTIMIZER_CLASSES))
def test_every_optimizer_compiles_with_its_learning_rate(name):
    model = build_model(RunConfig(optimizer=name, learning_rate=0.0123))
    assert type(model.optimizer) is OPTIMIZER_CLASSES[name]
    assert float(model.optimizer.learning_rate) == pytest.approx(0.0123)


@pytest.mark.parametrize(
    "activation", ["relu", "sigmoid", "tanh", "elu", "selu", "gelu", "leaky_relu", "linear"]
)
def test_every_activation_is_used_in_hidden_layers(activation):
    model = build_model(RunConfig(activation=activation, depth=2))
    dense = [layer for layer in model.layers if isinstance(layer, L.Dense)]
    assert [d.activation.__name__ for d in dense[:-1]] == [activation, activation]
    assert dense[-1].activation.__name__ == "softmax"


def test_augmentation_layers_are_in_the_model_only_when_asked():
    def names(config):
        return [layer.name for layer in build_model(config).layers]

    assert "augmentation" in names(RunConfig(augment=True))
    assert "augmentation" not in names(RunConfig())


def test_same_seed_gives_same_initial_weights():
    a, b = build_model(RunConfig(seed=7)), build_model(RunConfig(seed=7))
    c = build_model(RunConfig(seed=8))
    assert all((x == y).all() for x, y in zip(a.get_weights(), b.get_weights(), strict=True))
    assert not (a.get_weights()[0] == c.get_weights()[0]).all()


def test_strided_convolutions_match_a_hand_built_network():
    ours = build_model(RunConfig(arch="cnn", layers="conv32x5s2 bn conv64x3s2 bn dense128"))
    by_hand = keras.Sequential(
        [
            keras.Input((28, 28)),
            L.Reshape((28, 28, 1)),
            L.Conv2D(32, 5, strides=2, activation="relu"),
            L.BatchNormalization(),
            L.Conv2D(64, 3, strides=2, activation="relu"),
            L.BatchNormalization(),
            L.Flatten(),
            L.Dense(128, "relu"),
            L.Dense(10, "softmax"),
        ]
    )
    assert ours.count_params() == by_hand.count_params()
    shapes = [row.output_shape for row in summarize(ours).layers]
    assert (12, 12, 32) in shapes and (5, 5, 64) in shapes  # (28-5)//2+1 = 12, (12-3)//2+1 = 5
