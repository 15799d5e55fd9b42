"""The Train page's settings form: every RunConfig field as a widget, its values kept across
pages, filled from a preset or a shared link, and what the settings build."""

import dataclasses
from urllib.parse import urlencode

import streamlit as st

from mnist_app.engine.config import (
    ACTIVATIONS,
    ARCHITECTURES,
    OPTIMIZERS,
    PRECISIONS,
    RANGES,
    SCALINGS,
    SCHEDULES,
    ConfigError,
    RunConfig,
)
from mnist_app.engine.plan import PlanSize
from mnist_app.engine.precision import native_bf16
from mnist_app.engine.presets import PRESET_LIST, PRESETS
from mnist_app.experiments.share import SETUP_KEYS, Refusal, read_setup, setup_query
from mnist_app.i18n import decimal_mark, translate
from mnist_app.text import escape_markdown
from mnist_app.ui import language, log_steps, number_text, percent_text, t
from mnist_app.ui.keys import TRAIN_PRESET, TRAIN_SETTINGS, keep, train_field

FIELDS = [f.name for f in dataclasses.fields(RunConfig)]
FROM_RUN = "train_from_run"  # the run whose settings the form was given last
SHARED = "train_shared_link"  # the link's settings last applied or written: applied only once
REFUSED = "train_refused"  # what the last link said that could not be used, and what it set
WHOLE_SET = 0  # batch size / limit stop meaning "all the training images"
LEARNING_RATES = log_steps(*RANGES["learning_rate"], mantissas=tuple(range(1, 10)))
BATCH_SIZES = sorted({2**k for k in range(16)} | {p.config.batch_size for p in PRESET_LIST})
BATCH_SIZES.append(WHOLE_SET)
LIMITS = [*map(int, log_steps(100, RANGES["validation_size"][1])), WHOLE_SET]
VALIDATION_SIZES = [0, *map(int, log_steps(100, RANGES["validation_size"][1]))]
DROPOUTS = [round(step * 0.05, 2) for step in range(round(RANGES["dropout"][1] / 0.05) + 1)]


# --- settings ------------------------------------------------------------------------------
def restore_settings() -> None:
    """Give every widget its value: the last one set on this page, else the default (sent
    on every run: `keep`)."""
    saved = RunConfig().to_dict() | st.session_state.get(TRAIN_SETTINGS, {})
    for name in FIELDS:
        keep(train_field(name), saved[name])
    keep(TRAIN_PRESET, "")


def take_run_settings(run_id: str, config: RunConfig, preset: str | None) -> None:
    """An opened run (by its link, from the Runs page, after Start) puts its own settings in
    the form, once, as the starting point for the next run; the sliders never sit beside curves
    they did not make. A link that carries settings of its own (a shared setup, or the reload of
    a page whose sliders were moved since) keeps those."""
    if st.session_state.get(FROM_RUN) == run_id:
        return
    st.session_state[FROM_RUN] = run_id
    if not any(key in st.query_params for key in SETUP_KEYS):
        fill_form(config, preset)


def fill_form(config: RunConfig, preset: str | None = None) -> None:
    """Put a config's settings in the form's widgets, and in the copy other pages and
    projector mode read; `preset` names it in the preset box if it is one."""
    settings = config.to_dict()
    for name, value in settings.items():
        st.session_state[train_field(name)] = value
    st.session_state[TRAIN_PRESET] = preset if preset in PRESETS else ""
    st.session_state[TRAIN_SETTINGS] = settings


def latest_settings() -> dict | None:
    """The settings as last set on this form, for another page (the Sweeps page's base): on
    that page's first run the form's widgets are still in the session, and newer than the copy
    saved at the end of the form's run, which a quick click away can cut short. None if the
    form was never shown."""
    live = {
        name: st.session_state[train_field(name)]
        for name in FIELDS
        if train_field(name) in st.session_state
    }
    if live:
        st.session_state[TRAIN_SETTINGS] = st.session_state.get(TRAIN_SETTINGS, {}) | live
    return st.session_state.get(TRAIN_SETTINGS)


