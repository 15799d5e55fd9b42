"""MNIST Lab: routes to the pages, and serves the live-progress API beside them.

`streamlit run app.py` imports this file to build the server (`app` below: the pages plus
mnist_app.live's JSON route), then runs it as the script of every page view (`run()`).
"""

import streamlit as st

from mnist_app.live import ROUTES
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
else:
    app = st.App(__file__, routes=ROUTES)
