"""The class set: adding, listing, counting, deleting, exporting and scoring the class's digits."""

import io
import struct
import threading
import zlib

import numpy as np
import pytest
from PIL import Image, ImageDraw

from mnist_app.drawing.class_scores import leaderboard, model_accuracy
from mnist_app.drawing.classset import MAX_DRAWING_BYTES, ClassSet, ClassSetError
from mnist_app.drawing.predict import (
    DEFAULT_KEY,
    ModelChoice,
    ModelKind,
    default_model_path,
    load_model,
    model_card,
)
from mnist_app.drawing.preprocess import canvas_to_mnist
from mnist_app.engine.data import load_mnist, scale_images
from mnist_app.runs.database import class_digits
from mnist_app.runs.owners import AccessError, ClassRules, Visitor


def canvas_png(strokes=(((70, 60), (210, 60), (120, 230)),), width: int = 20) -> bytes:
    """What the Draw page's canvas sends: a 280×280 RGBA PNG, white strokes on black."""
    picture = Image.new("RGBA", (280, 280), (0, 0, 0, 255))
    pen = ImageDraw.Draw(picture)
    for stroke in strokes:
        pen.line(list(stroke), fill=(255, 255, 255, 255), width=width, joint="curve")
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width×height pixels (a decompression bomb's trick)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * 1000)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )


@pytest.fixture
def class_set(lab_home, database_url) -> ClassSet:
    """The class set on SQLite files, then on PostgreSQL."""
    return ClassSet(lab_home)


def test_a_drawing_is_stored_as_the_image_the_network_sees(class_set):
    drawing = canvas_png()
    entry_id = class_set.add_drawing(7, drawing, name="  Ana \n García ")
    [entry] = class_set.entries()
    assert (entry.id, entry.digit, entry.name) == (entry_id, 7, "Ana García")
    expected = np.round(canvas_to_mnist(np.asarray(Image.open(io.BytesIO(drawing)))) * 255)
    assert entry.image.dtype == np.uint8 and entry.image.shape == (28, 28)
    np.testing.assert_array_equal(entry.image, expected.astype(np.uint8))
    assert entry.image.max() == 255 and entry.image[0, 0] == 0  # ink bright on black, as MNIST
    # Kept: a small grey copy of the drawing, not the canvas's own PNG.
    copy = Image.open(io.BytesIO(class_set.drawing(entry_id)))
    assert (copy.format, copy.mode, copy.size) == ("PNG", "L", (56, 56))


def test_add_list_count_delete(class_set):
    x, y = load_mnist()[2:]
    ids = [class_set.add(int(y[i]), x[i]) for i in range(12)]
    assert len(set(ids)) == 12
    assert class_set.counts() == np.bincount(y[:12], minlength=10).tolist()
    assert [e.id for e in class_set.entries()] == ids[::-1]  # newest first
    sevens = class_set.entries(digit=7)
    assert sevens and all(e.digit == 7 for e in sevens)
    assert len(sevens) == int((y[:12] == 7).sum())
    before = class_set.revision()
    assert class_set.delete([ids[0], ids[1], 999_999]) == 2
    assert class_set.revision() != before
    assert [e.id for e in class_set.entries()] == ids[:1:-1]
    assert sum(class_set.counts()) == 10
    again = class_set.add(int(y[0]), x[0])
    assert again > max(ids)  # ids are never reused, so a revision names one content


def test_the_same_set_is_found_again_by_another_instance(class_set, lab_home, database_url):
    class_set.add(3, np.zeros((28, 28), np.uint8))
    assert ClassSet(lab_home).counts()[3] == 1
    # On a class server the set lives in the shared database, with no file on this machine.
    assert (lab_home / "classset.sqlite3").exists() == (database_url is None)


def test_export_round_trip_has_mnist_s_layout(class_set):
    x_test, y_test = load_mnist()[2:]
    for i in range(5):
        class_set.add(int(y_test[i]), x_test[i])
    class_set.add(1, np.full((28, 28), 1.0, np.float32))  # floats are read as [0, 1]
    with np.load(io.BytesIO(class_set.export_npz()), allow_pickle=False) as npz:
        assert sorted(npz.files) == ["x", "y"]
        x, y = npz["x"], npz["y"]
    assert x.dtype == np.uint8 and x.shape == (6, 28, 28)
    assert y.dtype == np.uint8 and y.shape == (6,)
    np.testing.assert_array_equal(x[:5], x_test[:5])  # oldest first, pixel for pixel
    assert (x[5] == 255).all()
    assert y.tolist() == [*y_test[:5].tolist(), 1]


def test_an_empty_set_exports_empty_arrays_and_has_no_accuracy(class_set):
    with np.load(io.BytesIO(class_set.export_npz())) as npz:
        assert npz["x"].shape == (0, 28, 28) and npz["x"].dtype == np.uint8
        assert npz["y"].shape == (0,)
    assert class_set.evaluate(load_model(default_model_path()), "unit") is None


def shipped() -> tuple[str, str]:
    path = default_model_path()
    return str(path), model_card(path).get("config", {}).get("scaling", "unit")


def test_evaluation_on_the_held_out_fifth_equals_the_model_s_accuracy_on_those_digits(class_set):
    path, scaling = shipped()
    model = load_model(path)
    x, y = (array[:300] for array in load_mnist()[2:])
    # Some deliberately mislabelled, so the accuracy is not simply 1 or the model's best.
    labels = y.copy()
    labels[::10] = (labels[::10] + 1) % 10
    ids = [class_set.add(int(label), image) for image, label in zip(x, labels, strict=True)]
    # The oracle's own held-out fifth: each digit's 1st, 6th, 11th... drawing, in order added.
    held = np.zeros(300, bool)
    for digit in range(10):
        held[np.flatnonzero(labels == digit)[::5]] = True
    assert sorted(np.array(ids)[held].tolist()) == sorted(class_set.split().held_out)
    read = np.argmax(model.predict(scale_images(x, scaling), verbose=0), 1)
    oracle = float(np.mean(read[held] == labels[held]))
    assert 0.5 < oracle < 0.98 and oracle != float(np.mean(read == labels))
    assert class_set.evaluate(model, scaling) == pytest.approx(oracle, abs=1e-12)
    assert model_accuracy(class_set, path, scaling) == pytest.approx(oracle, abs=1e-12)
    # A model is never scored on drawings it trained on, should any be held out now.
    skip = tuple(np.array(ids)[held][:10].tolist())
    rest = np.flatnonzero(held)[10:]
    expected = float(np.mean(read[rest] == labels[rest]))
    assert model_accuracy(class_set, path, scaling, skip) == pytest.approx(expected, abs=1e-12)


def test_leaderboard_scores_each_saved_model_and_names_a_broken_one(class_set, tmp_path):
    path, scaling = shipped()
    x, y = load_mnist()[2:]
    for i in range(40):
        class_set.add(int(y[i]), x[i])
    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"not a model")
    choices = [
        ModelChoice("abc123abc123", ModelKind.FINISHED, "unit", str(broken), 0.9),
        ModelChoice(DEFAULT_KEY, ModelKind.DEFAULT, scaling, path, 0.99),
        ModelChoice("fedcba987654", ModelKind.TRAINING, "unit", None),
    ]
    board = leaderboard(class_set, choices)
    assert [s.choice.key for s in board] == [DEFAULT_KEY, "abc123abc123"]  # training left out
    assert board[0].class_accuracy == pytest.approx(class_set.evaluate(load_model(path), scaling))
    assert (board[1].class_accuracy, board[1].problem) == (None, "corrupt")


