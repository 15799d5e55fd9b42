"""The live view of a run as JSON: its progress, a line of text and the learning curves.

The Train page draws this view on canvases in the browser and fetches it again twice a second
from `GET /api/runs/<run id>/live?lang=es` (served by app.py), so watching a run costs neither a
Streamlit rerun nor a page redraw: only this small JSON and two canvas drawings.

When the teacher hides the students' runs from each other, the API answers only to the viewing
pass the page gave with the address (`&pass=…`, mnist_app.runs.owners.viewing_pass): to anyone else
a hidden run is "no such run", as if it did not exist.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from mnist_app.engine.progress import Snapshot
from mnist_app.engine.records import LiveView
from mnist_app.engine.status import RunStatus
from mnist_app.experiments.sweeps import load_sweep
from mnist_app.figures.charts import curve_chart, four_digits
from mnist_app.figures.sweeps import sweep_live_view
from mnist_app.i18n import DEFAULT_LANGUAGE, LANGUAGES, format_duration, format_number, translate
from mnist_app.runs.managers import RunManager, shared_manager
from mnist_app.runs.owners import is_viewing_pass, viewing_pass
from mnist_app.runs.rules import RULES_SECONDS
from mnist_app.runs.store import ID_PATTERN as RUN_ID
from mnist_app.runs.store import RunStore, StoreError, UnreadableRunError

METRICS = ("loss", "accuracy")
PASS = "pass"  # the query parameter that carries a viewing pass
VIEWING_KEY = "viewing"  # the name of the store's secret that signs viewing passes


def live_view(manager: RunManager, run_id: str, language: str) -> LiveView | None:
    """What the live panel shows of a run, or None if there is no such run.

    UnreadableRunError if the run's stored row no longer parses.
    """
    snap = manager.snapshot(run_id) if RUN_ID.fullmatch(run_id) else None
    if snap is None:
        return None
    return LiveView(
        run_id=run_id,
        lang=language,
        status=snap.status,
        active=manager.is_active(run_id),
        queue_position=snap.queue_position,
        progress=snap.fraction_done,
        text=progress_text(snap, language),
        charts=live_charts(snap, language),
    )


def live_charts(snap: Snapshot, language: str) -> tuple[dict, ...]:
    """The loss and accuracy charts of the live view, rebuilt on every poll."""
    return tuple(_light(curve_chart(snap, metric, language)) for metric in METRICS)


def _light(chart: dict) -> dict:
    """The chart with its numbers cut to 4 significant digits, for a class on one Wi-Fi."""
    for line in chart["lines"]:
        for axis in ("x", "y"):
            line[axis] = four_digits(line[axis])
    return chart


def progress_text(snap: Snapshot, language: str) -> str:
    """Epoch, batch, speed and time left, or the place in the queue; says so when paused."""
    if snap.status == RunStatus.QUEUED:
        return translate("train.queued", language, position=snap.queue_position or 1)
    text = translate(
        "train.paused_progress" if snap.status == RunStatus.PAUSED else "train.progress",
        language,
        epoch=min(snap.epoch + 1, snap.epochs),
        epochs=snap.epochs,
        batch=snap.batch,
        batches=snap.batches_per_epoch,
        speed=format_number(snap.samples_per_second, 0, language),
        eta=format_duration(snap.eta_seconds),
    )
    if snap.store_error:  # the database went away: say so, the run goes on
        text += " · " + translate("train.store_unreachable", language)
    return text


def _language(request: Request) -> str:
    language = request.query_params.get("lang", DEFAULT_LANGUAGE)
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


def pass_query(store: RunStore, what: str) -> str:
    """What a page adds to the address of `what`'s live view ("run:ID" or "sweep:ID"): its
    viewing pass when the class's runs are hidden, else nothing. Only for a visitor the page
    has already found may see it."""
    if store.class_rules().everyone_sees_all:
        return ""
    return f"&{PASS}={viewing_pass(store.secret(VIEWING_KEY), what)}"


def may_follow(store: RunStore, what: str, given: str | None) -> bool:
    """Whether the live API may answer about `what` to a request that carries `given` as its
    pass. The rules as last read here serve while the database cannot be reached, so that a
    run's curves go on while it is away; StoreError if they were never read."""
    rules = store.class_rules(or_last_known=True, max_age=RULES_SECONDS)
    return rules.everyone_sees_all or is_viewing_pass(store.secret(VIEWING_KEY), what, given)


def _not_found(what: str) -> JSONResponse:
    return JSONResponse({"error": f"no such {what}"}, status_code=404)


def _unreachable(error: StoreError) -> JSONResponse:
    return JSONResponse({"error": str(error)}, status_code=503)


def live_endpoint(request: Request) -> JSONResponse:
    """GET /api/runs/{run_id}/live?lang=es|en[&pass=…]: the live view, or 404 for an unknown
    run (or a hidden one without its pass)."""
    language, manager, run_id = _language(request), shared_manager(), request.path_params["run_id"]
    try:
        if not may_follow(manager.store, f"run:{run_id}", request.query_params.get(PASS)):
            return _not_found("run")
        view = live_view(manager, run_id, language)
    except UnreadableRunError as error:
        return JSONResponse({"error": f"unreadable run: {error.reason}"}, status_code=422)
    except StoreError as error:
        return _unreachable(error)
    if view is None:
        return _not_found("run")
    return JSONResponse(view.to_json(), headers={"Cache-Control": "no-store"})


def sweep_endpoint(request: Request) -> JSONResponse:
    """GET /api/sweeps/{sweep_id}/live?lang=es|en[&pass=…]: every member's curves and the
    sweep's bar, shaped like a run's live view; 404 for an unknown sweep (or a hidden one
    without its pass)."""
    manager, sweep_id = shared_manager(), request.path_params["sweep_id"]
    try:
        if not may_follow(manager.store, f"sweep:{sweep_id}", request.query_params.get(PASS)):
            return _not_found("sweep")
    except StoreError as error:
        return _unreachable(error)
    sweep = load_sweep(manager, sweep_id) if RUN_ID.fullmatch(sweep_id) else None
    if sweep is None:
        return _not_found("sweep")
    view = sweep_live_view(manager, sweep_id, sweep, _language(request))
    return JSONResponse(view.to_json(), headers={"Cache-Control": "no-store"})


def routes(prefix: str = "") -> list[Route]:
    """The live API's routes, under the server's path prefix (e.g. "/lab" behind a proxy)."""
    return [
        Route(f"{prefix}/api/runs/{{run_id}}/live", live_endpoint, methods=["GET"]),
        Route(f"{prefix}/api/sweeps/{{sweep_id}}/live", sweep_endpoint, methods=["GET"]),
    ]
