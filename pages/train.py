"""Train: pick a preset or set every hyperparameter, watch the network learn, inspect the result."""

import dataclasses
from urllib.parse import urlencode

import streamlit as st

from mnist_app import charts
from mnist_app.coach import read_curves
from mnist_app.config import (
    ACTIVATIONS,
    ARCHITECTURES,
    OPTIMIZERS,
    PRESET_INFO,
    PRESET_LIST,
    PRESETS,
    RANGES,
    SCALINGS,
    SCHEDULES,
    ConfigError,
    RunConfig,
    model_size,
)
from mnist_app.evaluation import Evaluation, evaluate, images_at
from mnist_app.experiments import format_value
from mnist_app.i18n import format_duration, has_text, translate
from mnist_app.jobs import CONTINUABLE
from mnist_app.live import live_view
from mnist_app.pitfalls import Mistake, explain, find_mistakes, without_mistakes
from mnist_app.plan import PlanSize
from mnist_app.predict import ModelFileError, load_model
from mnist_app.progress import Snapshot
from mnist_app.share import SETUP_KEYS, Refusal, read_setup, setup_query
from mnist_app.status import RunStatus
from mnist_app.store import Run, UnreadableRunError
from mnist_app.text import escape_markdown
from mnist_app.ui import (
    coach_panel,
    code_panel,
    continue_control,
    digit_gallery,
    language,
    live_run,
    log_steps,
    number_text,
    percent_text,
    plotly_chart,
    presenting,
    t,
    training_manager,
)

FIELDS = [f.name for f in dataclasses.fields(RunConfig)]
SAVED = "train_settings"  # widget values outlive a visit to another page only if copied here
SHARED = "train_shared_link"  # the link's settings last applied or written: applied only once
REFUSED = "train_refused"  # what the last link said that could not be used
WHOLE_SET = 0  # batch size / limit stop meaning "all the training images"
LEARNING_RATES = log_steps(*RANGES["learning_rate"], mantissas=tuple(range(1, 10)))
BATCH_SIZES = sorted({2**k for k in range(16)} | {p.config.batch_size for p in PRESET_LIST})
BATCH_SIZES.append(WHOLE_SET)
LIMITS = [*map(int, log_steps(100, RANGES["validation_size"][1])), WHOLE_SET]
VALIDATION_SIZES = [0, *map(int, log_steps(100, RANGES["validation_size"][1]))]
manager = training_manager()


# --- settings ------------------------------------------------------------------------------
def restore_settings() -> None:
    """Give every widget its value: the last one set on this page, else the default."""
    saved = RunConfig().to_dict() | st.session_state.get(SAVED, {})
    for name in FIELDS:
        st.session_state.setdefault(f"train_{name}", saved[name])
    st.session_state.setdefault("train_preset", "")


def open_shared_setup() -> None:
    """A link with settings (?preset=…&learning_rate=…) fills the sliders, once per link; what
    it says that cannot be trained is left at the preset's or default value, and said why."""
    params = {key: st.query_params[key] for key in SETUP_KEYS if key in st.query_params}
    marker = sorted(params.items())
    if not params or st.session_state.get(SHARED) == marker:
        return
    setup = read_setup(params)
    for name, value in setup.config.to_dict().items():
        st.session_state[f"train_{name}"] = value
    st.session_state["train_preset"] = setup.preset or ""
    st.session_state[REFUSED] = setup.refused
    st.session_state[SHARED] = marker


def refusal_text(refusal: Refusal) -> str:
    """Which value of the link was not used, and why, in the user's language."""
    name = t("train.preset") if refusal.field == "preset" else t(f"field.{refusal.field}")
    text = t(f"share.refused.{refusal.reason}", field=name, value=escape_markdown(refusal.text),
             **refusal.values)  # fmt: skip
    return f"{text} {config_error_text(refusal.error)}" if refusal.error else text


def keep_setup_in_url(config: RunConfig, preset: str | None) -> dict[str, str]:
    """The settings as they are now, in the URL (a reload keeps them, a copy shares them)."""
    query = setup_query(config, preset)
    for key in SETUP_KEYS:
        if key in st.query_params and key not in query:
            del st.query_params[key]
    for key, value in query.items():
        if st.query_params.get(key) != value:
            st.query_params[key] = value
    st.session_state[SHARED] = sorted(query.items())
    return query


