"""The bundled MNIST copy, its splits and scalings."""

import numpy as np
import pytest

from mnist_app import data
from mnist_app.config import RunConfig
from mnist_app.data import load_mnist, prepare_data, scale_images


def test_the_bundled_copy_is_the_genuine_mnist():
    x_train, y_train, x_test, y_test = load_mnist()
    assert (x_train.shape, x_test.shape) == ((60_000, 28, 28), (10_000, 28, 28))
    assert x_train.dtype == np.uint8 and x_train.max() == 255
    assert list(y_train[:3]) == [5, 0, 4] and list(y_train[-3:]) == [5, 6, 8]
    assert list(y_test[:5]) == [7, 2, 1, 0, 4]
    assert np.bincount(y_train).tolist() == [
        5923,
        6742,
        5958,
        6131,
        5842,
        5421,
        5918,
        6265,
        5851,
        5949,
    ]
    assert np.bincount(y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_loaded_once_and_read_only():
    assert load_mnist() is load_mnist()
    with pytest.raises(ValueError):
        load_mnist()[0][0, 0, 0] = 1


def test_validation_comes_from_the_end_and_limit_from_the_start():
    x_train, y_train, _, _ = load_mnist()
    splits = prepare_data(RunConfig(validation_size=1000, limit=300))
    assert splits.x_train.shape == (300, 28, 28)
    np.testing.assert_array_equal(splits.y_train, y_train[:300])
    np.testing.assert_array_equal(splits.y_val, y_train[-1000:])
    assert prepare_data(RunConfig(validation_size=0, limit=10, batch_size=10)).x_val.shape == (
        0,
        28,
        28,
    )
    assert RunConfig(validation_size=10_000).train_size == 50_000


def test_scalings():
    pixels = np.array([[0, 255]], dtype=np.uint8)
    assert scale_images(pixels, "unit").tolist() == [[0.0, 1.0]]
    assert scale_images(pixels, "centered").tolist() == [[-0.5, 0.5]]
    assert scale_images(pixels, "none").tolist() == [[0.0, 255.0]]
    assert scale_images(pixels, "unit").dtype == np.float32


def test_path_override_and_a_corrupt_file_gives_a_clear_error(tmp_path, monkeypatch):
    bad = tmp_path / "mnist.npz"
    np.savez(bad, x_train=np.zeros((3, 28, 28), np.uint8))
    monkeypatch.setenv(data.DATA_ENV, str(bad))
    load_mnist.cache_clear()
    try:
        assert data.dataset_path() == bad
        with pytest.raises(ValueError, match="missing"):
            load_mnist()
        bad.write_bytes(b"not a zip at all")
        with pytest.raises(ValueError):
            load_mnist()
    finally:
        load_mnist.cache_clear()


def test_pickled_objects_in_the_archive_are_never_loaded(tmp_path, monkeypatch):
    hostile = tmp_path / "mnist.npz"
    objects = np.array([object()], dtype=object)
    np.savez(hostile, x_train=objects, y_train=objects, x_test=objects, y_test=objects)
    monkeypatch.setenv(data.DATA_ENV, str(hostile))
    load_mnist.cache_clear()
    try:
        with pytest.raises(ValueError, match="pickle"):
            load_mnist()
    finally:
        load_mnist.cache_clear()
