"""Data: what MNIST holds before any network sees it: the splits, the digits, the pixels, the
input scalings and the augmentation."""

import numpy as np
import streamlit as st

from mnist_app.engine.config import RANGES, SCALINGS, TRAIN_IMAGES, RunConfig
from mnist_app.engine.data import load_mnist
from mnist_app.figures import dataset as dataset_figures
from mnist_app.inspect import dataset
from mnist_app.ui import language, number_text, percent_text, plotly_chart, presenting, t

PER_DIGIT = 12  # samples of each digit in the grid
VARIANTS = 8  # augmented copies of the chosen digit
DEFAULTS = RunConfig()


def show(figure, key: str) -> None:
    plotly_chart(figure, key, enlarge=dataset_figures.for_projector)


def reshuffle(seed_key: str) -> None:
    st.session_state[seed_key] += 1


def pick_random_digit() -> None:
    st.session_state["data_digit"] = int(np.random.default_rng().integers(TRAIN_IMAGES))


def splits(lang: str) -> None:
    st.header(t("data.split"))
    st.write(
        t(
            "data.split.intro",
            train=number_text(TRAIN_IMAGES),
            test=number_text(len(load_mnist()[2])),
        )
    )
    low, high = (int(v) for v in RANGES["validation_size"])
    validation = st.slider(
        t("field.validation_size"),
        low,
        high,
        DEFAULTS.validation_size,
        step=1_000,
        key="data_validation",
        help=t("data.split.slider_help", default=number_text(DEFAULTS.validation_size)),
    )
    cut = dataset.validation_cut(validation)
    show(dataset_figures.split_figure(validation, lang), key="data_split")
    test = number_text(len(load_mnist()[2]))
    if validation:
        st.caption(
            t(
                "data.split.caption",
                train=number_text(cut),
                last_train=number_text(cut - 1),
                validation=number_text(validation),
                cut=number_text(cut),
                end=number_text(TRAIN_IMAGES - 1),
                test=test,
            )
        )
    else:
        st.caption(t("data.split.caption_none", train=number_text(cut), test=test))
    counts = dataset.class_counts(validation)
    st.header(t("data.counts"))
    show(dataset_figures.counts_figure(counts, lang), key="data_counts")
    train = counts["train"]
    st.caption(
        t(
            "data.counts.caption",
            most=int(train.argmax()),
            most_n=number_text(train.max()),
            least=int(train.argmin()),
            least_n=number_text(train.min()),
        )
    )


def samples() -> None:
    st.header(t("data.samples"))
    st.session_state.setdefault("data_samples_seed", 0)
    st.button(
        t("data.samples.reshuffle"),
        key="data_reshuffle",
        icon=":material/shuffle:",
        on_click=reshuffle,
        args=("data_samples_seed",),
    )
    indices = dataset.sample_indices(st.session_state["data_samples_seed"], PER_DIGIT)
    grid = dataset.tile(load_mnist()[0][indices], zoom=3 if presenting() else 2)
    caption = t("data.samples.caption", n=PER_DIGIT)
    st.image(grid, caption=caption, alt=caption, output_format="PNG")


def one_digit(lang: str) -> int:
    """The chosen training image as its matrix of grey levels; returns its index."""
    st.header(t("data.matrix"))
    st.write(t("data.matrix.intro"))
    st.session_state.setdefault("data_digit", 0)
    row = st.container(horizontal=True, vertical_alignment="bottom")
    index = row.number_input(
        t("data.matrix.index"),
        0,
        TRAIN_IMAGES - 1,
        step=1,
        key="data_digit",
        width=240,
        help=t("data.matrix.index_help", last=number_text(TRAIN_IMAGES - 1)),
    )
    row.button(
        t("data.matrix.random"),
        key="data_random_digit",
        icon=":material/casino:",
        on_click=pick_random_digit,
    )
    image, label = load_mnist()[0][index], int(load_mnist()[1][index])
    st.markdown(
        t(
            "data.matrix.caption",
            index=number_text(index),
            digit=label,
            ink=number_text(int((image > 0).sum())),
            top=int(image.max()),
        )
    )
    show(dataset_figures.matrix_figure(image, lang), key="data_matrix")
    return int(index)


def pixels(lang: str) -> None:
    st.header(t("data.means"))
    show(dataset_figures.means_figure(dataset.mean_images(), lang), key="data_means")
    st.caption(t("data.means.caption"))
    st.header(t("data.pixels"))
    counts = dataset.pixel_counts()
    show(dataset_figures.histogram_figure(("none",), lang), key="data_histogram")
    st.caption(
        t(
            "data.pixels.caption",
            total=number_text(counts.sum()),
            zero=percent_text(counts[0] / counts.sum(), 1),
            full=percent_text(counts[255] / counts.sum(), 1),
        )
    )


def value_text(value: float) -> str:
    """Up to four decimals, none that are only trailing zeros: 0,5 · 0,1307 · 255."""
    if float(value).is_integer():
        return number_text(value)
    return number_text(value, 4).rstrip("0").rstrip(",.")


def scalings(lang: str) -> None:
    st.header(t("data.scaling"))
    st.write(t("data.scaling.intro", default=t(f"choice.scaling.{DEFAULTS.scaling}")))
    rows = []
    for scaling in SCALINGS:
        row = {t("field.scaling"): t(f"choice.scaling.{scaling}")}
        for name, value in dataset.scaled_levels(scaling).summary().items():
            row[t(f"data.scaling.{name}")] = value_text(value)
        rows.append(row)
    st.table(rows, hide_index=True, width="content")
    scaled = tuple(scaling for scaling in SCALINGS if scaling != "none")  # "none": the one above
    show(dataset_figures.histogram_figure(scaled, lang), key="data_scaled_histograms")
    st.caption(t("data.scaling.caption"))


def augmentation(index: int) -> None:
    st.header(t("data.augment"))
    ranges = dataset.augmentation_ranges()
    st.write(
        t(
            "data.augment.intro",
            degrees=number_text(ranges["degrees"]),
            zoom=percent_text(ranges["zoom"], 0),
            pixels=number_text(ranges["pixels"], 1),
        )
    )
    st.session_state.setdefault("data_augment_seed", DEFAULTS.seed)
    st.button(
        t("data.augment.reshuffle"),
        key="data_augment_again",
        icon=":material/shuffle:",
        on_click=reshuffle,
        args=("data_augment_seed",),
    )
    variants = dataset.augmented(index, st.session_state["data_augment_seed"], VARIANTS)
    row = np.stack([load_mnist()[0][index], *variants])[None]
    picture = dataset.tile(row, gap=6, zoom=4 if presenting() else 3)
    caption = t("data.augment.pictures", n=VARIANTS)
    st.image(picture, caption=caption, alt=caption, output_format="PNG")
    st.caption(t("data.augment.caption"))


# --- the page ------------------------------------------------------------------------------
st.title(t("nav.data"))
st.write(t("data.intro"))
lang = language()
splits(lang)
samples()
chosen = one_digit(lang)
pixels(lang)
scalings(lang)
augmentation(chosen)
