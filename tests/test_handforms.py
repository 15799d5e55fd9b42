"""The handwriting forms MNIST lacks, drawn on real MNIST digits."""

import numpy as np
import pytest

from mnist_app.engine import handforms
from mnist_app.engine.config import RunConfig
from mnist_app.engine.data import load_mnist, prepare_data
from mnist_app.engine.status import RunStatus
from mnist_app.engine.training import train

X, Y = load_mnist()[0], load_mnist()[1]
INK = X.astype(np.float32) / 255
ONES, SEVENS = INK[Y == 1][:300], INK[Y == 7][:300]


def added_ink(before: np.ndarray, after: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where `after` has ink beyond `before`, and `before` moved as `after` was to re-centre
    it: by the whole-pixel move under which every pixel of `before` is still in `after`."""
    added, moved = [], []
    moves = [np.array([[dy, dx]]) for dy in range(-3, 4) for dx in range(-3, 4)]
    for old, new in zip(before, after, strict=True):
        candidates = (handforms.shift(old[None], move)[0] for move in moves)
        match = next((c for c in candidates if (new >= c - 1e-5).all()), None)
        assert match is not None, "the original digit is not inside the changed one"
        added.append(new - match > 0.25)
        moved.append(match)
    return np.stack(added), np.stack(moved)


def test_stroke_width_measures_drawn_lines():
    blank = np.zeros((6, 28, 28), np.float32)
    start = np.array([[4, 14], [4, 6], [6, 4]] * 2, np.float32)
    end = np.array([[23, 14], [22, 20], [12, 23]] * 2, np.float32)
    widths = np.array([2.0, 2.0, 2.0, 4.0, 4.0, 4.0], np.float32)
    lines = handforms.draw_segments(blank, start, end, widths)
    assert np.abs(handforms.stroke_width(lines) - widths).max() < 0.6


def stem_angles(ones: np.ndarray) -> np.ndarray:
    """Each 1's stem in degrees from the horizontal: 90 upright, under 90 leaning right."""
    top, bottom = handforms.ink_rows(ones)
    lean = handforms.ink_column(ones, top) - handforms.ink_column(ones, bottom)
    return np.degrees(np.arctan2(bottom - top + 1, lean))


def test_upstroke_rises_into_the_top_going_down_left():
    every_one = INK[Y == 1]
    limit = handforms.UPSTROKE_ANGLES[0] + handforms.STEM_GAP
    leaning = every_one[stem_angles(every_one) < limit]  # the rare 1s leaning far right
    ones = np.concatenate([ONES, leaning])
    rng = np.random.default_rng(0)
    changed = handforms.add_upstroke(ones, rng, foot=np.zeros(len(ones), bool))
    added, moved = added_ink(ones, changed)
    stems = stem_angles(ones)
    too_slanted = stems < limit
    assert too_slanted.any() and too_slanted.mean() < 0.05
    assert not added[too_slanted].any()  # left as they are: with a flag they would be 7s
    strokes = added[~too_slanted].sum(axis=(1, 2))  # the others, a stroke each: pixels new
    assert strokes.min() >= 3 and strokes.mean() >= 15  # (a short one can hide in a fat stem)
    top = handforms.ink_rows(moved)[0]
    rows, columns = np.mgrid[:28, :28]
    for mask, first_row, digit, stem in zip(added, top, moved, stems, strict=True):
        if not mask.any():
            continue
        assert rows[mask].min() >= first_row  # the top is still the highest point
        head = handforms.ink_column(digit[None], np.array([first_row]))[0]
        assert (columns[mask] <= head + 3).all()  # it goes left from the top
        slope, _ = np.polyfit(columns[mask], rows[mask], 1)  # rows grow downwards
        angle = np.degrees(np.arctan(-slope))
        assert 10 <= angle <= 60 and angle <= stem - 10  # down-left, apart from the stem


def test_foot_lies_across_the_bottom():
    rng = np.random.default_rng(1)
    with_foot = handforms.add_upstroke(ONES, rng, foot=np.ones(len(ONES), bool))
    added, moved = added_ink(ONES, with_foot)
    bottom = handforms.ink_rows(moved)[1]
    upright = stem_angles(ONES) >= handforms.UPSTROKE_ANGLES[0] + handforms.STEM_GAP
    for mask, last_row, digit in zip(added[upright], bottom[upright], moved[upright], strict=True):
        foot = mask[last_row - 2 : last_row + 1]
        stem = handforms.ink_column(digit[None], np.array([last_row]))[0]
        foot_columns = np.flatnonzero(foot.any(axis=0))
        assert foot_columns.min() < stem - 1 and foot_columns.max() > stem + 1


def test_sevens_are_crossed_half_way_down():
    rng = np.random.default_rng(2)
    added, moved = added_ink(SEVENS, handforms.cross_sevens(SEVENS, rng))
    top, bottom = handforms.ink_rows(moved)
    crossed = 0
    for mask, first, last in zip(added, top, bottom, strict=True):
        if mask.sum() < 6:  # the bar fell mostly on ink the 7 already had
            continue
        crossed += 1
        rows, columns = np.nonzero(mask)
        middle = (rows.mean() - first) / (last - first)
        assert 0.3 <= middle <= 0.75
        assert np.ptp(columns) >= 3 and np.ptp(columns) > np.ptp(rows)  # lying, not standing
    assert crossed >= 0.9 * len(SEVENS)


def test_pens_change_the_ink_but_keep_the_core():
    digits = INK[:500]
    thicker = handforms.change_pen(digits, np.full(500, 1.0))
    thinner = handforms.change_pen(digits, np.full(500, -1.0))
    area = (digits > 0.5).sum(axis=(1, 2))
    assert ((thicker > 0.5).sum(axis=(1, 2)) > area).all()
    assert ((thinner > 0.5).sum(axis=(1, 2)) < area).all()
    for pen in (thicker, thinner):
        assert pen.min() >= 0 and pen.max() <= 1
        np.testing.assert_allclose(pen.max(axis=(1, 2)), digits.max(axis=(1, 2)), atol=0.01)


def test_warp_bends_a_digit_a_little():
    digits = INK[:500]
    warped = handforms.warp(digits, np.random.default_rng(3))
    assert warped.min() >= 0 and warped.max() <= 1
    assert (np.abs(warped - digits).max(axis=(1, 2)) > 0.1).all()  # every digit moved
    mass = warped.sum(axis=(1, 2)) / digits.sum(axis=(1, 2))
    assert mass.min() > 0.8 and mass.max() < 1.2  # bent, not erased or smeared
    drift = handforms.centre_of_mass(warped) - handforms.centre_of_mass(digits)
    assert np.abs(drift).max() < 3


def test_shares_follow_the_settings_and_a_seed_repeats():
    digits, labels = INK[:8000], Y[:8000]
    first = handforms.teach_forms(digits, labels, np.random.default_rng(7))
    again = handforms.teach_forms(digits, labels, np.random.default_rng(7))
    other = handforms.teach_forms(digits, labels, np.random.default_rng(8))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    assert first.min() >= 0 and first.max() <= 1 and first.dtype == np.float32
    changed = (first != digits).any(axis=(1, 2))
    untouched = (1 - handforms.PEN_SHARE) * (1 - handforms.WARP_SHARE)
    expected = {1: 1 - untouched * (1 - handforms.UPSTROKE_SHARE),
                7: 1 - untouched * (1 - handforms.CROSS_SHARE),
                0: 1 - untouched}  # fmt: skip
    for digit, share in expected.items():
        assert changed[labels == digit].mean() == pytest.approx(share, abs=0.05)


def test_each_epoch_draws_new_forms_with_the_right_labels():
    config = RunConfig(arch="cnn", layers="conv8x3 pool", limit=600, validation_size=0,
                       batch_size=128, scaling="centered", forms=True)  # fmt: skip
    data = prepare_data(config)
    forms = handforms.FormsEachEpoch(data.x_train, data.y_train, config)
    first, labels = forms.epoch(0)
    assert first.shape == data.x_train.shape and first.dtype == np.float32
    assert first.min() >= -0.5 and first.max() <= 0.5
    # every image is still its own digit: the forms change images, never which digit they are
    sources = [np.flatnonzero((np.abs(data.x_train - image) < 1e-6).all(axis=(1, 2)))
               for image in first]  # fmt: skip
    kept = [(s[0], i) for i, s in enumerate(sources) if len(s) == 1]
    assert len(kept) > 100  # the images no form touched this epoch
    assert all(labels[i] == data.y_train[source] for source, i in kept)
    assert sorted(labels) == sorted(data.y_train)
    np.testing.assert_array_equal(forms.epoch(0)[0], first)  # an epoch's forms are its own
    second, _ = forms.epoch(1)
    assert not np.array_equal(first, second)


def test_a_run_with_forms_trains():
    config = RunConfig(arch="cnn", layers="conv16x3 pool dense64", limit=1024,
                       validation_size=0, batch_size=64, epochs=2, forms=True)  # fmt: skip
    result = train(config)
    assert result.status == RunStatus.FINISHED
    assert [record.epoch for record in result.history] == [1, 2]
    assert result.test_accuracy > 0.7  # on MNIST's 10,000 test digits, left as they are