def share_link(query: dict[str, str]) -> None:
    """'Share these settings': the link, with Streamlit's copy button."""
    page = (st.context.url or "").split("?")[0] or "train"
    with st.popover(t("share.button"), icon=":material/share:"):
        st.caption(t("share.caption"))
        st.code(f"{page}?{urlencode(query)}" if query else page, language=None, wrap_lines=True)


def apply_preset() -> None:
    """Copy the chosen preset into the widgets."""
    slug = st.session_state["train_preset"]
    if slug:
        for name, value in PRESETS[slug].to_dict().items():
            st.session_state[f"train_{name}"] = value


def field(widget, name: str, **options):
    """One settings widget with its translated label, one-sentence help and key."""
    return widget(t(f"field.{name}"), help=t(f"help.{name}"), key=f"train_{name}", **options)


def settings_widgets() -> dict:
    """Draw the settings and return their values by config field."""
    preset_names = {"": t("train.custom")} | {
        p.slug: p.slug + (f" · {percent_text(p.reported_accuracy)}" if p.reported_accuracy else "")
        for p in PRESET_LIST
    }
    st.selectbox(
        t("train.preset"), list(preset_names), format_func=preset_names.get, key="train_preset",
        on_change=apply_preset, help=t("help.preset"),
    )  # fmt: skip
    if slug := st.session_state["train_preset"]:
        st.caption(t(f"preset.{slug}"))
    is_cnn = st.session_state["train_arch"] == "cnn"
    v = {}
    st.subheader(t("train.network"))
    v["arch"] = field(st.selectbox, "arch", options=ARCHITECTURES, format_func=choice("arch"))
    left, right = st.columns(2)
    v["width"] = field(left.slider, "width", **bounds("width"))
    v["depth"] = field(right.slider, "depth", **bounds("depth"))
    v["activation"] = field(left.selectbox, "activation", options=ACTIVATIONS)
    v["dropout"] = field(right.slider, "dropout", step=0.05, **bounds("dropout"))
    v["filters"] = field(left.slider, "filters", disabled=not is_cnn, **bounds("filters"))
    v["conv_blocks"] = field(
        right.slider, "conv_blocks", disabled=not is_cnn, **bounds("conv_blocks")
    )
    v["kernel_size"] = field(
        left.slider, "kernel_size", disabled=not is_cnn, **bounds("kernel_size")
    )
    v["batch_norm"] = field(right.toggle, "batch_norm")
    v["layers"] = field(st.text_input, "layers", placeholder="conv32x3 pool drop0.25 dense128")
    st.subheader(t("train.training"))
    left, right = st.columns(2)
    v["optimizer"] = field(left.selectbox, "optimizer", options=OPTIMIZERS)
    v["learning_rate"] = field(
        right.select_slider,
        "learning_rate",
        options=stops("learning_rate", LEARNING_RATES),
        format_func="{:g}".format,
    )
    v["batch_size"] = field(
        left.select_slider,
        "batch_size",
        options=stops("batch_size", BATCH_SIZES),
        format_func=count_format(whole_set=True),
    )
    v["epochs"] = field(right.slider, "epochs", **bounds("epochs"))
    v["lr_schedule"] = field(
        left.selectbox, "lr_schedule", options=SCHEDULES, format_func=choice("lr_schedule")
    )
    st.subheader(t("train.data"))
    left, right = st.columns(2)
    v["limit"] = field(
        left.select_slider,
        "limit",
        options=stops("limit", LIMITS),
        format_func=count_format(whole_set=True),
    )
    v["validation_size"] = field(
        right.select_slider,
        "validation_size",
        options=stops("validation_size", VALIDATION_SIZES),
        format_func=count_format(),
    )
    v["scaling"] = field(left.selectbox, "scaling", options=SCALINGS, format_func=choice("scaling"))
    v["seed"] = field(right.number_input, "seed", step=1, **bounds("seed"))
    v["augment"] = field(st.toggle, "augment")
    with st.expander(t("train.mistakes"), icon=":material/science:"):
        st.caption(t("train.mistakes_intro"))
        v["unscaled_test"] = field(st.toggle, "unscaled_test")
        v["labels_255"] = field(st.toggle, "labels_255")
    v["dropout"] = round(v["dropout"], 2)
    st.session_state[SAVED] = v
    return v


