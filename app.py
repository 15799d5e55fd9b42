"""MNIST Lab: routes to the pages."""

import streamlit as st

from mnist_app.ui import keep_keras_between_reruns, language_switch, t


def run() -> None:
    st.set_page_config(page_title="MNIST Lab", page_icon=":material/draw:", layout="wide")
    keep_keras_between_reruns()
    language_switch()
    pages = [
        st.Page("pages/home.py", title=t("nav.home"), icon=":material/home:", default=True),
        st.Page("pages/train.py", title=t("nav.train"), icon=":material/show_chart:"),
        st.Page("pages/draw.py", title=t("nav.draw"), icon=":material/draw:"),
    ]
    st.navigation(pages).run()


if __name__ == "__main__":
    run()
