"""The Data page's numbers and figures, checked against MNIST itself and against the training
code they describe."""

import numpy as np
import pytest

from mnist_app.engine.config import RunConfig
from mnist_app.engine.data import load_mnist, prepare_data
from mnist_app.figures import dataset as dataset_figures
from mnist_app.inspect import dataset


@pytest.fixture(scope="module")
def mnist():
    return load_mnist()


@pytest.mark.parametrize("validation_size", [0, 10_000, 50_000])
def test_class_counts_add_up_to_each_split(mnist, validation_size):
    counts = dataset.class_counts(validation_size)
    cut = 60_000 - validation_size
    assert dataset.validation_cut(validation_size) == cut
    assert [int(counts[split].sum()) for split in dataset.SPLITS] == [cut, validation_size, 10_000]
    assert counts["train"].tolist() == np.bincount(mnist[1][:cut], minlength=10).tolist()
    assert counts["test"].tolist() == np.bincount(mnist[3], minlength=10).tolist()


def test_the_validation_split_is_the_one_training_uses():
    splits = prepare_data(RunConfig(validation_size=5_000, limit=10, batch_size=10))
    counts = dataset.class_counts(5_000)
    assert counts["validation"].tolist() == np.bincount(splits.y_val, minlength=10).tolist()


def test_mean_images_average_each_digit(mnist):
    x_train, y_train = mnist[0], mnist[1]
    means = dataset.mean_images()
    assert means.shape == (10, 28, 28)
    assert means.min() >= 0 and means.max() <= 255
    assert means[:, 0, :].max() < 1 and means[:, :, 0].max() < 1  # the edges stay empty
    counts = np.bincount(y_train, minlength=10)
    overall = np.tensordot(counts, means, axes=1) / counts.sum()
    np.testing.assert_allclose(overall, x_train.mean(axis=0, dtype=np.float64), atol=1e-9)
    np.testing.assert_allclose(means[3], x_train[y_train == 3].mean(axis=0), atol=1e-9)


def test_pixel_counts_are_the_training_histogram(mnist):
    counts = dataset.pixel_counts()
    assert counts.shape == (256,) and counts.sum() == 60_000 * 28 * 28
    assert counts[0] == int((mnist[0] == 0).sum())
    assert counts[255] == int((mnist[0] == 255).sum())


def test_scalings_map_the_grey_levels_as_training_does():
    unit, centered, raw = (dataset.scaled_levels(s) for s in ("unit", "centered", "none"))
    assert (unit.low, unit.high) == (0, 1)
    assert (centered.low, centered.high) == (-0.5, 0.5)
    assert (raw.low, raw.high) == (0, 255)
    # MNIST's well-known normalisation constants (torchvision's Normalize((0.1307,), (0.3081,)))
    assert unit.mean == pytest.approx(0.1307, abs=1e-4)
    assert unit.std == pytest.approx(0.3081, abs=1e-4)
    assert centered.mean == pytest.approx(unit.mean - 0.5)
    assert centered.std == pytest.approx(unit.std)
    assert raw.mean == pytest.approx(unit.mean * 255, rel=1e-6)
    assert unit.summary() == pytest.approx(
        {"black": 0, "middle": 128 / 255, "white": 1, "mean": unit.mean, "std": unit.std}
    )


def test_samples_are_random_digits_of_each_row(mnist):
    indices = dataset.sample_indices(seed=3, per_digit=6)
    assert indices.shape == (10, 6)
    assert (mnist[1][indices] == np.arange(10)[:, None]).all()
    assert len(set(indices.ravel().tolist())) == 60
    assert (dataset.sample_indices(3, 6) == indices).all()
    assert (dataset.sample_indices(4, 6) != indices).any()


def test_tile_puts_each_digit_in_its_cell(mnist):
    indices = dataset.sample_indices(seed=0, per_digit=3)
    picture = dataset.tile(mnist[0][indices], gap=2, zoom=2)
    assert picture.shape == ((10 * 30 - 2) * 2, (3 * 30 - 2) * 2) and picture.dtype == np.uint8
    top, left = 4 * 30 * 2, 2 * 30 * 2  # row 4, column 2
    np.testing.assert_array_equal(picture[top : top + 56 : 2, left : left + 56 : 2],
                                  mnist[0][indices[4, 2]])  # fmt: skip


def test_the_augmentation_ranges_are_the_training_layers():
    assert dataset.augmentation_ranges() == {"degrees": 10.0, "zoom": 0.1, "pixels": 2.8}


@pytest.mark.parametrize("scaling", ["unit", "centered"])
def test_augmentation_moves_a_digit_but_keeps_it(mnist, scaling):
    original = mnist[0][0].astype(np.float64)
    variants = dataset.augmented(0, seed=5, count=8, scaling=scaling)
    assert variants.shape == (8, 28, 28) and variants.dtype == np.uint8
    assert all((variant != mnist[0][0]).any() for variant in variants)
    assert len({variant.tobytes() for variant in variants}) == 8
    ink = variants.reshape(8, -1).sum(axis=1) / original.sum()
    assert ((ink > 0.7) & (ink < 1.4)).all(), ink  # zoomed ±10%: the same strokes, resized
    assert variants[:, 0, 0].max() == 0  # the corners filled with the background, not grey
    np.testing.assert_array_equal(variants, dataset.augmented(0, seed=5, count=8, scaling=scaling))
    assert (dataset.augmented(0, seed=6, count=8, scaling=scaling) != variants).any()


def test_figures_draw_the_numbers(mnist):
    split = dataset_figures.split_figure(20_000, "en")
    assert [(bar.base[0], bar.x[0]) for bar in split.data] == [
        (0, 40_000), (40_000, 20_000), (0, 10_000)
    ]  # fmt: skip
    counts = dataset.class_counts(20_000)
    figure = dataset_figures.counts_figure(counts, "es")
    assert [list(bar.y) for bar in figure.data] == [counts[s].tolist() for s in dataset.SPLITS]
    matrix = dataset_figures.matrix_figure(mnist[0][7])
    np.testing.assert_array_equal(matrix.data[0].z, mnist[0][7])
    assert len(dataset_figures.means_figure(dataset.mean_images()).data) == 10
    assert len(dataset_figures.histogram_figure(("unit", "centered")).data) == 2


def test_projector_figures_are_large_but_the_matrix_numbers_fit_their_cells(mnist):
    matrix = dataset_figures.for_projector(dataset_figures.matrix_figure(mnist[0][0]))
    assert matrix.data[0].textfont.size == dataset_figures.MATRIX_PROJECTOR_TEXT_SIZE
    assert matrix.layout.xaxis.tickfont.size == 22
    counts = dataset_figures.for_projector(dataset_figures.counts_figure(dataset.class_counts(0)))
    assert counts.layout.xaxis.tickfont.size == 22
    split = dataset_figures.for_projector(dataset_figures.split_figure(10_000))
    assert split.layout.annotations[0].font.size == 22
