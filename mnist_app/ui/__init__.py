"""The engine's only Streamlit code: shared widgets for the pages (and, in train_form.py, the
Train page's settings form)."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import numpy as np
import streamlit as st

from mnist_app.drawing.predict import warm_up
from mnist_app.engine.config import RANGES, ConfigError
from mnist_app.engine.records import LiveView
from mnist_app.experiments.sweeps import log_steps  # noqa: F401  (the pages' slider stops)
from mnist_app.figures.live import pass_query
from mnist_app.i18n import LANGUAGES, translate
from mnist_app.runs.continuation import CONTINUABLE
from mnist_app.runs.environment import check_environment
from mnist_app.runs.managers import RunManager, shared_manager
from mnist_app.runs.store import Run, RunStore, StoreError
from mnist_app.ui.access import may_start, show_refusal, visitor
from mnist_app.ui.keys import LANGUAGE, keep
from mnist_app.ui.words import language, number_text, percent_text, t  # noqa: F401  (the pages')

FRONTEND = Path(__file__).parent.parent / "frontend"
REFRESH_SECONDS = 0.5  # how often the live view of a training run asks for news
_live_run_component = st.components.v2.component(
    "mnist_lab.live_run",
    html=(FRONTEND / "live_run.html").read_text(encoding="utf-8"),
    css=(FRONTEND / "live_run.css").read_text(encoding="utf-8"),
    js=(FRONTEND / "live_run.js").read_text(encoding="utf-8"),
)


def prepare_server() -> None:
    """Once, when the server starts (app.py's lifespan) and before any page view.

    - Streamlit calls keras.backend.clear_session() after every script run, fragment runs
      included. That drops TensorFlow's kernel cache and runs a full gc.collect() while holding
      the GIL, so a training thread stalls: an epoch took about 6x longer with a page open. Our
      models live in caches and jobs, not in the script, so there is nothing for it to clean.
    - A pages/ folder beside app.py puts a fresh server in Streamlit's old multipage mode until
      st.navigation runs once: a direct link to /train would run pages/train.py on its own,
      without app.py's navigation and language switch. The folder stays (our layout has it);
      the mode is switched off here.
    - The shipped model is loaded and read with once, in the background, so that the Draw
      page's first reading does not wait for it. TensorFlow is not loaded here: the Draw page
      reads without it, and importing it in the background too (~3 s holding the GIL) put the
      first reading at 4.84 s instead of 3.45 s after launch (bench/cold_start.py). A run's
      thread loads it when the first run starts.
    - Streamlit looks at its config files (.streamlit/config.toml, here and in the home folder)
      for changes five times a second, whatever server.fileWatcherType says: about 1 ms of CPU a
      second, and with the threads it wakes about 1.8 ms of every Draw-page event's server CPU
      (bench/stroke_cpu.py: 12.2 -> 10.4 ms an event, medians of 3 alternating rounds). A
      class server's config changes with a restart; it is now looked at every
      CONFIG_POLL_SECONDS (an edit still applies, that much later). A Streamlit without the
      setting leaves its own rate, with one line in the log.
    - pandas is imported here, whole, before any session runs (0.2 s). plotly looks pandas up
      in sys.modules without the import lock; a page that imported it lazily while another
      session built a figure gave that session "partially initialized module 'pandas' has no
      attribute 'Series'" (seen on a fresh server's Compare page, 2 times in 3).

    The first two reach into Streamlit's internals, so a Streamlit upgrade that moved them stops the
    server at start-up with a clear message rather than silently bringing the slowdown back.
    """
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.runtime.scriptrunner import script_runner

    cleanup = getattr(script_runner, CLEANUP_NAME, None)
    if cleanup is not _leave_modules_alone:
        if not callable(cleanup) or not hasattr(PagesManager, "uses_pages_directory"):
            raise RuntimeError(
                f"streamlit {st.__version__} no longer has script_runner.{CLEANUP_NAME} or "
                "PagesManager.uses_pages_directory, which MNIST Lab patches (see "
                "mnist_app/ui/__init__.py, prepare_server); pin streamlit to the version in "
                "requirements.txt or update the patch"
            )
        global streamlit_cleanup
        streamlit_cleanup = cleanup
        setattr(script_runner, CLEANUP_NAME, _leave_modules_alone)
    PagesManager.uses_pages_directory = False
    _poll_config_slowly()
    import pandas  # noqa: F401  (whole before any session: see above)

    threading.Thread(target=warm_up, name="warm-up", daemon=True).start()
    try:  # a mistyped MNIST_LAB_* value: one line in the log, and every page says it
        check_environment()
    except ConfigError as error:
        print(f"MNIST Lab: {error} (every page says so until it is fixed)", file=sys.stderr)


CONFIG_POLL_SECONDS = 5.0  # how often Streamlit looks at its config files for changes
POLL_NAME = "_POLLING_PERIOD_SECS"  # Streamlit 1.67's polling period, read before every look


def _poll_config_slowly() -> None:
    from streamlit.watcher import polling_path_watcher

    if not isinstance(getattr(polling_path_watcher, POLL_NAME, None), int | float):
        print(
            f"MNIST Lab: streamlit {st.__version__} has no polling_path_watcher.{POLL_NAME}; "
            "its config files are looked at for changes at its own rate",
            file=sys.stderr,
        )
        return
    setattr(polling_path_watcher, POLL_NAME, CONFIG_POLL_SECONDS)


def environment_check() -> None:
    """On every page view: a mistyped MNIST_LAB_* value is shown, with its fix, instead of the
    page (which would otherwise fail wherever it first reads it)."""
    try:
        check_environment()
    except ConfigError as error:
        st.error(t("app.environment_error"))
        st.code(str(error), language=None)
        st.stop()


CLEANUP_NAME = "_clean_problem_modules"  # Streamlit 1.67's after-run reset of Keras and pyplot
streamlit_cleanup = None  # Streamlit's own, once prepare_server has replaced it


def _leave_modules_alone() -> None:
    """Replaces Streamlit's after-run cleanup of Keras and pyplot (the app uses neither)."""


def training_manager() -> RunManager:
    """The process's training manager; if its settings or store are unusable, say so and stop.

    A class server whose MNIST_LAB_HOME is read-only, or whose MNIST_LAB_MAX_TRAININGS is not a
    number, shows every visitor what is wrong and how to fix it, not a traceback.
    """
    try:
        return shared_manager()
    except (StoreError, ConfigError) as error:
        st.error(t("app.setup_error"))
        st.code(str(error), language=None)
        st.stop()


def language_switch() -> None:
    """The sidebar language picker; the choice also goes into the URL."""
    st.sidebar.selectbox(
        translate("language.label", language()),
        options=list(LANGUAGES),
        format_func=LANGUAGES.get,
        index=list(LANGUAGES).index(language()),
        key=LANGUAGE,
    )
    st.query_params["lang"] = st.session_state[LANGUAGE]


def live_run(view: LiveView, key: str, store: RunStore) -> None:
    """A run's progress bar and learning curves, kept up to date by the browser itself.

    `view` is `mnist_app.figures.live.live_view(...)`, or a sweep's (mnist_app.figures.sweeps, with
    its `sweep_id`). The component draws it on canvases, then fetches
    it again from the live API every REFRESH_SECONDS (with a viewing pass when the class's runs
    are hidden), and asks for one rerun when the run's phase changes (started, ended, moved up
    the queue). Rerunning a Streamlit fragment twice a second instead re-rendered the whole page
    in the browser: a tenth of a core taken from the training, per viewer.
    """
    what, path = (
        (f"sweep:{view.sweep_id}", f"/api/sweeps/{view.sweep_id}/live")
        if view.sweep_id is not None
        else (f"run:{view.run_id}", f"/api/runs/{view.run_id}/live")
    )
    url = f"{base_path()}{path}?lang={view.lang}{pass_query(store, what)}"
    data = {
        "view": view.to_json(),
        "url": url,
        "refresh_ms": round(REFRESH_SECONDS * 1000),
        "large": presenting(),
    }
    _live_run_component(key=key, data=data, on_phase_change=lambda: None)


# --- projector mode --------------------------------------------------------------------------
PRESENT = "present"  # ?present=1: the page as the back of a classroom needs it
# Streamlit sizes its text in rem: a bigger root font enlarges every word and number on the page.
_PROJECTOR_STYLE = """<style>
html { font-size: 22px; }
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"],
[data-testid="stExpandSidebarButton"] { display: none; }
</style>"""


# A disabled widget's label (the CNN sliders while the network is an MLP) is drawn at 40% of the
# text colour, 2.5:1 on white; at 70% it reads 6:1 (WCAG asks 4.5:1) and still looks disabled.
# On a phone (Streamlit stacks columns below 640 px) the headings and the space above the title
# shrink, a page's intro (`page_intro`) moves to the page's end, and an empty column (a spacer
# beside a narrow widget) leaves no gap: at 390×844 the Draw page's canvas began 614 px down and
# its reading 937 px, so a student never saw both at once.
_PAGE_STYLE = """<style>
label[data-testid="stWidgetLabel"][disabled] p { color: rgba(17, 24, 39, 0.7); }
.st-key-draw_reading img, .st-key-upload_reading img, .st-key-test_reading img {
  image-rendering: pixelated;
}
@media (max-width: 640px) {
  [data-testid="stMainBlockContainer"] { padding-top: 4rem; }
  [data-testid="stMainBlockContainer"] h1 { font-size: 2rem; padding: 0 0 0.25rem; }
  [data-testid="stMainBlockContainer"] h2 { font-size: 1.5rem; }
  [data-testid="stMainBlockContainer"] h3 { font-size: 1.25rem; }
  [data-testid="stLayoutWrapper"]:has(> .st-key-page_intro) { order: 1; }
  [data-testid="stColumn"]:has(> [data-testid="stVerticalBlock"]:empty) { display: none; }
}
</style>"""
PAGE_INTRO = "page_intro"  # the intro's container: the style above finds it by this key


def page_style() -> None:
    """What every page adds to Streamlit's own style (readable disabled labels, the Draw page's
    28×28 image of what the network saw drawn in crisp squares, a phone's layout)."""
    st.html(_PAGE_STYLE)


def page_intro(text: str) -> None:
    """A page's opening paragraph, under its title; on a phone, at the page's end, so that the
    page's own controls come on the first screen."""
    with st.container(key=PAGE_INTRO):
        st.write(text)


def presenting() -> bool:
    """Whether the page is in projector mode (?present=1, or the sidebar's switch)."""
    return st.query_params.get(PRESENT) == "1"


def projector_switch() -> None:
    """The sidebar's projector switch; in projector mode, the page's own way back out.

    Projector mode hides the sidebar, keeps only the settings a demo moves (the Train page), and
    draws text, numbers and curves large enough to read from the back of a room (18 px and up).
    """
    if PRESENT in st.query_params:  # the URL says (a link, the switch)
        on = presenting()
    else:  # a page switch drops the URL's query: the session remembers (Home's Start, a link)
        on = bool(st.session_state.get("present_switch"))
        if on:
            st.query_params[PRESENT] = "1"
    keep("present_switch", on)
    st.sidebar.toggle(
        t("present.toggle"), key="present_switch", on_change=_follow_switch, help=t("present.help")
    )
    if presenting():
        st.html(_PROJECTOR_STYLE)
        st.button(
            t("present.leave"),
            key="present_leave",
            on_click=_leave_projector,
            icon=":material/close_fullscreen:",
            type="tertiary",
        )


def _follow_switch() -> None:
    if st.session_state["present_switch"]:
        st.query_params[PRESENT] = "1"
    else:
        st.query_params.pop(PRESENT, None)


def _leave_projector() -> None:
    st.session_state["present_switch"] = False
    st.query_params.pop(PRESENT, None)


def plotly_chart(figure, key: str, enlarge=None, **options):
    """A plotly figure with the page language's decimal and thousands marks, its fonts enlarged
    in projector mode (by `enlarge`, the figure module's own way, else charts.for_projector);
    `options` go to st.plotly_chart, whose value it returns (a selection)."""
    from mnist_app.figures.charts import for_page
    from mnist_app.figures.reading import SentFigure

    if not isinstance(figure, SentFigure):  # a SentFigure was finished for its page when built
        figure = for_page(figure, language(), presenting(), enlarge)
    return st.plotly_chart(figure, key=key, **options)


def base_path() -> str:
    """The server's path prefix ("/lab" behind a proxy at /lab), or "" when it has none."""
    base = st.get_option("server.baseUrlPath").strip("/")
    return f"/{base}" if base else ""


def digit_gallery(images: np.ndarray, captions: list[str], alts: list[str], zoom: int = 4) -> None:
    """MNIST digits in a row that wraps, drawn with crisp big pixels, each with a caption and
    an alternative text saying what it shows (for a screen reader)."""
    if len(images):
        big = [np.kron(image, np.ones((zoom, zoom), dtype=image.dtype)) for image in images]
        st.image(big, caption=captions, alt=alts, width=28 * zoom)


def continue_control(manager: RunManager, run: Run, key: str) -> None:
    """'Continue for N more epochs' under a run: a new run from its saved weights and optimizer
    state, then followed on the Train page. Disabled, with the reason, where it cannot be. On a
    class server anyone who may see a run may continue it: the new run is theirs."""
    left = int(RANGES["epochs"][1]) - len(run.history)
    # Whether its model file is still there is checked on the click, and explained if not.
    ready = run.status in CONTINUABLE and bool(run.history) and left >= 1
    ready = ready and not manager.is_active(run.id)
    row = st.container(horizontal=True, vertical_alignment="bottom")
    more = row.number_input(
        t("continue.epochs"),
        min_value=1,
        max_value=max(left, 1),
        value=min(5, max(left, 1)),
        step=1,
        key=f"{key}_epochs",
        disabled=not ready,
        width=180,
    )
    clicked = row.button(
        t("continue.button", n=more),
        key=f"{key}_button",
        disabled=not ready,
        icon=":material/fast_forward:",
        help=t("continue.help" if ready else "continue.why_not"),
    )
    if not clicked:
        return
    if not may_start(manager.store, [run.config.replace(epochs=int(more))]):  # a class's limits
        show_refusal("start")
        return
    try:
        new_id = manager.continue_run(run.id, int(more), settle=1.0, student=visitor().owner)
    except ConfigError as error:  # it changed since the page was drawn (deleted, started...)
        known = ("in_use", "not_continuable", "broken_checkpoint")
        reason = error.reason if error.reason in known else "too_many"
        st.error(t(f"continue.{reason}", most=int(RANGES["epochs"][1]), left=left))
        return
    st.switch_page("pages/train.py", query_params={"run": new_id})  # it follows the new run


def coach_panel(advice, key: str, on_apply) -> None:
    """The coach's reading of a run (`mnist_app.experiments.coach.read_curves`): the headline, the
    numbers behind it, and a button that calls `on_apply(suggestion)` to set up the next
    experiment."""
    box = st.container(border=True, key=f"{key}_box")
    box.markdown(f":material/insights: **{t('coach.title')}** · {advice.headline}")
    if advice.evidence:
        box.markdown("\n".join(f"- {line}" for line in advice.evidence))
    if advice.suggestion is not None:
        box.caption(t("coach.next"))
        box.button(
            advice.suggestion.label,
            key=f"{key}_apply",
            icon=":material/science:",
            on_click=on_apply,
            args=(advice.suggestion,),
        )


def opened_expander(label: str, key: str, icon: str):
    """A collapsed expander built only while open: it, or None while closed (Streamlit keeps its
    state under `key` and reruns as it opens or closes). Else its script, downloads or charts
    were built at every rerun and drawn, hidden, by every browser (the code alone: ~0.2 s of
    Chromium's CPU to highlight at each Train page load and each slider move)."""
    box = st.expander(label, icon=icon, key=key, on_change="rerun")
    return box if box.open else None


def code_panel(config, key: str, run_id: str | None = None) -> None:
    """The code behind a run (a RunConfig), in an expander built while open: the plain Keras
    script, to read or download as a .py script or an .ipynb notebook, with comments in the
    user's language."""
    label = t("train.run_code" if run_id else "train.code")
    if (box := opened_expander(label, f"{key}_open", ":material/code:")) is not None:
        with box:
            _code(config, key, run_id)


def _code(config, key: str, run_id: str | None) -> None:
    from mnist_app.experiments.codegen import notebook_text, script_for

    name = f"mnist_lab_{run_id}" if run_id else "mnist_lab"
    script = script_for(config, language(), file_name=f"{name}.py")
    st.caption(t("code.panel.caption"))
    st.code(script, language="python")
    row = st.container(horizontal=True)
    row.download_button(
        t("code.panel.download_script"),
        script,
        file_name=f"{name}.py",
        mime="text/x-python",
        key=f"{key}_script",
        icon=":material/download:",
    )
    row.download_button(
        t("code.panel.download_notebook"),
        notebook_text(config, language()),
        file_name=f"{name}.ipynb",
        mime="application/x-ipynb+json",
        key=f"{key}_notebook",
        icon=":material/download:",
    )
