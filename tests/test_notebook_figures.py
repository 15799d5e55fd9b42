"""The notebooks' figures as data: quoted exactly from the course materials, shaped for every
lesson, and written beside ours as the pages write them."""

from __future__ import annotations

from pathlib import Path

import pytest

from mnist_app.engine.presets import PRESETS
from mnist_app.experiments.lessons import FLOOR, LESSONS, ValueResult, lesson_results
from mnist_app.experiments.notebook_figures import FIGURES, REPORT_TABLES, SEED_FILES, printed
from mnist_app.figures.notebook import comparison_rows, gap_explanation, notes, quoted_lines
from mnist_app.i18n import LANGUAGES, has_text, translate

# The course materials live beside the checkout (shared/seeds/), not in it: where they are
# present, every quote must be in the file it cites, character for character.
SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"


def seed_text(notebook: str) -> str:
    path = SEEDS / SEED_FILES[notebook]
    if not path.exists():
        pytest.skip(f"the course materials are not at {SEEDS}")
    return path.read_text(encoding="utf-8")


def test_every_quoted_line_is_in_the_notebook_it_cites():
    for slug, figures in FIGURES.items():
        seed = seed_text(LESSONS[slug].notebook)
        for figure in figures:
            for quote in figure.quotes:
                assert quote in seed, (slug, figure.value, quote)
    report = seed_text("002")
    for table in REPORT_TABLES.values():
        for line in (table.title, *table.lines, table.test_line):
            assert line in report, line


def test_every_figure_is_read_from_its_own_quoted_lines():
    """The figures and the lines agree: 0.9655 is 'val_accuracy: 0.9655', 0.961 '96.10%'."""
    for slug, figures in FIGURES.items():
        lesson = LESSONS[slug]
        assert len({figure.value for figure in figures}) == len(figures), slug
        for figure in figures:
            assert figure.value in lesson.values, (slug, figure.value)
            assert figure.quotes, (slug, figure.value)
            text = "\n".join(figure.quotes)
            if figure.val_accuracy is not None:
                assert f"val_accuracy: {figure.val_accuracy:.4f}" in text, (slug, figure.value)
            if figure.test_accuracy is not None:
                as_printed = (f"{figure.test_accuracy:.2%}", str(figure.test_accuracy))
                assert any(p in text for p in as_printed), (slug, figure.value)
            for caveat in figure.caveats:
                for lang in LANGUAGES:
                    assert has_text(f"notebook.caveat.{caveat}", lang), caveat
    # 004's issue example, and the batch-1 figure it printed twice: not this network's
    assert (printed("004-width", 50).val_accuracy, printed("004-width", 50).test_accuracy) == (
        0.9655,
        0.961,
    )
    assert printed("004-sgd", 1).test_accuracy is None
    assert "stale_test" in printed("004-sgd", 1).caveats
    assert printed("001-learning-rate", 0.1) is None  # never tried: nothing printed


def test_report_tables_cover_every_epoch_of_their_presets():
    for slug, table in REPORT_TABLES.items():
        epochs = table.epochs()
        assert [e for e, _, _ in epochs] == list(range(1, PRESETS[slug].epochs + 1)), slug
        assert all(0 < accuracy < 1 and loss > 0 for _, loss, accuracy in epochs)
    assert REPORT_TABLES["report-v1"].epochs()[0] == (1, 0.3603, 0.9007)
    assert REPORT_TABLES["report-v2"].epochs()[2] == (3, 0.1361, 0.9712)  # as the report has it


def test_the_table_writes_the_notebook_beside_ours_in_spanish_with_its_caveats():
    lesson = LESSONS["004-sgd"]
    results = [
        ValueResult(1, printed(lesson.slug, 1), {"val_accuracy": 0.9312, "test_accuracy": 0.935}),
        ValueResult(100, printed(lesson.slug, 100), {"val_accuracy": 0.97, "test_accuracy": None}),
    ]
    rows = comparison_rows(lesson, results, "es")
    assert rows[0] == {
        "Tamaño de lote": "1",
        "Validación, cuaderno": "95,90 %",
        "Validación, aquí": "93,12 %",
        "Diferencia, validación": "−2,8 pt",
        "Prueba, cuaderno": "no la imprimió",
        "Prueba, aquí": "93,50 %",
        "Diferencia, prueba": "–",
    }
    assert rows[1]["Diferencia, validación"] == "+0,3 pt" and rows[1]["Prueba, aquí"] == "–"
    said = notes(lesson, results, "es")
    assert any("imprimió otra vez la cifra de prueba" in line for line in said)
    assert any("sin escalar" in line for line in said)  # batch 100: 004's unscaled test set
    title, reasons = gap_explanation(lesson, results, "es")
    assert results[0].beyond_floor and not results[1].beyond_floor and FLOOR == 0.015
    assert title.startswith("Más de 1,5 puntos de diferencia en Tamaño de lote 1")
    assert reasons == [translate("notebook.gap.chance", "es")]  # no caveat sets batch 1 apart
    results[1] = ValueResult(
        100, printed(lesson.slug, 100), {"val_accuracy": 0.97, "test_accuracy": 0.99}
    )
    title, reasons = gap_explanation(lesson, results, "es")
    assert "Tamaño de lote 100" in title and any("sin escalar" in r for r in reasons)
    assert quoted_lines(lesson, results, "es")[0][1].endswith("Precisión de prueba: 76.48%")


def test_a_value_the_notebook_printed_nothing_for_says_so():
    lesson = LESSONS["001-learning-rate"]
    results = lesson_results(lesson, [])  # no runs yet: every figure of ours is missing
    rows = comparison_rows(lesson, results, "en")
    assert rows[0]["Validation, notebook"] == "printed nothing" and rows[0]["Test, here"] == "–"
    assert rows[1]["Test, notebook"] == "95.62%"  # 0.001: the one network 001 printed
    assert rows[2]["Test, notebook"] == "not printed"  # 0.005: trained, only epochs printed
    said = notes(lesson, results, "en")
    assert "Learning rate 0.0001: the notebook printed nothing for this value." in said
    assert any("Alcanzamos una precisión de 96.9%" in line for line in said)
    assert gap_explanation(lesson, results, "en") == ("", [])
