"""The Class digits page through AppTest, over a real class set and real models."""

import json
import re

import numpy as np
import pytest
from apptest_text import open_page, page_text

from mnist_app.drawing.classset import ClassSet
from mnist_app.drawing.predict import default_model_path, load_model, model_card
from mnist_app.engine.config import RunConfig
from mnist_app.engine.data import load_mnist
from mnist_app.engine.records import Outcome
from mnist_app.engine.status import RunStatus
from mnist_app.engine.training import train
from mnist_app.i18n import LANGUAGES, format_percent, translate
from mnist_app.runs.managers import shared_manager

PAGE = "pages/classroom.py"
TINY_RUN = RunConfig(limit=500, epochs=1, batch_size=50, validation_size=0, scaling="centered")


pytestmark = pytest.mark.usefixtures("prepared_server")


@pytest.fixture(autouse=True)
def class_set() -> ClassSet:
    """The class set beside the process's run store (shared by every test), emptied first."""
    class_set = ClassSet(shared_manager().store.directory)
    class_set.delete([entry.id for entry in class_set.entries()])
    return class_set


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> str:
    """A real MLP trained for one epoch on 500 MNIST images."""
    path = tmp_path_factory.mktemp("models") / "tiny.keras"
    train(TINY_RUN, model_path=path)
    return str(path)


def class_digits(n: int, names: list[str] | None = None) -> tuple[ClassSet, list[int]]:
    """The first n MNIST test digits in the class set the page reads, with their labels."""
    class_set = ClassSet(shared_manager().store.directory)
    assert not class_set.entries()
    x, y = load_mnist()[2:]
    names = names or [""] * n
    ids = [class_set.add(int(y[i]), x[i], name=names[i % len(names)]) for i in range(n)]
    return class_set, ids


def chart_counts(at) -> list[int]:
    [chart] = at.get("plotly_chart")
    return json.loads(chart.proto.spec)["data"][0]["y"]


def leaderboard_rows(at) -> list[dict]:
    return at.dataframe[0].value.to_dict("records")


def test_an_empty_class_set_says_so_and_scores_nothing():
    at = open_page(PAGE)
    assert [info.value for info in at.info] == [
        translate("classroom.empty", "en"), translate("classroom.leaderboard.empty", "en")
    ]  # fmt: skip
    assert not at.get("plotly_chart") and not at.get("download_button")
    accuracy = model_card(default_model_path())["test_accuracy"]
    rows = leaderboard_rows(at)  # the shipped model first, then runs other tests left
    assert rows[0] == {"Model": "Shipped model", "MNIST test": f"{accuracy:.2%}",
                       "Class digits (held-out fifth)": "–", "Gap": "–"}  # fmt: skip
    assert {row["Class digits (held-out fifth)"] for row in rows} <= {"–", "cannot be loaded"}


@pytest.mark.parametrize("lang", list(LANGUAGES))
def test_gallery_counts_and_export_show_the_class_set(lang):
    hostile = "[x](http://evil.example) **Ana**"
    class_set, ids = class_digits(20, names=["", hostile])
    at = open_page(PAGE, lang)
    assert "⟦" not in page_text(at), re.findall(r"⟦[^⟧]*⟧", page_text(at))
    assert (
        chart_counts(at)
        == class_set.counts()
        == np.bincount(load_mnist()[3][:20], minlength=10).tolist()
    )
    [gallery] = at.get("image")
    captions = [image.caption for image in gallery.proto.imgs]
    assert len(captions) == 20
    assert f"{ids[-1]} · {class_set.entries()[0].digit}" in captions[0]  # newest first
    assert all("](" not in caption and "**" not in caption for caption in captions)
    [export] = at.get("download_button")
    assert export.proto.label == translate("classroom.export", lang)
    at.segmented_control(key="classroom_filter").set_value(7).run()
    [gallery] = at.get("image")
    sevens = [image.caption for image in gallery.proto.imgs]
    assert len(sevens) == class_set.counts()[7] and all(" · 7" in c for c in sevens)


def test_chosen_digits_are_removed():
    class_set, ids = class_digits(8)
    at = open_page(PAGE)
    assert at.button(key="classroom_delete").disabled  # nothing chosen yet
    at.multiselect(key="classroom_delete_pick").set_value(ids[:3]).run()
    at.button(key="classroom_delete").click().run()
    assert not at.exception
    assert at.success[0].value == translate("classroom.delete.done", "en", n=3)
    assert sorted(e.id for e in class_set.entries()) == ids[3:]
    assert sum(chart_counts(at)) == 5
    assert at.multiselect(key="classroom_delete_pick").value == []
    [gallery] = at.get("image")
    assert len(gallery.proto.imgs) == 5


