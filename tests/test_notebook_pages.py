"""The notebooks beside our runs on the pages: a finished lesson's table on the Sweeps page, and
report 002's per-epoch table and curve beside a report preset's run on the Train page."""

import json

import pytest
from apptest_text import open_page, page_text

from mnist_app.engine.presets import PRESETS
from mnist_app.experiments.lessons import LESSONS
from mnist_app.experiments.sweeps import start_sweep
from mnist_app.runs.managers import shared_manager
from mnist_app.text import escape_markdown

pytestmark = pytest.mark.usefixtures("prepared_server")


def test_a_finished_lesson_shows_the_notebook_beside_its_runs_in_spanish():
    manager = shared_manager()
    lesson = LESSONS["001-validation"]  # 0: 001's printed figure; 6,000 and 12,000: nothing
    sweep = lesson.sweep(limit=300, epochs=1)
    sweep_id = start_sweep(manager, sweep)
    runs = manager.store.sweep_runs(sweep_id)
    for run in runs:
        manager.wait(run.id, timeout=180)
    at = open_page("pages/sweeps.py", "es", sweep=sweep_id)
    (table,) = at.table
    rows = table.value.to_dict("records")
    assert [row["Imágenes de validación"] for row in rows] == ["0", "6.000", "12.000"]
    assert rows[0]["Prueba, cuaderno"] == "95,62 %"  # 001's one printed result, decimal comma
    assert rows[1]["Prueba, cuaderno"] == "no imprimió nada"
    ours = manager.store.get(runs[0].id).test_accuracy
    assert rows[0]["Prueba, aquí"] == f"{ours * 100:.2f} %".replace(".", ",")
    gap = (ours - 0.9562) * 100
    assert rows[0]["Diferencia, prueba"].endswith(f"{abs(gap):.1f} pt".replace(".", ","))
    notes = "\n".join(m.value for m in at.markdown)  # as sent: Markdown, escaped
    assert escape_markdown("el cuaderno no imprimió nada para este valor") in notes
    assert escape_markdown("«Alcanzamos una precisión de 96.9%»") in notes  # 001's caveat
    quoted = [c.value for c in at.code]  # the lines as the notebook printed them
    assert "[0.13791403009481729, 0.9562000036239624]" in quoted
    text = page_text(at)
    assert "Estos entrenamientos se hicieron con otros ajustes" in text  # --limit 300, 1 epoch
    if abs(gap) > 1.5:  # 300 images: far from 001's 95.62%, and the page says why
        (warning,) = at.warning
        assert warning.value.startswith(f"**{escape_markdown('Más de 1,5 puntos')}")
        assert (
            escape_markdown("Estos entrenamientos se hicieron con otros ajustes") in warning.value
        )


def test_a_report_preset_run_shows_the_report_s_per_epoch_table_beside_its_curve():
    manager = shared_manager()
    config = PRESETS["report-v1"].replace(limit=300, epochs=2)
    run_id = manager.submit(config, "report-v1")
    manager.wait(run_id, timeout=180)
    at = open_page("pages/train.py", "es", run=run_id)
    (table,) = at.table
    rows = table.value.to_dict("records")
    assert len(rows) == 15  # the report's 15 epochs, ours beside the first two
    assert rows[0]["Época"] == "1" and rows[0]["Acierto, informe"] == "0,9007"
    assert rows[14]["Acierto, informe"] == "0,9965" and rows[14]["Acierto, aquí"] == "–"
    ours = manager.store.get(run_id).history[0].accuracy
    assert rows[0]["Acierto, aquí"] == f"{ours:.4f}".replace(".", ",")
    specs = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    (report,) = [
        trace
        for spec in specs
        for trace in spec["data"]
        if trace.get("name") == "Informe 002 (entrenamiento)"
    ]
    assert report["x"][:2] == [1, 2] and report["y"][:2] == [0.9007, 0.9526]
    assert "97.62000%" in page_text(at)  # the report's test figure, as it printed it