def open_shared_setup() -> None:
    """A link with settings (?preset=…&learning_rate=…) fills the sliders, once per link; what
    it says that cannot be trained is left at the preset's or default value, and said why."""
    params = {key: st.query_params[key] for key in SETUP_KEYS if key in st.query_params}
    marker = sorted(params.items())
    if not params or st.session_state.get(SHARED) == marker:
        return
    setup = read_setup(params)
    applied = {train_field(name): value for name, value in setup.config.to_dict().items()}
    applied[TRAIN_PRESET] = setup.preset or ""
    st.session_state.update(applied)
    st.session_state[REFUSED] = (setup.refused, applied)
    st.session_state[SHARED] = marker


def link_refusals() -> tuple[Refusal, ...]:
    """What the last link said that could not be used: shown on every rerun (the student-id
    component's, a live chart's) until the student changes a setting the link set."""
    refused, applied = st.session_state.get(REFUSED) or ((), {})
    if any(st.session_state.get(key) != value for key, value in applied.items()):
        del st.session_state[REFUSED]
        return ()
    return refused


def refusal_text(refusal: Refusal) -> str:
    """Which value of the link was not used, and why, in the user's language."""
    name = t("train.preset") if refusal.field == "preset" else t(f"field.{refusal.field}")
    text = t(
        f"share.refused.{refusal.reason}",
        field=name,
        value=escape_markdown(refusal.text),
        **refusal.values,
    )
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
    if slug := st.session_state[TRAIN_PRESET]:
        fill_form(PRESETS[slug], slug)


def field(widget, name: str, **options):
    """One settings widget with its translated label, one-sentence help and key."""
    return widget(t(f"field.{name}"), help=t(f"help.{name}"), key=train_field(name), **options)


def preset_box() -> None:
    """The preset choice (its reported accuracy beside each), and what the chosen one is."""
    preset_names = {"": t("train.custom")} | {
        p.slug: p.slug + (f" · {percent_text(p.reported_accuracy)}" if p.reported_accuracy else "")
        for p in PRESET_LIST
    }
    st.selectbox(
        t("train.preset"),
        list(preset_names),
        format_func=preset_names.get,
        key=TRAIN_PRESET,
        on_change=apply_preset,
        help=t("help.preset"),
    )
    if slug := st.session_state[TRAIN_PRESET]:
        st.caption(t(f"preset.{slug}"))


def demo_widgets() -> dict:
    """Projector mode's settings: the preset and the six that a hyperparameter demo moves in
    front of the class (width, depth, activation, batch size, learning rate, epochs), drawn
    large by the projector style; every other setting keeps the value it had. Returns every
    setting's value, as settings_widgets does."""
    preset_box()
    v = {name: st.session_state[train_field(name)] for name in FIELDS}
    v["width"] = field(st.slider, "width", **bounds("width"))
    v["depth"] = field(st.slider, "depth", **bounds("depth"))
    v["activation"] = field(st.selectbox, "activation", options=ACTIVATIONS)
    v["batch_size"] = batch_size_slider(st)
    v["learning_rate"] = learning_rate_slider(st)
    v["epochs"] = field(st.slider, "epochs", **bounds("epochs"))
    st.session_state[TRAIN_SETTINGS] = v
    return v


def batch_size_slider(where):
    return field(
        where.select_slider,
        "batch_size",
        options=stops("batch_size", BATCH_SIZES),
        format_func=count_format(whole_set=True),
    )


def learning_rate_slider(where):
    return field(
        where.select_slider,
        "learning_rate",
        options=stops("learning_rate", LEARNING_RATES),
        format_func=decimal_format(),
    )


