"""Draw: draw a digit (or upload a photo of one) and see what a trained network reads."""

import functools

import numpy as np
import streamlit as st

from mnist_app.drawing.classset import MAX_NAME, ClassSet, ClassSetError
from mnist_app.drawing.predict import (
    DEFAULT_KEY,
    SURE_FROM,
    ModelChoice,
    ModelFileError,
    ModelKind,
    Reading,
    choice_model,
    read_digit,
    read_test_image,
)
from mnist_app.drawing.uploads import MAX_UPLOAD_BYTES, CanvasDrawing, ImageError, read_upload
from mnist_app.engine.data import TEST_IMAGES
from mnist_app.figures.reading import probabilities_figure, seen_image_url
from mnist_app.runs.owners import AccessError
from mnist_app.runs.store import StoreError
from mnist_app.text import escape_markdown
from mnist_app.ui import (
    language,
    page_intro,
    percent_text,
    plotly_chart,
    presenting,
    t,
    training_manager,
)
from mnist_app.ui.access import access_text, seen_model_choices, visitor
from mnist_app.ui.canvas import drawing_canvas, read_in_turn, send_strokes_at_once
from mnist_app.ui.inside import inside_panel

CANVAS_SIDE = 280
PROJECTOR_SIDE = 440  # projector mode: a canvas the teacher can draw on in front of the room
LIVE_SECONDS = 2  # how often a network still training reads the drawing again
OFFERED_MODELS = "draw_offered_models"  # the model picker's keys as last drawn
manager = training_manager()


def choice_label(choice: ModelChoice) -> str:
    accuracy = percent_text(choice.accuracy) if choice.accuracy is not None else "–"
    name = choice.preset or "custom"
    if choice.kind is ModelKind.DEFAULT:
        return t("draw.model_default", accuracy=accuracy)
    return t(f"draw.model_{choice.kind.value}", run=choice.key, name=name, accuracy=accuracy)


def remember_model() -> None:
    """The picked model in the address, to share or reload: only a model the picker offers. The
    browser sends a picker's label, and Streamlit takes a label it does not offer as the value
    itself: a tab drawn before the server restarted (with a new shipped model, say) sends one."""
    key = st.session_state["draw_model"]
    if key in st.session_state.get(OFFERED_MODELS, ()):
        st.query_params["model"] = key


def pick_model() -> ModelChoice | None:
    """The model picker; ?model=<run id> in the URL preselects a run."""
    choices = {choice.key: choice for choice in seen_model_choices(manager)}
    if not choices:
        st.warning(t("draw.no_models"))
        return None
    wanted = st.query_params.get("model")
    if wanted in choices:
        st.session_state["draw_model"] = wanted
    elif st.session_state.get("draw_model") not in choices:
        st.session_state["draw_model"] = next(iter(choices))
    if wanted and wanted not in choices and wanted != DEFAULT_KEY:
        st.info(t("draw.model_missing", run=escape_markdown(wanted)))  # the URL is anyone's
    labels = {key: choice_label(choice) for key, choice in choices.items()}
    st.session_state[OFFERED_MODELS] = list(choices)
    key = st.selectbox(
        t("draw.model"),
        list(choices),
        format_func=labels.get,
        key="draw_model",
        on_change=remember_model,
    )
    if choices[key].kind is ModelKind.TRAINING:
        st.caption(t("draw.live_note"))
    return choices[key]


def show_reading(reading: Reading, key: str, model, scaling: str, live: bool = False) -> None:
    """The digit read, how sure, what the network saw and every digit's probability; then,
    on request, the inside view."""
    reading_elements(reading, key)
    inside_panel(model, reading.image, reading.probabilities, scaling, key, live)


def reading_elements(reading: Reading, key: str) -> None:
    if not reading.looks_like_digit:  # the network still picks a digit, often "sure" of it
        st.warning(t("draw.not_a_digit"))
    left, right = st.columns([1, 2])
    with left, st.container(key=f"{key}_reading"):
        st.metric(t("draw.reads"), str(reading.digit))
        st.markdown(t("draw.confidence", percent=percent_text(reading.confidence, 1)))
        if reading.looks_like_digit and not reading.sure:
            st.warning(t("draw.unsure", percent=percent_text(SURE_FROM, 0)))
        zoom = 9 if presenting() else 5  # each pixel drawn as a zoom × zoom square
        seen = seen_image_url(reading.image)
        st.image(seen, caption=t("draw.sees"), alt=t("alt.seen"), width=28 * zoom)
    figure = probabilities_figure(reading.probabilities, language(), presenting())
    with right:
        plotly_chart(figure, key=f"{key}_chart")


def drawing_tab(model, scaling: str, live: bool) -> None:
    """The stroke width, the canvas with its reading, and the class-set form. Only the canvas
    and the reading are a fragment: a stroke reruns them alone, and what does not change with a
    stroke is not sent again (bench/stroke_cpu.py)."""
    left, _ = st.columns(drawing_columns())
    stroke = left.slider(t("draw.stroke"), 4, 50, 20, key="draw_stroke", help=t("help.draw_stroke"))
    left.caption(t("draw.canvas_hint"))
    canvas_and_reading(model, scaling, live, stroke)
    if not presenting():
        class_set_form()
    send_strokes_at_once(key="draw_canvas_send_strokes")


def drawing_columns() -> list[int]:
    return [1, 1] if presenting() else [1, 2]