def stops(name: str, options: list) -> list:
    """A select slider's stops, plus the value a preset, a link or the coach gave it if that is
    not one of them (600 images, a rate of 0.0003); 'whole set' stays last."""
    value = st.session_state.get(f"train_{name}")
    if value in options or not isinstance(value, int | float):
        return options
    ordered = sorted([v for v in options if v != WHOLE_SET] + [value])
    return ordered + ([WHOLE_SET] if WHOLE_SET in options else [])


def bounds(name: str) -> dict:
    """A slider's ends, from config.RANGES: the same bounds the engine and CLI enforce."""
    low, high = RANGES[name]
    return {"min_value": low, "max_value": high}


def choice(group: str):
    """format_func translating the options of one select box (tests call it outside the run)."""
    lang = language()
    return lambda value: translate(f"choice.{group}.{value}", lang)


def count_format(whole_set: bool = False):
    """format_func writing counts the user's way, and 0 as 'whole set' if asked."""
    lang, whole = language(), translate("train.whole_set", language())
    return lambda value: whole if whole_set and value == WHOLE_SET else number_text(value, 0, lang)


def build_config(values: dict) -> RunConfig:
    """The RunConfig for the widget values ('whole set' batch = every training image)."""
    config = RunConfig(**(values | {"batch_size": 1}))
    return config.replace(batch_size=values["batch_size"] or config.train_size)


def config_error_text(error: ConfigError) -> str:
    """A translated explanation of a setting that cannot be trained."""
    values = {  # a plan's words are the user's own text: shown as typed, never as Markdown
        k: number_text(v) if isinstance(v, int) else escape_markdown(v)
        for k, v in error.values.items()
    }
    hint = t(f"invalid.{error.reason}", **values) if error.reason else t("invalid.generic")
    return t("invalid.message", field=t(f"field.{error.field}"), hint=hint)


def show_summary(size: PlanSize) -> None:
    """The model's layers, shapes and parameter counts, worked out without building it."""
    rows = [
        {t("summary.layer"): r.name, t("summary.type"): r.type,
         t("summary.shape"): "×".join(map(str, r.output_shape)),
         t("summary.params"): number_text(r.params)}
        for r in size.layers
    ]  # fmt: skip
    st.dataframe(rows, hide_index=True, width="stretch")
    left, right = st.columns(2)
    left.metric(t("summary.total_params"), number_text(size.total_params))
    right.metric(t("summary.memory"), f"{number_text(size.weight_bytes / 2**20, 1)} MB")


# --- the run -----------------------------------------------------------------------------
def start_run(config: RunConfig, preset: str | None) -> None:
    run_id = manager.submit(config, preset, settle=1.0)  # so the page shows it running
    st.session_state["train_run"] = run_id
    st.session_state.pop("train_live_lr", None)
    st.query_params["run"] = run_id


def watched_run() -> Run | None:
    """The run this tab follows: from the URL (reload) or the session (back from another page)."""
    run_id = st.query_params.get("run") or st.session_state.get("train_run")
    if not run_id:
        return None
    try:
        run = manager.store.get(run_id)
    except UnreadableRunError as error:
        st.error(t("train.unreadable", run=escape_markdown(error.run_id)))
        st.code(error.reason, language=None)
        return None
    if run is not None:
        st.query_params["run"] = st.session_state["train_run"] = run_id
    return run


def live_controls(run_id: str, status: RunStatus) -> None:
    """Pause or Continue, Stop, and a live learning-rate slider while the run trains."""
    job = manager.job(run_id)
    buttons = st.container(horizontal=True)
    stopping = job is None or job.progress.stop_requested
    if job is not None and job.progress.pause_requested:
        buttons.button(t("train.resume"), key="train_resume", on_click=manager.resume,
                       args=(run_id,), disabled=stopping, icon=":material/play_arrow:")  # fmt: skip
    else:
        buttons.button(t("train.pause"), key="train_pause", on_click=manager.pause,
                       args=(run_id,), disabled=stopping or job is None, icon=":material/pause:",
                       help=t("help.pause"))  # fmt: skip
    buttons.button(t("train.stop"), key="train_stop", on_click=manager.stop, args=(run_id,),
                   disabled=stopping, type="primary", icon=":material/stop:")  # fmt: skip
    if job is not None and status in (RunStatus.RUNNING, RunStatus.PAUSED):
        live_learning_rate(job, st)