def test_the_leaderboard_sets_mnist_beside_the_class_s_digits(tiny_model, tmp_path):
    class_set, _ = class_digits(60)
    store = shared_manager().store
    run_id = store.create(TINY_RUN, preset="tiny")
    store.record_outcome(
        run_id, Outcome(RunStatus.FINISHED, model_path=tiny_model, test_accuracy=0.8)
    )
    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"random bytes, not a model")
    broken_id = store.create(TINY_RUN, preset="broken")
    store.record_outcome(
        broken_id, Outcome(RunStatus.FINISHED, model_path=str(broken), test_accuracy=0.7)
    )
    shipped = default_model_path()
    shipped_scaling = model_card(shipped)["config"]["scaling"]
    shipped_on_class = class_set.evaluate(load_model(shipped), shipped_scaling)
    tiny_on_class = class_set.evaluate(load_model(tiny_model), "centered")
    assert shipped_on_class > tiny_on_class  # a real difference to rank by
    at = open_page(PAGE)
    mine = ("Shipped model", f"Run {run_id} (tiny)", f"Run {broken_id} (broken)")
    rows = [row for row in leaderboard_rows(at) if row["Model"] in mine]
    shipped_accuracy = model_card(shipped)["test_accuracy"]
    assert rows == [
        {"Model": "Shipped model", "MNIST test": f"{shipped_accuracy:.2%}",
         "Class digits (held-out fifth)": f"{shipped_on_class:.2%}",
         "Gap": f"{'+' if shipped_on_class >= shipped_accuracy else '−'}"
                f"{abs(shipped_on_class - shipped_accuracy):.2%}"},
        {"Model": f"Run {run_id} (tiny)", "MNIST test": "80.00%",
         "Class digits (held-out fifth)": f"{tiny_on_class:.2%}",
         "Gap": f"{'+' if tiny_on_class >= 0.8 else '−'}{abs(tiny_on_class - 0.8):.2%}"},
        {"Model": f"Run {broken_id} (broken)", "MNIST test": "70.00%",
         "Class digits (held-out fifth)": "cannot be loaded", "Gap": "–"},
    ]  # fmt: skip
    class_set.delete([class_set.entries()[0].id])  # the set changed: scored again
    at = open_page(PAGE)
    again = class_set.evaluate(load_model(tiny_model), "centered")
    [tiny] = [row for row in leaderboard_rows(at) if row["Model"] == mine[1]]
    assert tiny["Class digits (held-out fifth)"] == f"{again:.2%}"


@pytest.mark.parametrize("lang", list(LANGUAGES))
def test_the_draw_page_refuses_to_add_without_a_digit_or_a_drawing(lang):
    at = open_page("pages/draw.py", lang)
    at.button(key="classset_add").click().run()
    assert [e.value for e in at.error] == [translate("classroom.add.error.choose", lang)]
    at.segmented_control(key="classset_digit").set_value(7)  # a form: sent with the click
    at.button(key="classset_add").click().run()  # AppTest's canvas sends nothing: empty
    assert [e.value for e in at.error] == [translate("classroom.add.error.empty", lang)]
    assert at.segmented_control(key="classset_digit").value == 7  # kept, to try again
    assert ClassSet(shared_manager().store.directory).counts() == [0] * 10


@pytest.mark.parametrize("lang", list(LANGUAGES))
def test_the_leaderboard_says_it_scores_the_held_out_fifth_and_names_class_trained_runs(
    tiny_model, lang
):
    class_set, _ = class_digits(30)
    held = len(class_set.split().held_out)
    store = shared_manager().store
    run_id = store.create(TINY_RUN.replace(class_digits=2), preset="tiny")
    store.record_outcome(
        run_id, Outcome(RunStatus.FINISHED, model_path=tiny_model, test_accuracy=0.8)
    )
    k = len(store.get(run_id).class_drawings)
    assert k + held == 30 and held >= 6
    at = open_page(PAGE, lang)
    intro = translate("classroom.leaderboard.intro", lang, held=held, total=30)
    assert intro in [m.value for m in at.markdown]
    label = translate("classroom.leaderboard.run_class", lang, run=run_id, name="tiny", k=k)
    model = translate("classroom.leaderboard.model", lang)
    [row] = [row for row in leaderboard_rows(at) if row[model] == label]
    on_held_out = class_set.evaluate(load_model(tiny_model), "centered")
    shown = format_percent(on_held_out, 2, lang)
    assert row[translate("classroom.leaderboard.class", lang)] == shown
