"""Class digits page (being built)."""

import streamlit as st

from mnist_app.ui import t

st.title(t("nav.classroom"))
