"""Class challenges: the rules, the ranking and the why texts on hand-made run records (pure
logic); the store on SQLite and PostgreSQL; the command line end to end with real small
trainings; bad flags; hostile names in every renderer."""

from __future__ import annotations

import csv
import io
import json
import time

import keras
import pytest

import mnist_app.runs.managers as managers
from mnist_app import cli
from mnist_app.cli.terminal import challenge_table, table_console
from mnist_app.engine.config import RunConfig, model_size
from mnist_app.engine.presets import PRESETS
from mnist_app.engine.records import EpochRecord, Outcome
from mnist_app.engine.status import RunStatus
from mnist_app.experiments.challenge import (
    board_csv,
    leaderboard,
    preset_changes,
    why,
)
from mnist_app.runs.challenges import Challenge, ChallengeError, Entered, new_challenge
from mnist_app.runs.run import Run
from mnist_app.runs.store import RunStore

SMALL = RunConfig(width=16, epochs=1, limit=300, validation_size=100)  # 12,730 parameters
WIDE = SMALL.replace(width=128)  # 101,770 parameters
HOSTILE = '=HYPERLINK("http://evil.example") [x](http://evil.example) <b>B</b> \x1b[31mred'


def run_record(
    run_id: str,
    accuracy: float = 0.95,
    config: RunConfig = SMALL,
    seconds: float = 10.0,
    val: tuple[float | None, ...] = (0.9,),
    status: RunStatus = RunStatus.FINISHED,
    finished: float = 1000.0,
    student: str | None = None,
    preset: str | None = None,
) -> Run:
    """A stored run as the store reads it back: one epoch per validation figure."""
    history = [
        EpochRecord(i + 1, loss=0.2, accuracy=0.9, val_accuracy=v, seconds=seconds / len(val))
        for i, v in enumerate(val)
    ]
    return Run(
        id=run_id, created_at=finished - seconds, updated_at=finished, status=status,
        preset=preset, config=config, history=history, test_loss=0.2, test_accuracy=accuracy,
        train_seconds=seconds, model_path=None, message="", reason="", owner=None,
        heartbeat_at=None, live={}, student=student,
    )  # fmt: skip


def challenge(**rules) -> Challenge:
    return Challenge("c0ffee000000", "Tiny nets", 0.0, **rules)


def entered(*runs: Run, names: tuple[str, ...] = ()) -> list[Entered]:
    names = names or tuple(run.id for run in runs)  # each run its own student unless told
    return [Entered(run, name) for run, name in zip(runs, names, strict=True)]


# --- the rules, the ranking and the why texts (pure logic) ---------------------------------------
def test_a_run_over_a_rule_is_not_eligible_and_says_which_and_by_how_much():
    rules = challenge(max_params=100_000, max_seconds=30.0, max_epochs=2)
    over = run_record("over", config=WIDE.replace(epochs=3), seconds=41.25, val=(0.9,) * 3)
    board = leaderboard(rules, entered(over, run_record("fine")), by_owner=False)
    fine, broken = board.entries
    assert fine.run_id == "fine" and fine.eligible and why(fine) == ""
    assert fine.params == model_size(SMALL).total_params == 784 * 16 + 16 + 16 * 10 + 10
    assert not broken.eligible and board.rank(broken) is None and board.rank(fine) == 1
    assert why(broken) == (
        "params 101,770 > 100,000 (+1,770); epochs 3 > 2 (+1); seconds 41.2 > 30.0 (+11.2)"
    )
    assert why(broken, "es") == (
        "parámetros 101.770 > 100.000 (+1.770); épocas 3 > 2 (+1); segundos 41,2 > 30,0 (+11,2)"
    )


def test_best_accuracy_first_ties_to_fewer_seconds_then_the_earlier_finish():
    runs = [
        run_record("slow", accuracy=0.97, seconds=20, finished=100),
        run_record("late", accuracy=0.97, seconds=10, finished=300),
        run_record("early", accuracy=0.97, seconds=10, finished=200),
        run_record("best", accuracy=0.98, seconds=50, finished=400),
        run_record("worse", accuracy=0.90),
        run_record("cheat", accuracy=0.99, config=WIDE),  # the best accuracy, over a rule
    ]
    board = leaderboard(challenge(max_params=50_000), entered(*runs), by_owner=False)
    assert [e.run_id for e in board.entries] == ["best", "early", "late", "slow", "worse", "cheat"]
    assert [board.rank(e) for e in board.entries] == [1, 2, 3, 4, 5, None]