@pytest.mark.parametrize("digit", [-1, 10, 3.0, "7", True, None])
def test_a_label_outside_0_to_9_is_refused(class_set, digit):
    with pytest.raises(ClassSetError) as refused:
        class_set.add(digit, np.zeros((28, 28), np.uint8))
    assert refused.value.reason == "label"
    with pytest.raises(ClassSetError):
        class_set.add_drawing(digit, canvas_png())
    assert class_set.counts() == [0] * 10  # nothing stored


@pytest.mark.parametrize(
    ("drawing", "reason"),
    [
        (png_claiming(100_000, 100_000), "bomb"),
        (b"GIF89a" + b"\x00" * 100, "not_png"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 50, "not_png"),  # a signature, then garbage
        (io.BytesIO().getvalue(), "not_png"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * MAX_DRAWING_BYTES, "too_big"),
    ],
)
def test_hostile_drawings_are_refused_and_nothing_is_stored(class_set, drawing, reason):
    with pytest.raises(ClassSetError) as refused:
        class_set.add_drawing(4, drawing)
    assert refused.value.reason == reason
    with pytest.raises(ClassSetError):
        class_set.add(4, np.zeros((28, 28), np.uint8), drawing=drawing)
    assert class_set.entries() == []


def test_a_jpeg_is_not_a_canvas_drawing(class_set):
    buffer = io.BytesIO()
    Image.new("RGB", (280, 280)).save(buffer, format="JPEG")
    with pytest.raises(ClassSetError) as refused:
        class_set.add_drawing(4, buffer.getvalue())
    assert refused.value.reason == "not_png"


