"""Owners and limits on the pages of a class server (issue 13 §3), through AppTest over a real
store, real trained runs and a real held run: what a student may change, see and start, what
the teacher may, and that a forged click changes nothing.

AppTest refuses to use a disabled widget, as a browser does; the class set's forged pick below
is the server's own check at work (each callback checks again, see ui/access.if_theirs)."""

import numpy as np
import pytest
from apptest_text import APP, held_run, open_page, page_text
from streamlit.testing.v1 import AppTest
from test_runs_page import (  # noqa: F401  (store and trained are fixtures)
    TINY,
    add_run,
    select,
    store,
    table_ids,
    texts,
    trained,
)

from mnist_app.drawing.classset import ClassSet
from mnist_app.engine.config import RunConfig
from mnist_app.engine.data import load_mnist
from mnist_app.engine.records import Outcome
from mnist_app.engine.status import RunStatus
from mnist_app.experiments.sweeps import Sweep, make_vary
from mnist_app.runs import lockout
from mnist_app.runs.lockout import Allowance, CodeLimiter
from mnist_app.runs.managers import shared_manager
from mnist_app.runs.owners import ClassRules, Visitor, cost

pytestmark = pytest.mark.usefixtures("prepared_server", "class_server")
ANA, BEA = "a" * 32, "b" * 32
CODE = "profe-2026"
STUDENT = {"owner": ANA}
TEACHER = {"owner": "c" * 32, "teacher_mode": True}


@pytest.fixture
def class_server(monkeypatch):
    monkeypatch.setenv("MNIST_LAB_TEACHER_CODE", CODE)


def refusals(at: AppTest) -> str:
    return texts(at.error)


# --- changing a run -------------------------------------------------------------------------
def test_a_student_may_rename_and_delete_only_their_own_runs(store, trained):
    beas, anas = add_run(store, trained, "bea's", student=BEA), add_run(store, trained, "ana's",
                                                                         student=ANA)  # fmt: skip
    at = select(open_page("pages/runs.py", session=STUDENT), 1)  # Bea's (the older)
    assert at.text_input(key=f"runs_label_{beas}").disabled
    assert f"runs_delete_{beas}" not in [b.key for b in at.button]
    assert "belongs to another student" in texts(at.caption)
    at = select(open_page("pages/runs.py", session=STUDENT), 0)  # her own
    at.text_input(key=f"runs_label_{anas}").input("ana's best")
    at.button(key=f"runs_save_{anas}").click().run()
    assert store.get(anas).label == "ana's best"
    at.button(key=f"runs_delete_{anas}").click().run()
    at.button(key=f"runs_delete_yes_{anas}").click().run()
    assert store.get(anas) is None and store.get(beas) is not None


def test_the_teacher_may_change_any_run(store, trained):
    beas = add_run(store, trained, "bea's", student=BEA)
    at = select(open_page("pages/runs.py", session=TEACHER), 0)
    at.button(key=f"runs_delete_{beas}").click().run()
    at.button(key=f"runs_delete_yes_{beas}").click().run()
    assert store.get(beas) is None


def test_only_the_runs_student_or_the_teacher_may_pause_or_stop_it(store):
    with held_run(TINY.replace(epochs=50), student=BEA) as run_id:
        at = open_page("pages/train.py", session=STUDENT, run=run_id)
        for key in ("train_resume", "train_stop"):
            assert at.button(key=key).disabled
        assert "you can watch it" in texts(at.caption)
        assert not [s for s in at.select_slider if s.key == "train_live_lr"]
        manager = shared_manager()
        assert manager.is_active(run_id) and not manager.controls(run_id).stopping
        at = open_page("pages/train.py", session={"owner": BEA}, run=run_id)  # hers
        assert not at.button(key="train_stop").disabled
        at = open_page("pages/train.py", session=TEACHER, run=run_id)
        at.button(key="train_stop").click().run()
        assert manager.wait(run_id, 60).status is RunStatus.STOPPED


# --- seeing runs ----------------------------------------------------------------------------
def test_hidden_runs_leave_every_list_but_the_students_own(store, trained):
    beas, anas = add_run(store, trained, student=BEA), add_run(store, trained, student=ANA)
    at = open_page("pages/runs.py", session=STUDENT)
    assert set(table_ids(at)) == {beas, anas}  # by default everyone sees all
    store.set_class_rules(ClassRules(everyone_sees_all=False))
    assert table_ids(open_page("pages/runs.py", session=STUDENT)) == [anas]
    assert set(table_ids(open_page("pages/runs.py", session=TEACHER))) == {beas, anas}
    at = open_page("pages/train.py", session=STUDENT, run=beas)
    assert texts(at.error).startswith(f"There is no run '{beas}' here")  # as if there were none
    assert not at.get("plotly_chart")  # nothing of the run shown
    at = open_page("pages/compare.py", session=STUDENT, runs=f"{anas},{beas}")
    assert at.multiselect(key="compare_runs").value == [anas]
    assert beas in texts(at.warning)  # told as an unknown run: nothing of it is shown
    at = open_page("pages/draw.py", session=STUDENT)
    models = at.selectbox(key="draw_model").options
    assert any(anas in option for option in models) and not any(beas in o for o in models)


