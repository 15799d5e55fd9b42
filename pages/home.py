"""Home: where a class starts — a first class in ten minutes, the lessons and the pitfalls, each
one click from running, and the other pages."""

import streamlit as st

from mnist_app.ui import t, training_manager
from mnist_app.ui.access import show_refusal
from mnist_app.ui.home import first_class, follow_started, lesson_cards, pitfall_cards, places

follow_started()
manager = training_manager()
st.title(t("app.title"))
st.write(t("home.intro"))
show_refusal("start")  # a class's limit a card's Start ran into
first_class()
lesson_cards(manager)
pitfall_cards(manager)
places()