def test_an_empty_canvas_and_a_scribble_are_refused(class_set):
    with pytest.raises(ClassSetError) as refused:
        class_set.add_drawing(1, canvas_png(strokes=()))
    assert refused.value.reason == "empty"
    rng = np.random.default_rng(0)
    scribble = [tuple(map(tuple, rng.integers(20, 260, (2, 2)).tolist())) for _ in range(14)]
    with pytest.raises(ClassSetError) as refused:
        class_set.add_drawing(1, canvas_png(strokes=scribble))
    assert refused.value.reason == "not_a_digit"
    assert class_set.entries() == []


def test_the_same_drawing_twice_is_refused(class_set):
    class_set.add_drawing(7, canvas_png())
    with pytest.raises(ClassSetError) as refused:
        class_set.add_drawing(1, canvas_png())
    assert refused.value.reason == "duplicate"
    assert class_set.counts()[7] == 1 and sum(class_set.counts()) == 1


@pytest.mark.parametrize(
    "image",
    [np.zeros((28, 27), np.uint8), np.full((28, 28), 2.0), np.full((28, 28), np.nan),
     np.full((28, 28), 300, np.int32), np.zeros((28, 28), bool)],
)  # fmt: skip
def test_a_bad_image_is_refused(class_set, image):
    with pytest.raises(ClassSetError) as refused:
        class_set.add(5, image)
    assert refused.value.reason == "image"


def test_a_long_name_is_refused(class_set):
    with pytest.raises(ClassSetError) as refused:
        class_set.add_drawing(7, canvas_png(), name="x" * 41)
    assert refused.value.reason == "name"
    assert class_set.entries() == []


def noisy_seven(side: int = 440) -> bytes:
    """A projector-size canvas PNG of a 7 on faint grey noise: nearly incompressible (~0.5 MB)."""
    rng = np.random.default_rng(7)
    pixels = np.zeros((side, side, 4), np.uint8)
    pixels[..., :3] = rng.integers(0, 40, (side, side, 3))  # below the ink threshold
    pixels[..., 3] = 255
    picture = Image.fromarray(pixels)
    ImageDraw.Draw(picture).line([(110, 95), (330, 95), (190, 360)], fill=(255,) * 4, width=32)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_drawing_is_kept_in_a_few_kb_and_reads_as_the_same_28x28_image(class_set):
    drawing = noisy_seven()
    assert len(drawing) > 400_000
    entry_id = class_set.add_drawing(7, drawing)
    kept = class_set.drawing(entry_id)
    assert len(kept) <= 4_000, len(kept)  # a 56×56 grey PNG, not the canvas's own
    expected = np.round(canvas_to_mnist(np.asarray(Image.open(io.BytesIO(drawing)))) * 255)
    x, y = class_set.arrays()
    np.testing.assert_array_equal(x, expected.astype(np.uint8)[np.newaxis])
    assert y.tolist() == [7]
    # The copy is the drawing's ink, bright on black: the 7's bar is along its top.
    copy = np.asarray(Image.open(io.BytesIO(kept)))
    assert copy[12, 14:42].min() > 200 and copy[50, :10].max() < 32  # the noise stays faint


def test_a_store_from_before_with_raw_pngs_still_reads(class_set):
    """Older stores kept each canvas's own PNG in `drawing`: those rows read as they are."""
    drawing = canvas_png()
    image = np.round(canvas_to_mnist(np.asarray(Image.open(io.BytesIO(drawing)))) * 255)
    with class_set.engine.begin() as db:
        db.execute(class_digits.insert(), dict(created_at=1.0, digit=7, name="", student=None,
                   image=image.astype(np.uint8).tobytes(), drawing=drawing))  # fmt: skip
    [entry] = class_set.entries()
    assert class_set.drawing(entry.id) == drawing
    np.testing.assert_array_equal(class_set.arrays()[0][0], image.astype(np.uint8))
    class_set.add_drawing(1, canvas_png(strokes=(((140, 40), (140, 240)),)))  # and it grows
    assert class_set.counts()[1] == 1 and class_set.counts()[7] == 1


