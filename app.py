"""MNIST Lab: routes to the pages."""

import streamlit as st

from mnist_app.ui import language_switch, t


def run() -> None:
    st.set_page_config(page_title="MNIST Lab", page_icon="✏️", layout="wide")
    language_switch()
    pages = [
        st.Page("pages/home.py", title=t("nav.home"), icon="🏠", default=True),
        st.Page("pages/train.py", title=t("nav.train"), icon="📈"),
        st.Page("pages/draw.py", title=t("nav.draw"), icon="✏️"),
    ]
    st.navigation(pages).run()


if __name__ == "__main__":
    run()