def test_each_student_counts_with_their_best_entry_an_eligible_one_first():
    ana, bea = "a" * 32, "b" * 32
    runs = [
        run_record("ana-1", accuracy=0.91, student=ana),
        run_record("ana-2", accuracy=0.95, student=ana),
        run_record("ana-big", accuracy=0.99, config=WIDE, student=ana),  # over: not her best
        run_record("bea-big", accuracy=0.99, config=WIDE, student=bea),  # her only entry
    ]
    names = ("Ana", "Ana", "Ana", "Bea")
    board = leaderboard(challenge(max_params=50_000), entered(*runs, names=names), by_owner=True)
    assert [(e.student, e.run_id, e.eligible) for e in board.entries] == [
        ("Ana", "ana-2", True),
        ("Bea", "bea-big", False),
    ]


def test_on_a_server_a_student_is_their_owner_id_on_a_laptop_their_name():
    one, other = "a" * 32, "b" * 32
    runs = (
        run_record("x", accuracy=0.9, student=one),
        run_record("y", accuracy=0.8, student=other),
    )
    same_name = entered(*runs, names=("Sam", "sam"))
    server = leaderboard(challenge(), same_name, by_owner=True)  # two students, told apart
    assert [e.student for e in server.entries] == ["Sam #aaaa", "sam #bbbb"]
    laptop = leaderboard(challenge(), same_name, by_owner=False)  # one name: one student
    assert [e.run_id for e in laptop.entries] == ["x"]
    nameless = leaderboard(challenge(), entered(*runs, names=("", "")), by_owner=True)
    assert [e.student for e in nameless.entries] == ["#aaaaaa", "#bbbbbb"]


def test_only_runs_finished_before_the_deadline_enter_and_training_ones_are_counted():
    rules = challenge(deadline=1000.0)
    runs = [
        run_record("in-time", finished=999.0),
        run_record("late", finished=1001.0),
        run_record("failed", status=RunStatus.FAILED),
        run_record("stopped", status=RunStatus.STOPPED),
        run_record("training", status=RunStatus.RUNNING),
        run_record("queued", status=RunStatus.QUEUED),
    ]
    board = leaderboard(rules, entered(*runs), by_owner=False)
    assert [e.run_id for e in board.entries] == ["in-time"] and board.training == 2
    assert rules.is_open(now=999.0) and not rules.is_open(now=1000.0)
    closed = challenge(deadline=1000.0, closed_at=500.0)  # the teacher closed it early
    assert leaderboard(closed, entered(*runs), by_owner=False).entries == []
    assert closed.ends_at == 500.0


def test_fewest_epochs_to_the_target_by_validation_accuracy():
    rules = challenge(target=0.98)
    runs = [
        run_record("third", val=(0.95, 0.97, 0.981), seconds=3),
        run_record("second", val=(0.96, 0.985, 0.99), seconds=9),
        run_record("second-fast", val=(0.96, 0.98), seconds=4),
        run_record("never", accuracy=0.99, val=(0.95, 0.9741)),
        run_record("blind", val=(None,)),  # trained without a validation set
    ]
    board = leaderboard(rules, entered(*runs), by_owner=False)
    order = [(e.run_id, e.epochs_to_target) for e in board.entries]
    assert order == [("second-fast", 2), ("second", 2), ("third", 3), ("never", None),
                     ("blind", None)]  # fmt: skip
    assert why(board.entries[3]) == (
        "never reached 98.00% validation accuracy (best 97.41%, 0.59 points short)"
    )
    assert why(board.entries[4]) == "no validation set to tell when it reached 98.00%"
    assert rules.metric == "epochs-to:0.98"


def test_what_differs_from_the_preset_or_the_nearest_one():
    assert preset_changes(PRESETS["dnn-50-50"], "dnn-50-50") == "dnn-50-50"
    tuned = PRESETS["dnn-50-50"].replace(learning_rate=0.02, epochs=3)
    assert preset_changes(tuned, "dnn-50-50") == "dnn-50-50: lr = 0.02, epochs = 3"
    assert preset_changes(tuned, None) == "≈ dnn-50-50: lr = 0.02, epochs = 3"
    assert preset_changes(tuned, "dnn-50-50", "es") == "dnn-50-50: tasa = 0,02, épocas = 3"


