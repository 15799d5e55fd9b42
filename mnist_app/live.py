"""The live view of a run as JSON: its progress, a line of text and the learning curves.

The Train page draws this view on canvases in the browser and fetches it again twice a second
from `GET /api/runs/<run id>/live?lang=es` (served by app.py), so watching a run costs neither a
Streamlit rerun nor a page redraw: only this small JSON and two canvas drawings.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from mnist_app.charts import curve_chart
from mnist_app.i18n import DEFAULT_LANGUAGE, LANGUAGES, format_duration, format_number, translate
from mnist_app.jobs import TrainingManager, shared_manager
from mnist_app.store import QUEUED

METRICS = ("loss", "accuracy")
MAX_RUN_ID = 64  # run ids are 12 hex digits; anything much longer is not worth a lookup


def live_view(manager: TrainingManager, run_id: str, language: str) -> dict | None:
    """What the live panel shows of a run, or None if there is no such run."""
    snap = manager.snapshot(run_id) if len(run_id) <= MAX_RUN_ID else None
    if snap is None:
        return None
    total = snap.get("samples_total") or 0
    return {
        "run_id": run_id,
        "lang": language,
        "status": snap["status"],
        "active": manager.is_active(run_id),
        "queue_position": snap.get("queue_position") or 0,
        "progress": min(snap["samples_seen"] / total, 1.0) if total else 0.0,
        "text": progress_text(snap, language),
        "charts": [_light(curve_chart(snap, metric, language)) for metric in METRICS],
    }


def _light(chart: dict) -> dict:
    """The chart with its numbers cut to 4 significant digits: plenty for a picture, and a
    third of the bytes for a class on one Wi-Fi asking twice a second."""
    for line in chart["lines"]:
        for axis in ("x", "y"):
            line[axis] = [None if v is None else float(f"{v:.4g}") for v in line[axis]]
    return chart


def progress_text(snap: dict, language: str) -> str:
    """Epoch, batch, speed and time left, or the place in the queue."""
    if snap["status"] == QUEUED:
        return translate("train.queued", language, position=snap.get("queue_position") or 1)
    return translate(
        "train.progress",
        language,
        epoch=min(snap["epoch"] + 1, snap["epochs"]),
        epochs=snap["epochs"],
        batch=snap["batch"],
        batches=snap["batches_per_epoch"],
        speed=format_number(snap["samples_per_second"], 0, language),
        eta=format_duration(snap["eta_seconds"]),
    )


def live_endpoint(request: Request) -> JSONResponse:
    """GET /api/runs/{run_id}/live?lang=es|en: the live view, or 404 for an unknown run."""
    language = request.query_params.get("lang", DEFAULT_LANGUAGE)
    if language not in LANGUAGES:
        language = DEFAULT_LANGUAGE
    view = live_view(shared_manager(), request.path_params["run_id"], language)
    if view is None:
        return JSONResponse({"error": "no such run"}, status_code=404)
    return JSONResponse(view, headers={"Cache-Control": "no-store"})


ROUTES = [Route("/api/runs/{run_id}/live", live_endpoint, methods=["GET"])]
