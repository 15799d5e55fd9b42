"""Owners and limits on a class server: who may change a run, the teacher's code, the class's
rules kept in the database (SQLite and PostgreSQL), and limits refused saying by how much."""

from __future__ import annotations

import json

import numpy as np
import pytest
import sqlalchemy as sa

from mnist_app.drawing.classset import ClassSet
from mnist_app.engine.config import RunConfig
from mnist_app.engine.presets import PRESETS
from mnist_app.engine.status import RunStatus
from mnist_app.runs.database import class_rules
from mnist_app.runs.jobs import TrainingManager
from mnist_app.runs.owners import AccessError, ClassRules, Visitor, check_start, cost, owner_id
from mnist_app.runs.store import RunStore

ANA, BEA = "a" * 32, "b" * 32


@pytest.fixture
def class_server(monkeypatch):
    """A shared server with a teacher's code."""
    monkeypatch.setenv("MNIST_LAB_TEACHER_CODE", "profe-2026")


def test_on_a_class_server_a_student_changes_only_their_own(class_server):
    ana, bea = Visitor.of(ANA), Visitor.of(BEA)
    assert ana.may_change(ANA) and not ana.may_change(BEA) and not ana.may_change(None)
    with pytest.raises(AccessError, match="belongs to another student") as caught:
        bea.check_change("Run 0123456789ab", ANA)
    assert caught.value.reason == "not_yours"
    teacher = Visitor.of(BEA, "profe-2026")
    assert teacher.teacher and teacher.may_change(ANA) and teacher.may_change(None)


def test_a_wrong_teacher_code_is_refused_and_no_code_set_means_no_teacher(monkeypatch):
    monkeypatch.setenv("MNIST_LAB_TEACHER_CODE", "profe-2026")
    for wrong in ("profe", "PROFE-2026", "profe-2026 ", "x" * 1000):
        with pytest.raises(AccessError, match="not the teacher's code"):
            Visitor.of(ANA, wrong)
    monkeypatch.setenv("MNIST_LAB_TEACHER_CODE", "")
    assert not Visitor.of(ANA, "").teacher  # typed nothing: a student
    with pytest.raises(AccessError):
        Visitor.of(ANA, "anything")  # no code set: nobody is the teacher


@pytest.mark.parametrize(
    "forged", ["", "A" * 32, "a" * 31, "a" * 33, "../../etc/passwd", "g" * 32, 12, None, [ANA]]
)
def test_a_forged_owner_id_gives_nobody_s_rights(class_server, forged):
    assert owner_id(forged) is None
    visitor = Visitor.of(forged)
    assert visitor.owner is None and not visitor.may_change(None) and not visitor.may_change(ANA)


def test_on_a_laptop_the_one_user_may_do_everything(monkeypatch):
    monkeypatch.delenv("MNIST_LAB_TEACHER_CODE", raising=False)
    anyone = Visitor.of(None)
    assert anyone.may_change(ANA) and anyone.manages_all()
    rules = ClassRules(max_active=1, max_cost=1.0, everyone_sees_all=False)
    rules.check_submit(anyone, [PRESETS["report-v3"]], active_now=5)  # no limits apply
    assert rules.may_see(anyone, ANA)


def test_the_cost_is_epochs_times_images_times_parameters():
    config = RunConfig(width=32, depth=1, epochs=3, limit=1000, validation_size=0)
    params = (784 * 32 + 32) + (32 * 10 + 10)
    assert cost(config) == 3 * 1000 * params


def test_a_run_with_class_digits_costs_its_copies_of_the_class_drawings_too(class_server, lab_home):
    config = RunConfig(width=32, depth=1, epochs=3, limit=1000, validation_size=0)
    assert cost(config.replace(class_digits=20), 5) == cost(config) * 1100 / 1000
    store = RunStore(lab_home)
    class_set = ClassSet(lab_home)
    for digit in (1, 1, 2, 2, 3, 3, 4, 4, 5, 5):  # each digit's first held out: 5 to train on
        class_set.add(digit, np.full((28, 28), 200, np.uint8))
    store.set_class_rules(ClassRules(max_cost=cost(config)))
    check_start(store, Visitor.of(ANA), [config])  # MNIST's 1,000 images: within the limit
    with pytest.raises(AccessError, match=r"1\.1× the class limit") as caught:
        check_start(store, Visitor.of(ANA), [config.replace(class_digits=20)])  # + 20 × 5
    assert caught.value.reason == "too_costly"


def test_limits_are_refused_saying_by_how_much(class_server):
    ana = Visitor.of(ANA)
    config = RunConfig(width=32, depth=1, epochs=3, limit=1000, validation_size=0)
    rules = ClassRules(max_active=2, max_cost=cost(config) / 4)
    shown = rf"costs {cost(config):,.0f} \(epochs × images × parameters\), 4\.0× the class limit"
    with pytest.raises(AccessError, match=shown) as caught:
        rules.check_submit(ana, [config], active_now=0)
    assert caught.value.reason == "too_costly" and caught.value.values["times"] == 4.0
    rules.check_submit(ana, [config.replace(epochs=1, limit=250)], active_now=1)  # within both
    shown = "already have 2 run.* this adds 1, and the limit is 2 at once"
    with pytest.raises(AccessError, match=shown) as caught:
        rules.check_submit(ana, [config.replace(epochs=1, limit=250)], active_now=2)
    assert caught.value.reason == "too_many"
    rules.check_submit(Visitor.of(ANA, "profe-2026"), [config], active_now=9)  # the teacher


def test_hiding_runs_shows_a_student_only_their_own(class_server):
    rules = ClassRules(everyone_sees_all=False)
    assert rules.may_see(Visitor.of(ANA), ANA) and not rules.may_see(Visitor.of(ANA), BEA)
    assert rules.may_see(Visitor.of(None, "profe-2026"), BEA)
    assert ClassRules().may_see(Visitor.of(ANA), BEA)  # by default everyone sees all


def test_the_rules_and_each_run_s_student_are_kept_in_the_database(lab_home, database_url):
    store = RunStore(lab_home)
    assert store.class_rules() == ClassRules()  # nothing set yet: the defaults
    rules = ClassRules(everyone_sees_all=False, max_active=3, max_cost=2.5e12)
    store.set_class_rules(rules)
    assert RunStore(lab_home).class_rules() == rules  # another replica reads the same
    manager = TrainingManager(store, max_concurrent=1)
    tiny = RunConfig(limit=300, validation_size=0, epochs=1)
    held = manager.submit(tiny, paused=True, student=ANA)
    queued = manager.submit(tiny, student=ANA)
    other = manager.submit(tiny, student=BEA)
    assert store.get(held).student == ANA and store.get(other).student == BEA
    assert (store.active_count(ANA), store.active_count(BEA), store.active_count("c" * 32)) == (
        2, 1, 0,
    )  # fmt: skip
    for run_id in (queued, other, held):
        manager.stop(run_id)
        manager.wait(run_id, 120)
    assert store.active_count(ANA) == 0
    assert store.get(held).status is RunStatus.STOPPED


def test_hand_edited_rules_count_as_unset(lab_home, database_url):
    store = RunStore(lab_home)
    with store.engine.begin() as db:
        db.execute(sa.insert(class_rules), [
            {"name": "max_active", "value": json.dumps(-5)},
            {"name": "max_cost", "value": "{not json"},
            {"name": "everyone_sees_all", "value": json.dumps("no")},
        ])  # fmt: skip
    assert store.class_rules() == ClassRules()