def test_the_csv_has_every_entry_and_no_name_runs_as_a_formula():
    runs = (run_record("x", accuracy=0.9), run_record("y", config=WIDE))
    board = leaderboard(challenge(max_params=50_000), entered(*runs, names=(HOSTILE, "+1")), False)
    rows = list(csv.DictReader(io.StringIO(board_csv(board))))
    assert [(r["rank"], r["run_id"], r["eligible"]) for r in rows] == [
        ("1", "x", "yes"),
        ("", "y", "no"),
    ]
    assert rows[0]["student"] == "'" + HOSTILE and rows[1]["student"] == "'+1"
    assert rows[1]["why"] == "params 101,770 > 50,000 (+51,770)" and rows[0]["params"] == "12730"


@pytest.mark.parametrize(
    ("rules", "field"),
    [
        ({"title": " \x1b "}, "title"),
        ({"title": "x" * 81}, "title"),
        ({"max_params": 0}, "max_params"),
        ({"max_params": 1.5}, "max_params"),
        ({"max_seconds": -1.0}, "max_seconds"),
        ({"max_epochs": 201}, "max_epochs"),
        ({"target": 1.5}, "metric"),
        ({"deadline": 10.0}, "deadline"),
    ],
)
def test_a_challenge_with_a_rule_out_of_range_is_refused_naming_it(rules, field):
    with pytest.raises(ChallengeError) as refused:
        new_challenge(**{"title": "ok", **rules}, now=100.0)
    assert refused.value.field == field


# --- the store, on SQLite and PostgreSQL ----------------------------------------------------------
def test_challenges_and_entries_are_kept_and_go_with_their_run(lab_home, database_url):
    store = RunStore(lab_home)
    made = new_challenge("  Tiny\tnets \x07", target=0.98, max_params=20_000, deadline=4e9)
    store.create_challenge(made)
    older = new_challenge("Older", max_epochs=3, now=time.time() - 60)
    store.create_challenge(older)
    again = RunStore(lab_home).challenge(made.id)
    assert again == made and again.title == "Tiny nets" and again.metric == "epochs-to:0.98"
    assert [c.id for c in store.challenges()] == [made.id, older.id]  # newest first
    run_id = store.create(SMALL)
    store.enter_challenge(made.id, run_id, "Ana\u202e")
    [entry] = store.challenge_entries(made.id)
    assert entry.run.id == run_id and entry.nickname == "Ana"  # the bidi override dropped
    assert store.challenge_entries(older.id) == []
    store.close_challenge(made.id, at=123.0)
    store.close_challenge(made.id, at=456.0)  # closed once: the first time counts
    assert store.challenge(made.id).closed_at == 123.0 and not store.challenge(made.id).is_open()
    store.record_outcome(run_id, Outcome(RunStatus.FINISHED, test_accuracy=0.9))
    store.delete(run_id)
    assert store.challenge_entries(made.id) == []


# --- the command line, end to end ----------------------------------------------------------------
@pytest.fixture
def fresh_manager(monkeypatch):
    """The CLI builds its manager anew, from this test's environment (put back afterwards)."""
    monkeypatch.setattr(managers, "_shared", None)


def last_json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


SMALL_FLAGS = ["--limit", "300", "--epochs", "1", "--validation-size", "100", "--json"]


def test_two_runs_enter_from_the_cli_and_the_board_ranks_them(
    lab_home, database_url, fresh_manager, capsys
):
    assert cli.main(["challenge", "create", "--title", "Small nets", "--max-params", "20000",
                     "--deadline", "2099-06-01T12:00", "--json"]) == 0  # fmt: skip
    made = last_json(capsys)
    challenge_id = made["challenge_id"]
    assert made["max_params"] == 20000 and made["open"] and made["deadline"].startswith("2099")
    assert cli.main(["train", *SMALL_FLAGS, "--width", "16", "--challenge", challenge_id,
                     "--nickname", "Ana"]) == 0  # fmt: skip
    small = last_json(capsys)
    assert cli.main(["train", *SMALL_FLAGS, "--challenge", challenge_id, "--nickname", "Bea"]) == 0
    captured = capsys.readouterr()
    assert "note: not eligible for the challenge: params 101,770 > 20,000" in captured.err
    wide = json.loads(captured.out.strip().splitlines()[-1])
    assert cli.main(["challenge", "board", challenge_id, "--json"]) == 0
    board = last_json(capsys)
    assert board["challenge_id"] == challenge_id
    entries = [{k: e[k] for k in ("run_id", "student", "eligible", "why", "params", "epochs")}
               for e in board["entries"]]  # fmt: skip
    assert entries == [
        {"run_id": small["run_id"], "student": "Ana", "eligible": True, "why": "",
         "params": 12_730, "epochs": 1},
        {"run_id": wide["run_id"], "student": "Bea", "eligible": False,
         "why": "params 101,770 > 20,000 (+81,770)", "params": 101_770, "epochs": 1},
    ]  # fmt: skip
    assert board["entries"][0]["test_accuracy"] == small["test_accuracy"]
    assert board["entries"][1]["seconds"] == wide["seconds"]
    # the parameters counted are Keras' own
    assert keras.saving.load_model(small["model_path"]).count_params() == 12_730
    assert cli.main(["challenge", "list", "--json"]) == 0
    assert [c["title"] for c in last_json(capsys)] == ["Small nets"]