def stored_sweep(store, student: str) -> str:
    """A sweep of two learning rates `student` ran (stopped: nothing trains)."""
    sweep = Sweep(TINY, (make_vary("learning_rate", [0.001, 0.01]),))
    sweep_id = store.create_sweep(sweep.to_dict())
    for config in sweep.configs():
        run_id = store.create(config, sweep_id=sweep_id, student=student)
        store.record_outcome(run_id, Outcome(RunStatus.STOPPED))
    return sweep_id


def listed_sweeps(at: AppTest) -> set[str]:
    links = [link.proto.query_string for link in at.get("page_link")]
    return {query.removeprefix("sweep=") for query in links if query.startswith("sweep=")}


def test_hidden_sweeps_leave_the_sweeps_page_but_the_students_own(store):
    beas, anas = stored_sweep(store, BEA), stored_sweep(store, ANA)
    assert listed_sweeps(open_page("pages/sweeps.py", session=STUDENT)) == {beas, anas}
    store.set_class_rules(ClassRules(everyone_sees_all=False))
    assert listed_sweeps(open_page("pages/sweeps.py", session=STUDENT)) == {anas}
    assert listed_sweeps(open_page("pages/sweeps.py", session=TEACHER)) == {beas, anas}
    at = open_page("pages/sweeps.py", session=STUDENT, sweep=beas)  # Bea's, by its address
    assert at.error[0].value.startswith(f"There is no sweep '{beas}' here")
    assert not at.get("plotly_chart") and at.button(key="sweep_start") is not None
    at = open_page("pages/sweeps.py", session=STUDENT, sweep=anas)  # her own
    assert not at.error and "All sweeps and lessons" in [
        link.proto.label for link in at.get("page_link")
    ]


# --- starting runs --------------------------------------------------------------------------
def test_starting_past_the_class_limits_is_refused_saying_by_how_much(store):
    waiting = store.create(TINY, student=ANA)  # queued: counts as one of hers
    store.set_class_rules(ClassRules(max_active=1))
    at = open_page("pages/train.py", session=STUDENT)
    at.button(key="train_start").click().run()
    assert "already have 1 run(s) queued or training, this adds 1" in refusals(at)
    assert "limit is 1 at once" in refusals(at)
    assert [run.id for run in store.list()] == [waiting]  # nothing was queued
    config = RunConfig()  # what the page's sliders start from
    store.set_class_rules(ClassRules(max_cost=cost(config) / 3))
    store.record_outcome(waiting, Outcome(RunStatus.STOPPED))  # no longer counts
    at = open_page("pages/train.py", session=STUDENT)
    at.button(key="train_start").click().run()
    assert f"This run costs {cost(config):,.0f}" in refusals(at)
    assert "3.0× the class's limit" in refusals(at)
    at = open_page("pages/train.py", session={})  # the browser gave no owner id
    at.button(key="train_start").click().run()
    assert "has not given the page its student id" in refusals(at)
    assert [run.id for run in store.list()] == [waiting]


def test_a_sweep_counts_each_of_its_runs_against_the_limit(store):
    store.set_class_rules(ClassRules(max_active=2))
    at = open_page("pages/sweeps.py", session=STUDENT, new="1")
    at.button(key="sweep_start").click().run()
    assert "this adds" in refusals(at) and "limit is 2 at once" in refusals(at)
    assert store.list() == [] and "sweep" not in at.query_params


def test_continuing_a_run_is_the_continuers_and_counts_against_their_limit(store, trained):
    beas = add_run(store, trained, student=BEA)
    store.set_class_rules(ClassRules(max_cost=1.0))
    at = select(open_page("pages/runs.py", session=STUDENT), 0)
    at.button(key=f"runs_continue_{beas}_button").click().run()
    assert "the class's limit" in refusals(at) and len(store.list()) == 1
    store.set_class_rules(ClassRules())
    at = select(open_page("pages/runs.py", session=STUDENT), 0)
    at.number_input(key=f"runs_continue_{beas}_epochs").set_value(1)
    at.button(key=f"runs_continue_{beas}_button").click().run()
    [new] = [run for run in store.list() if run.id != beas]
    assert new.parent == beas and new.student == ANA
    shared_manager().stop(new.id)
    shared_manager().wait(new.id, 120)


# --- the teacher ------------------------------------------------------------------------------
def home(session: dict) -> AppTest:
    """The app's first page, its sidebar drawn (AppTest drops the sidebar on switch_page)."""
    at = AppTest.from_file(APP, default_timeout=60)
    for name, value in {"lang": "en", **session}.items():
        at.session_state[name] = value
    return at.run()