def live_learning_rate(job, column) -> None:
    """A learning-rate slider that changes the rate of the running optimizer."""
    if "train_live_lr" not in st.session_state:
        current = job.progress.snapshot(batches=False).learning_rate or job.config.learning_rate
        st.session_state["train_live_lr"] = min(LEARNING_RATES, key=lambda v: abs(v - current))
    column.select_slider(
        t("train.live_lr"), options=LEARNING_RATES, format_func="{:g}".format, key="train_live_lr",
        on_change=lambda: job.progress.set_learning_rate(st.session_state["train_live_lr"]),
        help=t("help.live_lr"),
    )  # fmt: skip


def curves(snap: Snapshot) -> None:
    """Loss above accuracy, each the column's full width (as the live view draws them)."""
    lang = language()
    plotly_chart(charts.curves_figure(snap, "loss", lang), key="train_loss_chart")
    plotly_chart(charts.curves_figure(snap, "accuracy", lang), key="train_acc_chart")


# --- the result ------------------------------------------------------------------------------
@st.cache_data(max_entries=16, show_spinner=False)
def test_set_evaluation(path: str, scaling: str) -> Evaluation:
    """Confusion matrix, per-digit accuracy and mistakes of a saved model, computed once."""
    return evaluate(load_model(path), scaling)


def results(run: Run) -> None:
    """Everything a finished (or stopped) run produced, beside the notebook's figure."""
    status = run.status
    box = {RunStatus.FINISHED: st.success, RunStatus.STOPPED: st.info}.get(status, st.error)
    reason_key = f"status.{status}.{run.reason}"
    box(t(reason_key) if run.reason and has_text(reason_key) else t(f"status.{status}"))
    if status == RunStatus.FAILED:
        st.code(run.message, language=None)
    if mistakes := find_mistakes(run):
        mistakes_panel(run, mistakes)
    if run.test_accuracy is not None:
        preset = PRESET_INFO.get(run.preset or "")
        reported = preset.reported_accuracy if preset else None
        cols = [*st.columns(2), *st.columns(2)]
        cols[0].metric(t("result.test_accuracy"), percent_text(run.test_accuracy))
        cols[1].metric(t("result.test_loss"), number_text(run.test_loss, 4))
        cols[2].metric(
            t("result.reported"),
            percent_text(reported) if reported else "–",
            help=t("help.reported", preset=escape_markdown(run.preset or "–")),
        )
        cols[3].metric(t("result.time"), format_duration(run.train_seconds))  # fmt: skip
    snap = manager.snapshot(run.id)
    curves(snap)
    coach(run, snap)
    with st.expander(t("train.run_code"), icon=":material/code:"):
        code_panel(run.config, "train_run_code", run.id)
    if status in CONTINUABLE and run.model_path:
        continue_control(manager, run, key="train_continue")
    if run.model_path:
        try:
            evaluation = test_set_evaluation(run.model_path, run.config.scaling)
        except ModelFileError as error:
            st.error(t(f"draw.model_error.{error.reason}"))
            return
        show_evaluation(evaluation)
        st.page_link("pages/draw.py", label=t("result.draw_link"), icon=":material/draw:",
                     query_params={"model": run.id})  # fmt: skip


def coach(run: Run, snap: Snapshot) -> None:
    """The coach's reading of the curves, and the next experiment as a button."""
    advice = read_curves(run.config, snap.history, snap.batch_loss, snap.status, language())
    if advice is not None:
        coach_panel(advice, "train_coach", lambda suggestion: try_next(run.config, suggestion))


@st.fragment
def live_coach(run_id: str) -> None:
    """While a run trains: the coach reads its curves when asked (no rerun on its own)."""
    run = manager.store.get(run_id)
    if run is not None and st.toggle(t("coach.live"), key="train_live_coach"):
        coach(run, manager.snapshot(run_id))
        st.button(t("coach.again"), key="train_coach_again", icon=":material/refresh:")


def try_next(config: RunConfig, suggestion) -> None:
    """Put the suggested settings in the sliders; a suggested sweep opens the sweep form."""
    changed = config.replace(**suggestion.changes)
    for name, value in changed.to_dict().items():
        st.session_state[f"train_{name}"] = value
    st.session_state["train_preset"] = ""
    st.session_state[SAVED] = changed.to_dict()  # the sweep form's base
    if suggestion.vary is not None:
        vary = suggestion.vary
        st.session_state["sweep_field"] = vary.field
        st.session_state[f"sweep_values_{vary.field}"] = [format_value(v) for v in vary.values]
        st.session_state["train_open_sweep"] = True  # a callback cannot switch pages


