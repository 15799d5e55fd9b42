"""AppTest helpers: open a page as a visitor would, and read what it sent."""

import contextlib
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

from mnist_app.runs.managers import shared_manager

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def open_page(page: str, lang: str = "en", session: dict | None = None, **query: str) -> AppTest:
    """The app in `lang`, with this session state and URL, switched to `page` (e.g.
    "pages/runs.py") as a click in the navigation does; it must render without an exception."""
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["lang"] = lang
    for name, value in (session or {}).items():
        at.session_state[name] = value
    for name, value in query.items():
        at.query_params[name] = value
    at.run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def page_text(at: AppTest) -> str:
    """Every label, help text, option and paragraph the page sent, as one string."""
    texts, stack = [], [at.main, at.sidebar]  # AppTest's public blocks, walked down
    while stack:
        node = stack.pop()
        if getattr(node, "proto", None) is not None:
            texts.append(str(node.proto))
        stack.extend(getattr(node, "children", {}).values())
    return "\n".join(texts)


@contextlib.contextmanager
def held_run(config, student: str | None = None):
    """A run (`student`'s) submitted paused and held before its first batch, its model built:
    in training, however fast the machine. Yields its id; stopped (and waited for) afterwards."""
    from mnist_app.engine.status import RunStatus

    manager = shared_manager()
    run_id = manager.submit(config, paused=True, student=student)
    deadline = time.monotonic() + 60
    try:
        while not (
            manager.snapshot(run_id).status == RunStatus.PAUSED
            and run_id in manager.models_in_memory()  # its model is built
        ):
            assert time.monotonic() < deadline, "training did not start"
            time.sleep(0.05)
        yield run_id
    finally:
        manager.stop(run_id)
        manager.wait(run_id, timeout=60)


def wait_for_results(at: AppTest, timeout: float = 120) -> None:
    """Wait for the page's run to end, then rerun the page as the live view would ask it to."""
    run_id, deadline = at.query_params["run"], time.monotonic() + timeout
    while shared_manager().is_active(run_id):
        assert time.monotonic() < deadline, "the run did not finish in time"
        time.sleep(0.5)
    at.run()
    assert not at.exception and not at.get("bidi_component")  # the live view has gone


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)