# --- bad flags: one clear line, exit 2, nothing trained ------------------------------------------
BAD_FLAGS = [
    (["challenge", "create"], "the following arguments are required: --title"),
    (["challenge", "create", "--title", ""], "error: --title: give a title of 1..80 characters"),
    (["challenge", "create", "--title", "t", "--metric", "speed"], "error: --metric: 'speed' is"),
    (["challenge", "create", "--title", "t", "--metric", "epochs-to:98"], "error: --metric:"),
    (["challenge", "create", "--title", "t", "--max-params", "0"], "error: --max-params: 0 is"),
    (["challenge", "create", "--title", "t", "--max-params", "lots"], "invalid int value: 'lots'"),
    (["challenge", "create", "--title", "t", "--max-epochs", "500"], "error: --max-epochs: 500"),
    (["challenge", "create", "--title", "t", "--deadline", "friday"],
     "error: --deadline: 'friday' is not a date and time"),
    (["challenge", "create", "--title", "t", "--deadline", "2001-01-01T09:00"],
     "error: --deadline: the deadline has already passed"),
    (["challenge", "board", "0123456789ab"], "error: ID: there is no challenge '0123456789ab'"),
    (["challenge", "board", "../etc"], "error: ID: there is no challenge '../etc'"),
    (["train", "--epochs", "1", "--challenge", "0123456789ab"],
     "error: --challenge: there is no challenge '0123456789ab'"),
    (["train", "--epochs", "1", "--nickname", "Ana"],
     "error: --nickname: is the name on a challenge's board: add --challenge ID"),
]  # fmt: skip


@pytest.mark.parametrize(("argv", "message"), BAD_FLAGS, ids=[" ".join(a) for a, _ in BAD_FLAGS])
def test_bad_flags_get_one_clear_line_and_exit_2(argv, message, lab_home, capsys):
    try:
        code = cli.main(argv)
    except SystemExit as exit:  # argparse's own refusals (a missing flag, not a number)
        code = exit.code
    assert code == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "Traceback" not in captured.err
    assert message in captured.err.strip().splitlines()[-1]
    assert RunStore(lab_home).list() == []


def test_a_closed_challenge_or_a_long_name_is_refused_before_training(lab_home, capsys):
    store = RunStore(lab_home)
    closed = store.create_challenge(new_challenge("Over"))
    store.close_challenge(closed)
    assert cli.main(["train", "--epochs", "1", "--challenge", closed]) == 2
    assert capsys.readouterr().err == f"error: --challenge: the challenge {closed} is closed\n"
    opened = store.create_challenge(new_challenge("Open"))
    assert cli.main(["train", "--challenge", opened, "--nickname", "n" * 41]) == 2
    assert "--nickname: a name has at most 40 characters" in capsys.readouterr().err
    assert store.list() == []


# --- hostile text ---------------------------------------------------------------------------------
def test_a_hostile_name_or_title_shows_as_text_on_the_terminal(lab_home):
    store = RunStore(lab_home)
    made = store.create_challenge(new_challenge(HOSTILE, max_params=20_000))
    run_id = store.create(SMALL)
    store.record_outcome(run_id, Outcome(RunStatus.FINISHED, test_accuracy=0.9, train_seconds=2))
    store.enter_challenge(made, run_id, "Ana")
    with store.engine.begin() as db:  # a hand-edited row: the renderers escape all the same
        db.exec_driver_sql("UPDATE challenge_entries SET nickname = ?", (HOSTILE,))
    board = leaderboard(store.challenge(made), store.challenge_entries(made), False)
    console = table_console()
    with console.capture() as captured:
        console.print(challenge_table(board))
    shown = captured.get()
    assert "\x1b" not in shown and "␛[31mred" in shown and "<b>B</b>" in shown