def teacher_form(at: AppTest, code: str) -> AppTest:
    at.sidebar.text_input(key="access_code").input(code)
    [enter] = [b for b in at.sidebar.button if b.label == "Enter as the teacher"]
    return enter.click().run()


def test_the_teacher_s_code_opens_teacher_mode_and_a_wrong_one_does_not(store, trained):
    beas = add_run(store, trained, student=BEA)
    at = home(STUDENT)
    assert at.sidebar.text_input(key="access_code").value == ""
    at = teacher_form(at, "profe")  # (AppTest draws no sidebar after the first run)
    at.switch_page("pages/runs.py").run()
    assert select(at, 0).text_input(key=f"runs_label_{beas}").disabled  # still a student
    at = teacher_form(home(STUDENT), CODE)
    assert at.session_state["teacher_mode"]
    at.switch_page("pages/runs.py").run()
    assert not select(at, 0).text_input(key=f"runs_label_{beas}").disabled  # the teacher's


def test_guesses_from_many_sessions_meet_one_limiter_that_says_how_long_to_wait(monkeypatch):
    limiter = CodeLimiter(Allowance(free=1), Allowance(free=2), clock=lambda: 0.0)  # time stands
    monkeypatch.setattr(lockout, "TEACHER_CODE", limiter)  # the server's one, made fresh
    said = [  # the message the sidebar shows (AppTest draws no sidebar after the first run)
        wrong_code_message(teacher_form(home({"owner": f"{tab:032x}"}), "guess"))
        for tab in range(3)  # three sessions, three students
    ]
    assert said == ["That is not the teacher's code."] * 2 + [
        "That is not the teacher's code. Wait 1 s before the next try."
    ]
    at = teacher_form(home(STUDENT), CODE)  # the right code, while the server waits
    assert wrong_code_message(at) == "Too many wrong codes: try again in 1 s."
    assert "teacher_mode" not in at.session_state


def wrong_code_message(at: AppTest) -> str:
    return at.session_state["access_wrong_code"]


def test_without_a_code_set_nobody_is_the_teacher(store, monkeypatch):
    monkeypatch.setenv("MNIST_LAB_TEACHER_CODE", "")
    monkeypatch.setenv("MNIST_LAB_DATABASE_URL", f"sqlite:///{store.path}")
    at = home(STUDENT)
    assert "no teacher's code" in texts(at.sidebar.caption)
    assert "access_code" not in [w.key for w in at.sidebar.text_input]


def test_the_teacher_sets_the_class_rules_and_students_read_them(store):
    at = open_page("pages/classroom.py", session=TEACHER)
    at.toggle(key="rules_sees_all").set_value(False)
    at.number_input(key="rules_max_active").set_value(2)
    at.number_input(key="rules_max_cost").set_value(150.0)
    at.number_input(key="rules_max_drawings").set_value(30)
    at.number_input(key="rules_max_class_drawings").set_value(900)
    [save] = [b for b in at.button if b.label == "Save the rules"]
    at = save.click().run()
    assert store.class_rules() == ClassRules(False, 2, 150e9, max_drawings=30,
                                             max_class_drawings=900)  # fmt: skip
    assert "Saved" in texts(at.success)
    at = open_page("pages/classroom.py", session=STUDENT)
    assert "access_rules_form" not in page_text(at) and "rules_max_active" not in page_text(at)
    summary = texts(at.caption)
    assert "each student sees only their own runs" in summary
    assert "at most 2 run(s) at once each" in summary and "runs up to 150 thousand" in summary
    assert "at most 30 class-set drawings each, 900 in all" in summary


def test_a_student_removes_only_their_own_drawings(store):
    class_set = ClassSet(store.directory)
    x, y = load_mnist()[2:]
    anas = class_set.add(int(y[0]), x[0], name="Ana", student=ANA)
    beas = class_set.add(int(y[1]), x[1], name="Bea", student=BEA)
    assert {e.id: e.student for e in class_set.entries()} == {anas: ANA, beas: BEA}
    at = open_page("pages/classroom.py", session=STUDENT)
    assert at.multiselect(key="classroom_delete_pick").options == [f"#{anas} · {y[0]} · Ana"]
    at.multiselect(key="classroom_delete_pick").set_value([anas]).run()
    at.button(key="classroom_delete").click().run()
    assert [e.id for e in class_set.entries()] == [beas]
    # A forged pick of Bea's drawing, as the page's callback would pass it on: kept.
    assert class_set.delete([beas], Visitor(ANA)) == 0 and class_set.delete([beas], Visitor()) == 0
    assert [e.id for e in class_set.entries()] == [beas]
    at = open_page("pages/classroom.py", session=TEACHER)
    at.multiselect(key="classroom_delete_pick").set_value([beas]).run()
    at.button(key="classroom_delete").click().run()
    assert class_set.entries() == []
    assert np.array_equal(class_set.arrays()[1], np.array([], np.uint8))