def mistakes_panel(run: Run, mistakes: list[Mistake]) -> None:
    """What went wrong, in plain words with the numbers that show it, and 'fix it'."""
    with st.container(border=True):
        st.subheader(t("mistake.title"))
        for mistake in mistakes:
            st.markdown(explain(mistake, language()))
        st.button(t("mistake.fix"), key="train_fix", on_click=fix_mistakes, args=(run, mistakes),
                  type="primary", icon=":material/build:", help=t("mistake.fix_help"))  # fmt: skip


def fix_mistakes(run: Run, mistakes: list[Mistake]) -> None:
    """Undo the mistakes: the fixed settings go into the sliders, and the fixed run starts."""
    fixed = without_mistakes(run.config, mistakes)
    preset = next((slug for slug, config in PRESETS.items() if config == fixed), None)
    for name, value in fixed.to_dict().items():
        st.session_state[f"train_{name}"] = value
    st.session_state["train_preset"] = preset or ""
    start_run(fixed, preset)


def show_evaluation(evaluation: Evaluation) -> None:
    lang = language()  # the confusion matrix gets the column's full width: readable on a projector
    plotly_chart(charts.confusion_figure(evaluation.confusion, lang), key="train_confusion")
    plotly_chart(
        charts.per_class_figure(evaluation.per_class_accuracy, lang), key="train_per_class"
    )
    st.subheader(t("result.mistakes", count=number_text(len(evaluation.mistakes))))
    shown = evaluation.mistakes[:40]
    images, labels = images_at(shown)
    captions = [
        t("result.mistake", true=int(y), predicted=int(evaluation.predicted[i]),
          confidence=percent_text(evaluation.confidence[i], 0))
        for i, y in zip(shown, labels, strict=True)
    ]  # fmt: skip
    digit_gallery(images, captions)


def setup_panel(values: dict, active: bool, has_run: bool) -> None:
    """Beside the settings: what they build, their code, Start, Sweep and the share link."""
    config = None
    try:
        config = build_config(values)
    except ConfigError as problem:
        st.error(config_error_text(problem))
    if config is not None:
        with st.expander(t("summary.title"), expanded=not has_run):
            show_summary(model_size(config))
        with st.expander(t("train.code"), icon=":material/code:"):
            code_panel(config, "train_code")
    preset = st.session_state["train_preset"] or None
    query = keep_setup_in_url(config, preset) if config is not None else None
    if preset and config != PRESETS[preset]:
        st.caption(t("train.modified", preset=preset))
        preset = None
    actions = st.container(horizontal=True, vertical_alignment="center")
    actions.button(t("train.start"), key="train_start", type="primary", on_click=start_run,
                   args=(config, preset), disabled=config is None or active)  # fmt: skip
    # The Sweeps page starts from these settings (saved in the session by settings_widgets).
    actions.page_link(
        "pages/sweeps.py",
        label=t("train.sweep"),
        icon=":material/tune:",
        query_params={"new": "1"} | ({"preset": preset} if preset else {}),
        help=t("help.sweep"),
        disabled=config is None,
    )
    if query is not None:
        with actions:
            share_link(query)


# --- the page ------------------------------------------------------------------------------
if st.session_state.pop("train_open_sweep", False):
    st.switch_page("pages/sweeps.py", query_params={"new": "1"})
st.title(t("nav.train"))
st.write(t("train.intro"))
open_shared_setup()
restore_settings()
run = watched_run()
active = run is not None and manager.is_active(run.id)
if presenting():  # projector mode: the run alone, across the whole width
    values, outcome = RunConfig().to_dict() | st.session_state.get(SAVED, {}), st.container()
else:
    settings, outcome = st.columns([2, 3], gap="large")
    with settings:
        for refusal in st.session_state.pop(REFUSED, ()):
            st.warning(refusal_text(refusal), icon=":material/link_off:")
        values = settings_widgets()
with outcome:
    if not presenting():
        setup_panel(values, active, run is not None)
    if run is not None:
        st.divider()
        if active:
            view = live_view(manager, run.id, language())
            if view["status"] == RunStatus.QUEUED:
                st.info(view["text"])
            live_controls(run.id, RunStatus(view["status"]))
            live_run(view, key="train_live")
            live_coach(run.id)
        else:
            results(run)
    elif presenting():
        st.info(t("train.present_no_run"))
