"""The training stream: every image once an epoch, shuffled anew each epoch, without end."""

import itertools

import numpy as np

from mnist_app.engine.feed import shuffled_batches

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


def test_the_forms_stream_gives_each_epoch_its_own_forms_in_batches():
    from mnist_app.engine.config import RunConfig
    from mnist_app.engine.data import prepare_data
    from mnist_app.engine.feed import forms_batches
    from mnist_app.engine.handforms import FormsEachEpoch

    config = RunConfig(limit=300, validation_size=0, forms=True, seed=3)
    data = prepare_data(config)
    forms = FormsEachEpoch(data.x_train, data.y_train, config)
    stream = forms_batches(forms, 128, first_epoch=1)  # a run continued from its first epoch
    batches = [(x.numpy(), y.numpy()) for x, y in itertools.islice(stream, 6)]
    assert [len(x) for x, _ in batches] == [128, 128, 44] * 2
    for number, epoch in ((1, batches[:3]), (2, batches[3:])):
        images, labels = forms.epoch(number)
        np.testing.assert_array_equal(np.concatenate([x for x, _ in epoch]), images)
        np.testing.assert_array_equal(np.concatenate([y for _, y in epoch]), labels)