def settings_widgets() -> dict:
    """Draw the settings and return their values by config field."""
    preset_box()
    is_cnn = st.session_state[train_field("arch")] == "cnn"
    v = {}
    st.header(t("train.network"))
    v["arch"] = field(st.selectbox, "arch", options=ARCHITECTURES, format_func=choice("arch"))
    left, right = st.columns(2)
    v["width"] = field(left.slider, "width", **bounds("width"))
    v["depth"] = field(right.slider, "depth", **bounds("depth"))
    v["activation"] = field(left.selectbox, "activation", options=ACTIVATIONS)
    v["dropout"] = field(
        right.select_slider,
        "dropout",
        options=stops("dropout", DROPOUTS),
        format_func=decimal_format(),
    )
    v["filters"] = field(left.slider, "filters", disabled=not is_cnn, **bounds("filters"))
    v["conv_blocks"] = field(
        right.slider, "conv_blocks", disabled=not is_cnn, **bounds("conv_blocks")
    )
    v["kernel_size"] = field(
        left.slider, "kernel_size", disabled=not is_cnn, **bounds("kernel_size")
    )
    v["batch_norm"] = field(right.toggle, "batch_norm")
    v["layers"] = field(st.text_input, "layers", placeholder="conv32x3 pool drop0.25 dense128")
    st.header(t("train.training"))
    left, right = st.columns(2)
    v["optimizer"] = field(left.selectbox, "optimizer", options=OPTIMIZERS)
    v["learning_rate"] = learning_rate_slider(right)
    v["batch_size"] = batch_size_slider(left)
    v["epochs"] = field(right.slider, "epochs", **bounds("epochs"))
    v["lr_schedule"] = field(
        left.selectbox, "lr_schedule", options=SCHEDULES, format_func=choice("lr_schedule")
    )
    v["precision"] = field(
        right.selectbox, "precision", options=PRECISIONS, format_func=precision_choice()
    )
    st.header(t("train.data"))
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
    left, right = st.columns(2)
    v["augment"] = field(left.toggle, "augment")
    v["forms"] = field(right.toggle, "forms")
    v["class_digits"] = field(st.slider, "class_digits", **bounds("class_digits"))
    with st.expander(t("train.mistakes"), icon=":material/science:"):
        st.caption(t("train.mistakes_intro"))
        v["unscaled_test"] = field(st.toggle, "unscaled_test")
        v["labels_255"] = field(st.toggle, "labels_255")
    v["dropout"] = round(v["dropout"], 2)
    st.session_state[TRAIN_SETTINGS] = v
    return v


def stops(name: str, options: list) -> list:
    """A select slider's stops, plus the value a preset, a link or the coach gave it if that is
    not one of them (600 images, a rate of 0.0003); 'whole set' stays last."""
    value = st.session_state.get(train_field(name))
    if value in options or not isinstance(value, int | float):
        return options
    ordered = sorted([v for v in options if v != WHOLE_SET] + [value])
    return ordered + ([WHOLE_SET] if WHOLE_SET in options else [])


def bounds(name: str) -> dict:
    """A slider's ends, from config.RANGES: the same bounds the engine and CLI enforce."""
    low, high = RANGES[name]
    return {"min_value": low, "max_value": high}


def precision_choice():
    """format_func of the precision box: `auto` says what it means on this computer."""
    lang, native = language(), native_bf16()
    where = translate(f"choice.precision.auto_{'bf16' if native else 'f32'}", lang)
    return lambda value: translate(f"choice.precision.{value}", lang, where=where)


def choice(group: str):
    """format_func translating the options of one select box (tests call it outside the run)."""
    lang = language()
    return lambda value: translate(f"choice.{group}.{value}", lang)


def count_format(whole_set: bool = False):
    """format_func writing counts the user's way, and 0 as 'whole set' if asked."""
    lang, whole = language(), translate("train.whole_set", language())
    return lambda value: whole if whole_set and value == WHOLE_SET else number_text(value, 0, lang)


def decimal_format():
    """format_func writing a rate or a dropout with the user's decimal mark: 0,001 in Spanish."""
    lang = language()
    return lambda value: decimal_mark(f"{value:g}", lang)


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
        {
            t("summary.layer"): r.name,
            t("summary.type"): r.type,
            t("summary.shape"): "×".join(map(str, r.output_shape)),
            t("summary.params"): number_text(r.params),
        }
        for r in size.layers
    ]
    st.dataframe(rows, hide_index=True, width="stretch")
    left, right = st.columns(2)
    left.metric(t("summary.total_params"), number_text(size.total_params))
    right.metric(t("summary.memory"), f"{number_text(size.weight_bytes / 2**20, 1)} MB")
