"""The session-state keys more than one module uses, named once, with who may write each; and
the typed hand-offs a page leaves for another.

A page writes only its own keys. To set up another page it navigates there with query
parameters, or leaves one hand-off (a frozen dataclass below) that the receiving page reads and
removes before it draws its widgets. tests/test_session_keys.py holds every module to OWNERS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import streamlit as st

# the page, its settings form, its run (starting and steering it) and the run's results
TRAIN_PAGE = (
    "pages/train.py",
    "mnist_app/ui/train_form.py",
    "mnist_app/ui/train_run.py",
    "mnist_app/ui/run_results.py",
)
SWEEPS_PAGE = ("pages/sweeps.py",)
HANDOFFS_MODULE = ("mnist_app/ui/keys.py",)

# --- every page ---------------------------------------------------------------------------
LANGUAGE = "lang"  # the sidebar's language switch; every module that writes words reads it
SIDEBAR = ("mnist_app/ui/__init__.py",)  # the sidebar's switches

# --- the Train page's settings form --------------------------------------------------------
TRAIN_SETTINGS = "train_settings"  # the form's values, kept across pages (widgets' are not)
TRAIN_PRESET = "train_preset"  # the preset box ("" for custom settings)


def keep(key: str, default: object) -> None:
    """Give a widget its value for this run: the session's, else `default`.

    Assigned on every run, not only when missing (`setdefault`), so every run sends the value
    to the browser. Streamlit sends a value it set only in the run that set it; under load a
    second run (the student-id component's) can replace that run's widgets before the browser
    has drawn them, and the browser then draws and sends back the widget's own default: the
    low end of every slider (seen on a loaded server: width 1, rate 1e-6, 100 images).
    """
    st.session_state[key] = st.session_state.get(key, default)


def train_field(name: str) -> str:
    """The Train form's widget key for one RunConfig field (`train_learning_rate`, ...)."""
    return f"train_{name}"


# --- the Sweeps page's form ----------------------------------------------------------------
SWEEP_FIELD = "sweep_field"  # the setting the sweep varies


def sweep_values(name: str) -> str:
    """The Sweeps form's widget key for the values to try of setting `name`."""
    return f"sweep_values_{name}"


# --- hand-offs -----------------------------------------------------------------------------
@dataclass(frozen=True)
class SweepRequest:
    """To the Sweeps page: open its form on this setting with these values to try (as the form
    writes them). The Train page leaves one when the coach suggests a sweep."""

    field: str
    values: tuple[str, ...]


HANDOFFS: dict[type, str] = {SweepRequest: "handoff_sweep_request"}

# Who may write each key (a name or a pattern, `*` for a field's or a setting's name; `train_*`
# holds every key of the Train page, which all start so). A key not listed is one module's own.
OWNERS: dict[str, tuple[str, ...]] = {
    LANGUAGE: SIDEBAR,
    TRAIN_SETTINGS: TRAIN_PAGE,
    TRAIN_PRESET: TRAIN_PAGE,
    train_field("*"): TRAIN_PAGE,
    SWEEP_FIELD: SWEEPS_PAGE,
    sweep_values("*"): SWEEPS_PAGE,
    **{key: HANDOFFS_MODULE for key in HANDOFFS.values()},
}

Handoff = TypeVar("Handoff")


def hand_off(handoff: object) -> None:
    """Leave `handoff` for the page that takes its kind (one of each kind is kept: the last)."""
    st.session_state[HANDOFFS[type(handoff)]] = handoff


def take(kind: type[Handoff]) -> Handoff | None:
    """The hand-off of this kind another page left, if any, removed as it is read."""
    return st.session_state.pop(HANDOFFS[kind], None)
