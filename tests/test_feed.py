"""The training stream: every image once an epoch, shuffled anew each epoch, without end."""

import itertools

import numpy as np

from mnist_app.feed import shuffled_batches

COUNT, BATCH = 50, 16  # 4 batches an epoch, the last of 2 images
IMAGES = np.arange(COUNT, dtype=np.float32)[:, None, None] * np.ones((1, 28, 28), np.float32)
LABELS = np.arange(COUNT) % 10


def epochs(stream, how_many: int) -> list[list[np.ndarray]]:
    """The image numbers of each batch, grouped by epoch; checks that labels travel along."""
    batches = []
    for x, y in itertools.islice(stream, how_many * 4):
        numbers = x.numpy()[:, 0, 0].astype(int)
        np.testing.assert_array_equal(y.numpy(), numbers % 10)
        np.testing.assert_array_equal(x.numpy(), numbers[:, None, None] * np.ones((28, 28)))
        batches.append(numbers)
    return [batches[i : i + 4] for i in range(0, len(batches), 4)]


def test_each_epoch_holds_every_image_once_in_a_new_order():
    seen = epochs(shuffled_batches(IMAGES, LABELS, BATCH, seed=7), 3)
    for batches in seen:
        assert [len(b) for b in batches] == [16, 16, 16, 2]
        np.testing.assert_array_equal(np.sort(np.concatenate(batches)), np.arange(COUNT))
    orders = [tuple(np.concatenate(batches)) for batches in seen]
    assert len(set(orders)) == 3 and orders[0] != tuple(range(COUNT))


def test_the_seed_sets_the_order_and_a_continued_stream_goes_on_as_the_whole_one():
    whole = epochs(shuffled_batches(IMAGES, LABELS, BATCH, seed=7), 3)
    again = epochs(shuffled_batches(IMAGES, LABELS, BATCH, seed=7), 3)
    continued = epochs(shuffled_batches(IMAGES, LABELS, BATCH, seed=7, first_epoch=1), 2)
    other = epochs(shuffled_batches(IMAGES, LABELS, BATCH, seed=8), 1)
    flat = [[tuple(b) for b in batches] for batches in whole]
    assert flat == [[tuple(b) for b in batches] for batches in again]
    assert flat[1:] == [[tuple(b) for b in batches] for batches in continued]
    assert flat[0] != [tuple(b) for b in other[0]]
