"""The weights of a run over its training, with a slider over the epochs (for the Runs and
Train pages)."""

from __future__ import annotations

import streamlit as st

from mnist_app.figures.weights import (
    at_epoch,
    epoch_label,
    gradients_figure,
    histograms_figure,
    nonfinite_weights,
)
from mnist_app.runs.store import Run, RunStore
from mnist_app.runs.weights import recorded_weights
from mnist_app.ui import language, number_text, opened_expander, plotly_chart, presenting, t


def weights_panel(store: RunStore, run: Run, key: str) -> None:
    """An expander (built while open) with each layer's weight histogram at the epoch a slider
    picks, and every layer's gradient norm over the epochs; a clear note for a run recorded
    without them."""
    box = opened_expander(t("weights.title"), f"{key}_open", ":material/bar_chart:")
    if box is None:
        return
    with box:
        history = recorded_weights(store, run.id, run.parent)
        if not history:
            st.info(t("weights.none"))
            return
        lang, epochs = language(), [record.epoch for record in history]
        if len(epochs) > 1:
            epoch = st.select_slider(
                t("weights.epoch"),
                options=epochs,
                value=epochs[-1],
                key=f"{key}_epoch",
                format_func=lambda e: epoch_label(e, lang),
            )
        else:
            epoch = epochs[0]
            st.caption(t("weights.only_start"))
        st.caption(t("weights.explain"))
        if broken := nonfinite_weights(at_epoch(history, epoch)):
            st.warning(t("weights.nonfinite", count=number_text(broken)))
        large = presenting()
        plotly_chart(histograms_figure(history, epoch, lang, large), key=f"{key}_histograms")
        plotly_chart(gradients_figure(history, epoch, lang, large), key=f"{key}_gradients")