@st.fragment
def canvas_and_reading(model, scaling: str, live: bool, stroke: int) -> None:
    """The canvas and its reading: a stroke reruns only this fragment, not the model picker and
    the other tabs (a full rerun took ~380 ms from stroke to reading). A new stroke width is a
    full rerun, which calls it again with that width."""
    side = PROJECTOR_SIDE if presenting() else CANVAS_SIDE
    left, right = st.columns(drawing_columns())
    with left:
        canvas = drawing_canvas(stroke, side, key="draw_canvas")
    drawing = canvas.png if canvas is not None else None  # None: nothing sent yet, or refused
    st.session_state["classset_drawing"] = drawing  # what the class-set form would add
    with right:
        if live:
            live_drawing_reading(model, canvas, scaling)
        else:
            drawing_reading(model, canvas, scaling)
        kind, text, about = st.session_state.get("classset_message", (None, "", None))
        if kind is not None and about == drawing:  # said of this drawing: kept over any rerun
            (st.success if kind == "success" else st.error)(text)


def drawing_reading(model, canvas: CanvasDrawing | None, scaling: str, live: bool = False) -> None:
    """The reading of the drawing, in this server's turn for readings (ui/canvas.py); then the
    inside view's switch, out of turn."""
    show = functools.partial(reading_elements, key="draw")
    reading = None if canvas is None else read_in_turn(model, canvas, scaling, show)
    if reading is None:
        st.info(t("draw.prompt"))
    else:
        inside_panel(model, reading.image, reading.probabilities, scaling, "draw", live)


@st.fragment(run_every=LIVE_SECONDS)
def live_drawing_reading(model, canvas: CanvasDrawing | None, scaling: str) -> None:
    """The same, read again every few seconds by the network still training."""
    drawing_reading(model, canvas, scaling, live=True)


def class_set_form() -> None:
    """Under the drawing: keep it in the class set, with the digit its author meant (what the
    class set says of it shows under the reading).

    A form: the digit, the name and the click reach the server as one rerun. Typed and clicked
    one by one, the name's own rerun (on leaving the box) ran just before the click's.
    """
    st.header(t("classroom.add.title"))
    with st.form("classset_form", border=False, enter_to_submit=False):
        st.segmented_control(t("classroom.add.digit"), list(range(10)), key="classset_digit")
        st.text_input(t("classroom.add.name"), max_chars=MAX_NAME, key="classset_name")
        st.form_submit_button(
            t("classroom.add.button"),
            key="classset_add",
            icon=":material/add:",
            on_click=add_to_class_set,
        )


def add_to_class_set() -> None:
    """The button's action, on the drawing the canvas sent last; the digit choice is cleared
    after adding, so the next drawing cannot inherit it by mistake. Refused drawings keep it,
    to try again."""
    digit = st.session_state.get("classset_digit")
    drawing = st.session_state.get("classset_drawing")
    try:
        if digit is None:
            raise ClassSetError("choose")
        if drawing is None:  # the canvas has not sent anything yet
            raise ClassSetError("empty")
        class_set = ClassSet(manager.store.directory)
        class_set.add_drawing(
            digit,
            drawing,
            st.session_state.get("classset_name", ""),
            visitor(),
            manager.store.class_rules(),
        )
    except ClassSetError as error:
        message = ("error", t(f"classroom.add.error.{error.reason}"))
    except AccessError as error:  # over the class's limits on drawings
        message = ("error", access_text(error))
    except StoreError:
        message = ("error", t("classroom.store_error"))
    else:
        message = ("success", t("classroom.add.done", digit=digit, total=sum(class_set.counts())))
        st.session_state["classset_digit"] = None
    st.session_state["classset_message"] = (*message, drawing)


def upload_tab(model, scaling: str) -> None:
    upload = st.file_uploader(t("draw.upload"), type=["png", "jpg", "jpeg"], key="draw_upload")
    if upload is None:
        st.info(t("draw.upload_prompt"))
        return
    try:
        image = read_upload(upload.getvalue())
    except ImageError as error:
        st.error(t(f"draw.error.{error.reason}", limit=MAX_UPLOAD_BYTES // 2**20))
        return
    reading = read_digit(model, image, scaling)
    if reading is None:
        st.warning(t("draw.upload_blank"))
    else:
        show_reading(reading, "upload", model, scaling)


def test_image_tab(model, scaling: str, live: bool) -> None:
    """Any of MNIST's 10,000 test images, by number or at random, read the same way."""
    if "draw_test_index" not in st.session_state:
        st.session_state["draw_test_index"] = 0
    left, right = st.columns([2, 1], vertical_alignment="bottom")
    left.number_input(
        t("draw.test_index", last=TEST_IMAGES - 1), 0, TEST_IMAGES - 1, key="draw_test_index"
    )
    right.button(
        t("draw.test_random"),
        key="draw_test_random",
        icon=":material/casino:",
        on_click=random_test_image,
    )
    reading, label = read_test_image(model, st.session_state["draw_test_index"], scaling)
    st.markdown(t("draw.test_label", label=label))
    show_reading(reading, "test", model, scaling, live)


def random_test_image() -> None:
    st.session_state["draw_test_index"] = int(np.random.default_rng().integers(TEST_IMAGES))


st.title(t("nav.draw"))
page_intro(t("draw.intro"))
choice = pick_model()
if choice is not None:
    try:
        model = choice_model(choice, manager)
    except ModelFileError as error:  # the picker above still offers the other models
        st.error(t(f"draw.model_error.{error.reason}"))
        st.stop()
    drawing, uploading, testing = st.tabs(
        [t("draw.tab_draw"), t("draw.tab_upload"), t("draw.tab_test")],
        key="draw_tab",
        on_change="rerun",  # the test images are read only while their tab is open
    )
    with drawing:
        drawing_tab(model, choice.scaling, live=choice.kind is ModelKind.TRAINING)
    with uploading:
        upload_tab(model, choice.scaling)
    if testing.open:  # the canvas and the upload stay in place in the other tabs
        with testing:
            test_image_tab(model, choice.scaling, live=choice.kind is ModelKind.TRAINING)
