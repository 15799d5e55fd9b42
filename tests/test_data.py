"""The bundled MNIST copy, its splits and scalings, and clear errors for anything else."""

import keras
import numpy as np
import pytest

from mnist_app.engine import data
from mnist_app.engine.config import RunConfig
from mnist_app.engine.data import DataError, load_mnist, prepare_data, scale_images


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
        with pytest.raises(DataError, match="missing"):
            load_mnist()
        bad.write_bytes(b"not a zip at all")
        with pytest.raises(DataError, match=str(bad)):
            load_mnist()
        bad.write_bytes(b"PK\x03\x04" + bytes(100))  # a zip cut short
        with pytest.raises(DataError, match="cannot be read"):
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
        with pytest.raises(DataError, match="pickle"):
            load_mnist()
    finally:
        load_mnist.cache_clear()


@pytest.fixture(scope="module")
def real_mnist() -> dict[str, np.ndarray]:
    """The four arrays of the project's own file, read directly (not through the cache)."""
    with np.load(data.DEFAULT_DATA) as npz:
        return {name: npz[name] for name in npz.files}


@pytest.fixture
def data_file(tmp_path, monkeypatch):
    """$MNIST_LAB_DATA names a file in tmp_path; the next test reads the real copy again."""
    path = tmp_path / "mnist.npz"
    monkeypatch.setenv(data.DATA_ENV, str(path))
    load_mnist.cache_clear()
    yield path
    load_mnist.cache_clear()


def test_float_images_scaled_to_unit_range_are_refused(real_mnist, data_file):
    np.savez(data_file, **{**real_mnist, "x_test": real_mnist["x_test"] / np.float32(255)})
    with pytest.raises(DataError, match="x_test holds float32 values") as caught:
        load_mnist()  # they used to become all zeros
    assert str(data_file) in str(caught.value)


def test_labels_past_nine_are_refused_not_wrapped(real_mnist, data_file):
    np.savez(data_file, **{**real_mnist, "y_train": real_mnist["y_train"].astype(np.int64) * 1000})
    with pytest.raises(DataError, match="y_train has values 0..9000, expected 0..9"):
        load_mnist()  # they used to wrap modulo 256: 7000 became 88


def test_negative_grey_levels_are_refused(real_mnist, data_file):
    centred = real_mnist["x_train"].astype(np.int16) - 128
    np.savez(data_file, **{**real_mnist, "x_train": centred})
    with pytest.raises(DataError, match="x_train has values -128..127, expected 0..255"):
        load_mnist()


def test_integers_of_another_type_are_accepted_when_they_fit(real_mnist, data_file):
    wide = {name: array.astype(np.int64) for name, array in real_mnist.items()}
    np.savez(data_file, **wide)
    for array, name in zip(load_mnist(), ("x_train", "y_train", "x_test", "y_test"), strict=True):
        assert array.dtype == np.uint8
        np.testing.assert_array_equal(array, real_mnist[name])


def test_a_missing_file_named_by_the_variable_is_named_in_the_error(data_file, monkeypatch):
    never = lambda: pytest.fail("downloaded instead of naming the missing file")  # noqa: E731
    monkeypatch.setattr(keras.datasets.mnist, "load_data", never)
    with pytest.raises(DataError, match="MNIST not found at .*mnist.npz") as caught:
        load_mnist()
    assert str(data_file) in str(caught.value)


def test_no_bundled_file_and_no_network_names_the_file_looked_for(tmp_path, monkeypatch):
    missing = tmp_path / "data" / "mnist.npz"
    monkeypatch.delenv(data.DATA_ENV, raising=False)
    monkeypatch.setattr(data, "DEFAULT_DATA", missing)
    offline = Exception(
        "URL fetch failure on https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
        "mnist.npz: None -- [Errno -2] Name or service not known"
    )  # what keras.datasets.mnist.load_data raises on a machine without network

    def load_data_offline():
        raise offline

    monkeypatch.setattr(keras.datasets.mnist, "load_data", load_data_offline)
    load_mnist.cache_clear()
    try:
        with pytest.raises(DataError, match="downloading it failed") as caught:
            load_mnist()
    finally:
        load_mnist.cache_clear()
    assert str(missing) in str(caught.value)
    assert caught.value.__cause__ is offline
