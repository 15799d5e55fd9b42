"""The Challenge page and the Train page's way into a challenge, through AppTest: the teacher's
form, the leaderboard as text, teacher-only actions on a class server, and a real small run
entered from the Train page."""

import pytest
from apptest_text import open_page

from mnist_app.engine.config import RunConfig
from mnist_app.engine.records import EpochRecord, Outcome
from mnist_app.engine.status import RunStatus
from mnist_app.experiments.challenge import preset_changes
from mnist_app.runs.challenges import new_challenge
from mnist_app.runs.managers import shared_manager
from mnist_app.text import escape_markdown

PAGE = "pages/challenge.py"
HOSTILE = "[x](http://e.vil) <b>B</b> :red[R] $x$"
TEACHER = {"owner": "c" * 32, "teacher_mode": True}
STUDENT = {"owner": "a" * 32}

pytestmark = pytest.mark.usefixtures("prepared_server")


def finished_run(store, accuracy: float, width: int) -> str:
    """A finished run as a training leaves it (its figures; the board reads no model)."""
    run_id = store.create(RunConfig(width=width, epochs=1, limit=500, validation_size=100))
    history = [EpochRecord(1, loss=0.3, accuracy=0.9, val_accuracy=accuracy, seconds=1.0)]
    outcome = Outcome(
        RunStatus.FINISHED, history=history, test_accuracy=accuracy, train_seconds=1.0
    )
    store.record_outcome(run_id, outcome)
    return run_id


def board_rows(at) -> list[dict]:
    return at.table[0].value.to_dict("records")


def test_the_teacher_opens_a_challenge_and_its_board_shows_names_as_text():
    at = open_page(PAGE)
    at.text_input(key="challenge_title").set_value(HOSTILE)
    at.number_input(key="challenge_max_params").set_value(20_000)
    at.button(key="challenge_create").click().run()
    assert not at.exception
    challenge_id = at.query_params["challenge"]
    store = shared_manager().store
    assert store.challenge(challenge_id).title == HOSTILE
    assert store.challenge(challenge_id).max_params == 20_000
    assert [h.value for h in at.header][-1] == escape_markdown(HOSTILE)  # shown, not rendered
    assert any(info.value == "No run of this challenge has finished yet." for info in at.info)
    small, wide = finished_run(store, 0.9, 16), finished_run(store, 0.95, 128)
    store.enter_challenge(challenge_id, small, HOSTILE)
    store.enter_challenge(challenge_id, wide, "Bea")
    at.run()
    rows = board_rows(at)
    assert [(r["#"], r["Student"]) for r in rows] == [("1", escape_markdown(HOSTILE)), ("—", "Bea")]
    assert rows[0]["Parameters"] == "12,730" and rows[1]["Not eligible because"] == escape_markdown(
        "params 101,770 > 20,000 (+81,770)"
    )
    assert at.get("download_button") and at.button(key="challenge_close")
    shown_as_markdown = [m.value for m in [*at.markdown, *at.header, *at.caption]]
    assert not any("(http://e.vil)" in text for text in shown_as_markdown)  # never a link
    assert [box.options for box in at.selectbox] == [[HOSTILE]]  # a select box shows plain text


def test_on_a_class_server_only_the_teacher_opens_and_closes_a_challenge(monkeypatch):
    monkeypatch.setenv("MNIST_LAB_TEACHER_CODE", "let-me-in")
    store = shared_manager().store
    challenge_id = store.create_challenge(new_challenge("Only for the teacher", max_epochs=2))
    student = open_page(PAGE, session=STUDENT, challenge=challenge_id)
    assert not student.get("expander") or all(
        "Open a challenge" not in str(e.proto) for e in student.get("expander")
    )
    keys = {button.key for button in student.button}
    assert "challenge_create" not in keys and "challenge_close" not in keys
    teacher = open_page(PAGE, session=TEACHER, challenge=challenge_id)
    teacher.button(key="challenge_close").click().run()
    assert not store.challenge(challenge_id).is_open()
    assert any("Closed at" in w.value for w in teacher.warning)


def test_a_student_enters_a_challenge_from_the_train_page():
    store = shared_manager().store
    challenge_id = store.create_challenge(new_challenge("First epoch", max_params=50_000))
    at = open_page("pages/train.py")
    at.select_slider(key="train_limit").set_value(500)
    at.select_slider(key="train_validation_size").set_value(100)
    at.slider(key="train_epochs").set_value(1)
    at.slider(key="train_width").set_value(128)
    at.selectbox(key="challenge_enter").set_value(challenge_id).run()
    warnings = [w.value for w in at.warning]
    assert "With these settings the run will not be eligible: params 101,770 > 50,000 " in (
        "".join(warnings)
    )
    at.slider(key="train_width").set_value(32)  # 25,450 parameters: within the rule
    at.text_input(key="challenge_nickname").set_value("Ana").run()
    assert not any("not be eligible" in w.value for w in at.warning)
    at.button(key="train_start").click().run()
    run_id = at.query_params["run"]
    assert shared_manager().wait(run_id, timeout=120) is not None  # (its results page: elsewhere)
    [entry] = store.challenge_entries(challenge_id)
    assert entry.run.id == run_id and entry.nickname == "Ana"
    board = open_page(PAGE, challenge=challenge_id)
    [row] = board_rows(board)
    assert row["Student"] == "Ana" and row["#"] == "1" and row["Parameters"] == "25,450"
    run = store.get(run_id)  # in Spanish, what it changed is said in Spanish (tasa = 0,02)
    [fila] = board_rows(open_page(PAGE, "es", challenge=challenge_id))
    assert fila["Qué cambió del preset"] == escape_markdown(
        preset_changes(run.config, run.preset, "es")
    )
    assert fila["Parámetros"] == "25.450"