ANA, BEA = "a" * 32, "b" * 32


def some_digits(class_set: ClassSet, count: int, student: str) -> None:
    x, y = load_mnist()[2:]
    for i in range(count):
        class_set.add(int(y[i]), x[i], student=student)


def test_a_student_over_their_limit_is_refused_and_the_teacher_is_not(class_set, monkeypatch):
    monkeypatch.setenv("MNIST_LAB_TEACHER_CODE", "profe")  # a class server
    rules = ClassRules(max_drawings=3)
    some_digits(class_set, 3, ANA)
    with pytest.raises(AccessError) as refused:
        class_set.add_drawing(7, canvas_png(), visitor=Visitor(ANA), rules=rules)
    assert refused.value.reason == "too_many_drawings"
    assert refused.value.values == {"count": 3, "limit": 3}
    assert sum(class_set.counts()) == 3  # nothing stored
    class_set.add_drawing(7, canvas_png(), visitor=Visitor(BEA), rules=rules)  # another student
    class_set.add_drawing(1, canvas_png(strokes=(((140, 40), (140, 240)),)),
                          visitor=Visitor(ANA, teacher=True), rules=rules)  # fmt: skip
    assert sum(class_set.counts()) == 5


def test_the_class_limit_holds_for_everyone_and_defaults_apply(class_set, monkeypatch):
    monkeypatch.setenv("MNIST_LAB_TEACHER_CODE", "profe")
    some_digits(class_set, 4, BEA)
    for visitor in (Visitor(ANA), Visitor(ANA, teacher=True)):
        with pytest.raises(AccessError) as refused:
            class_set.add_drawing(7, canvas_png(), visitor=visitor,
                                  rules=ClassRules(max_class_drawings=4))  # fmt: skip
        assert "already holds 4 drawings, the class's limit of 4" in str(refused.value)
    assert sum(class_set.counts()) == 4
    assert ClassRules().max_drawings == 200 and ClassRules().max_class_drawings == 5_000
    class_set.add_drawing(7, canvas_png(), visitor=Visitor(ANA))  # the defaults: room left
    assert sum(class_set.counts()) == 5


@pytest.mark.parametrize(
    ("stored", "each", "all_"),
    [({}, 200, 5_000), ({"max_drawings": 30, "max_class_drawings": 900}, 30, 900),
     ({"max_drawings": 0, "max_class_drawings": "lots"}, 200, 5_000),
     ({"max_drawings": True, "max_class_drawings": 10**9}, 200, 5_000)],
)  # fmt: skip
def test_the_drawing_limits_are_read_back_or_fall_back_to_the_defaults(stored, each, all_):
    rules = ClassRules.from_dict(stored)
    assert (rules.max_drawings, rules.max_class_drawings) == (each, all_)
    assert ClassRules.from_dict(rules.to_dict()) == rules


def test_students_adding_at_the_same_moment_stay_within_the_limits(class_set, monkeypatch):
    # A class server's replicas add side by side: counting against the limits and adding are one
    # step, or two students' last drawings both pass the same count (7 of 5 were stored).
    monkeypatch.setenv("MNIST_LAB_TEACHER_CODE", "profe")
    rules, adders = ClassRules(max_drawings=3, max_class_drawings=5), 12
    start, outcomes = threading.Barrier(adders), []

    def add(i: int) -> None:
        drawing = canvas_png(strokes=(((70 + 4 * i, 60), (210, 60), (120, 230)),))  # all differ
        start.wait()
        try:
            student = Visitor(ANA if i % 2 else BEA)
            outcomes.append(class_set.add_drawing(7, drawing, visitor=student, rules=rules))
        except AccessError as refused:
            outcomes.append(refused.reason)

    threads = [threading.Thread(target=add, args=(i,)) for i in range(adders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    stored = [outcome for outcome in outcomes if isinstance(outcome, int)]
    assert len(outcomes) == adders  # each one added or refused, none failed
    assert len(stored) == sum(class_set.counts()) == 5  # the class's limit, not one more
    students = [entry.student for entry in class_set.entries()]
    assert sorted([students.count(ANA), students.count(BEA)]) == [2, 3]  # nobody over theirs
    assert set(outcomes) - set(stored) <= {"too_many_drawings", "class_set_full"}
