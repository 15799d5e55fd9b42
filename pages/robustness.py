"""robustness page: being built (issue 11)."""

import streamlit as st

from mnist_app.ui import t

st.title(t("nav.robustness"))
