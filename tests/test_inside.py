"""Inside a network: activations per layer, saliency, first-layer weights, the learned map."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from mnist_app.drawing.predict import default_model_path, load_model, read_digit
from mnist_app.engine.config import RunConfig, model_size
from mnist_app.engine.data import load_mnist, scale_images
from mnist_app.engine.models import build_model
from mnist_app.figures.inside import block_art, diverging, feature_maps, mosaic, sequential
from mnist_app.inspect.inside import (
    SHOWN_LAYERS,
    activations,
    as_batch,
    first_layer,
    hidden_features,
    runners_up,
    saliency,
)
from mnist_app.inspect.learned_map import learned_map, map_sample, principal_axes

SHOWN = {cls.__name__ for cls in SHOWN_LAYERS}
CONFIGS = {
    "mlp": RunConfig(arch="mlp", width=64, depth=2),
    "cnn": RunConfig(arch="cnn", filters=8, conv_blocks=2, width=32),
    "plan": RunConfig(layers="conv8x5 bn pool drop0.1 conv16x3s2 dense24 drop0.2 dense12"),
    "plan-augmented": RunConfig(layers="conv4x3 pool dense16", augment=True, scaling="centered"),
    "cnn-bf16": RunConfig(arch="cnn", filters=8, conv_blocks=1, width=16, precision="bfloat16"),
}


def drawn(lines: list[list[tuple[int, int]]], width: int = 20) -> np.ndarray:
    """A canvas drawing as the Draw page gets it: RGBA, white strokes on black, 280×280."""
    picture = Image.new("RGBA", (280, 280), (0, 0, 0, 255))
    pen = ImageDraw.Draw(picture)
    for line in lines:
        pen.line(line, fill=(255, 255, 255, 255), width=width, joint="curve")
    return np.asarray(picture)


@pytest.fixture(scope="module")
def shipped():
    return load_model(default_model_path())


@pytest.mark.parametrize("name", CONFIGS)
def test_every_shown_layer_has_the_shape_the_plan_works_out(name):
    config = CONFIGS[name]
    model = build_model(config)
    image = load_mnist()[2][0] / 255.0
    found = activations(model, as_batch(model, image, config.scaling))
    expected = [(row.type, row.output_shape) for row in model_size(config).layers
                if row.type in SHOWN]  # fmt: skip
    assert [(layer.type, layer.values.shape) for layer in found] == expected
    assert found[-1].values.shape == (10,) and found[-1].values.sum() == pytest.approx(1, 1e-5)
    maps = [layer for layer in found if layer.is_maps]
    assert bool(maps) == (name != "mlp")
    for layer in found:
        assert np.isfinite(layer.values).all()
        strongest = layer.strongest(3)
        assert layer.strengths[strongest[0]] == layer.strengths.max()
        assert list(layer.strengths[strongest]) == sorted(layer.strengths[strongest])[::-1]


def test_activations_follow_the_image(shipped):
    x_test = load_mnist()[2]
    one, other = (
        activations(shipped, as_batch(shipped, x_test[i] / 255.0, "unit")) for i in (0, 1)
    )
    assert not np.allclose(one[0].values, other[0].values)  # not a constant or a stale cache


def test_a_drawn_one_is_read_and_its_saliency_sits_on_the_stroke(shipped):
    reading = read_digit(shipped, drawn([[(140, 40), (140, 240)]]), "unit")
    assert reading.digit == 1
    found = saliency(shipped, as_batch(shipped, reading.image, "unit"), 1, "unit")
    rows, columns = np.nonzero(reading.image > 0.5)  # the stroke's core, not its soft edge
    box = (slice(rows.min(), rows.max() + 1), slice(columns.min(), columns.max() + 1))
    assert reading.image[box].size < 0.25 * reading.image.size  # a 1 is narrow: a real test
    mass = np.abs(found.attribution)
    assert mass[box].sum() > 0.5 * mass.sum()
    # Integrated gradients' completeness: the pixels' shares add up to the change of score
    # (within 1% in float32; the shipped model computes in mixed bfloat16, whose 8-bit
    # mantissa leaves its gradients a few percent off).
    change = found.score - found.blank_score
    mixed = shipped.layers[-2].dtype_policy.compute_dtype == "bfloat16"
    assert found.attribution.sum() == pytest.approx(change, rel=0.12 if mixed else 0.05)
    assert found.sensitivity.shape == (28, 28) and (found.sensitivity >= 0).all()
    assert found.sensitivity.sum() > 0


def test_saliency_of_another_digit_differs_and_bad_digits_are_refused(shipped):
    image = load_mnist()[2][0] / 255.0  # a 7
    batch = as_batch(shipped, image, "unit")
    seven, one = saliency(shipped, batch, 7, "unit"), saliency(shipped, batch, 1, "unit")
    assert seven.score > one.score
    assert not np.allclose(seven.attribution, one.attribution)
    with pytest.raises(ValueError, match="0..9"):
        saliency(shipped, batch, 10, "unit")


def test_saliency_starts_from_the_scalings_blank_image():
    config = CONFIGS["plan-augmented"]  # centred: a blank pixel is -0.5, not 0
    model = build_model(config)
    image = load_mnist()[2][0] / 255.0
    found = saliency(model, as_batch(model, image, config.scaling), 3, config.scaling)
    assert (found.attribution[image == 0] == 0).all()  # no ink, nothing attributed
    assert found.attribution.sum() == pytest.approx(found.score - found.blank_score, rel=0.05)


def test_first_layer_weights_as_images(shipped):
    mlp = build_model(CONFIGS["mlp"])
    dense = first_layer(mlp)
    kernel = np.asarray(mlp.get_layer(dense.name).kernel)
    assert dense.type == "Dense" and dense.images.shape == (64, 28, 28)
    np.testing.assert_array_equal(dense.images[5].ravel(), kernel[:, 5])  # unit 5's input weights
    conv = first_layer(shipped)
    assert conv.type == "Conv2D" and conv.images.shape == (32, 3, 3)
    kernel = np.asarray(shipped.get_layer(conv.name).kernel)
    np.testing.assert_array_equal(conv.images[3], kernel[:, :, 0, 3])


def test_runners_up_come_after_the_answer_in_order():
    probabilities = np.array([0.01, 0.6, 0.02, 0.2, 0.0, 0.0, 0.1, 0.05, 0.01, 0.01])
    assert runners_up(probabilities) == [(3, 0.2), (6, 0.1), (7, 0.05)]


def test_principal_axes_match_the_covariances_eigenvectors():
    rng = np.random.default_rng(1)
    features = rng.normal(size=(500, 6)) @ rng.normal(size=(6, 6)) + 3.0
    mean, axes, shares = principal_axes(features)
    values, vectors = np.linalg.eigh(np.cov(features, rowvar=False))
    top = vectors[:, ::-1][:, :2].T
    np.testing.assert_allclose(np.abs(axes), np.abs(top), atol=1e-8)
    np.testing.assert_allclose(shares, values[::-1][:2] / values.sum(), rtol=1e-8)
    np.testing.assert_allclose(mean, features.mean(axis=0))


def test_the_learned_map_of_the_shipped_model(shipped):
    learned = learned_map(shipped, "unit", size=600)
    assert learned.points.shape == (600, 2)
    np.testing.assert_array_equal(learned.indices, map_sample(600))
    np.testing.assert_array_equal(learned.labels, load_mnist()[3][learned.indices])
    assert (learned.predictions == learned.labels).mean() > 0.97
    assert 1 > learned.explained[0] >= learned.explained[1] > 0
    x = scale_images(load_mnist()[2][learned.indices[:5]], "unit")
    np.testing.assert_allclose(learned.place(hidden_features(shipped, x)), learned.points[:5],
                               rtol=1e-4, atol=1e-4)  # fmt: skip
    # What it learned shows: on just two axes, a digit lies nearer its own class's centre
    # far more often than chance (a tenth).
    centres = np.stack([learned.points[learned.labels == d].mean(axis=0) for d in range(10)])
    nearest = np.linalg.norm(learned.points[:, None] - centres[None], axis=2).argmin(axis=1)
    assert (nearest == learned.labels).mean() > 0.5  # 0.82 for the shipped model


def test_pictures_have_the_sizes_and_colours_promised():
    tiles = np.zeros((5, 4, 3, 3), dtype=np.uint8)
    picture = mosaic(tiles, columns=2, zoom=2)
    assert picture.shape == (3 * 8 + 2, 2 * 6 + 1, 3)
    assert (picture[8, :] == 255).all()  # the gap between the first two rows
    assert (sequential(np.array([0.0, 2.0]))[1] == [252, 253, 191]).all()  # the top is brightest
    signs = diverging(np.array([-1.0, 0.0, 1.0]))
    assert signs[0, 2] > signs[0, 0] and signs[2, 0] > signs[2, 2]  # blue below, red above
    assert (signs[1] == 247).all()
    art = block_art(np.eye(28))
    assert art.count("<br>") == 13 and art.split("<br>")[0][0] != " "


def test_feature_maps_put_the_strongest_first(shipped):
    layer = activations(shipped, as_batch(shipped, load_mnist()[2][0] / 255.0, "unit"))[0]
    picture = feature_maps(layer, columns=8, zoom=3)
    side = layer.values.shape[0] * 3
    assert picture.shape[1] == 8 * side + 7
    first = picture[:side, :side].astype(float).mean()
    last_index = len(layer.strengths) - 1
    top = (last_index // 8) * (side + 1)
    left = (last_index % 8) * (side + 1)
    assert first >= picture[top : top + side, left : left + side].astype(float).mean()


def test_a_tsne_map_keeps_the_digits_apart_better_and_places_its_own_digits(shipped):
    pca = learned_map(shipped, "unit", size=600)
    tsne = learned_map(shipped, "unit", size=600, method="tsne")
    np.testing.assert_array_equal(tsne.indices, pca.indices)
    # a map digit's own features put it where it is (its nearest neighbour is itself)
    np.testing.assert_allclose(tsne.place(tsne.features[:5]), tsne.points[:5], atol=1e-6)

    def nearest_centre(learned):
        centres = np.stack([learned.points[learned.labels == d].mean(axis=0) for d in range(10)])
        distances = np.linalg.norm(learned.points[:, None] - centres[None], axis=2)
        return (distances.argmin(axis=1) == learned.labels).mean()

    assert nearest_centre(tsne) > max(0.9, nearest_centre(pca))  # measured: 0.99 vs 0.82
    with pytest.raises(ValueError, match="method"):
        learned_map(shipped, "unit", size=50, method="umap")


def test_a_mixed_precision_network_is_looked_inside_in_float32():
    config = CONFIGS["cnn-bf16"]
    model = build_model(config)
    batch = as_batch(model, load_mnist()[2][0] / 255.0, config.scaling)
    found = activations(model, batch)
    assert {layer.values.dtype for layer in found} == {np.dtype("float32")}
    assert hidden_features(model, batch).dtype == np.float32
    seen = saliency(model, batch, 7, config.scaling)
    assert np.isfinite(seen.attribution).all() and np.isfinite(seen.sensitivity).all()
    assert seen.attribution.sum() == pytest.approx(seen.score - seen.blank_score, rel=0.1, abs=0.05)
