"""MNIST Lab: routes to the pages, and serves the live-progress API beside them.

`streamlit run app.py` imports this file to build the server (`app` below: the pages plus
mnist_app.figures.live's JSON route, and the start-up preparation), then runs it as the script of
every page view (`run()`).
"""

from contextlib import asynccontextmanager

import streamlit as st

from mnist_app.figures.live import routes
from mnist_app.ui import (
    base_path,
    environment_check,
    language_switch,
    page_style,
    prepare_server,
    projector_switch,
    t,
)
from mnist_app.ui.access import visitor_panel


def run() -> None:
    st.set_page_config(page_title="MNIST Lab", page_icon=":material/draw:", layout="wide")
    pages = [
        st.Page("pages/home.py", title=t("nav.home"), icon=":material/home:", default=True),
        st.Page("pages/data.py", title=t("nav.data"), icon=":material/grid_on:"),
        st.Page("pages/train.py", title=t("nav.train"), icon=":material/show_chart:"),
        st.Page("pages/draw.py", title=t("nav.draw"), icon=":material/draw:"),
        st.Page("pages/runs.py", title=t("nav.runs"), icon=":material/table_rows:"),
        st.Page("pages/compare.py", title=t("nav.compare"), icon=":material/compare_arrows:"),
        st.Page("pages/sweeps.py", title=t("nav.sweeps"), icon=":material/tune:"),
        st.Page("pages/robustness.py", title=t("nav.robustness"), icon=":material/shield:"),
        st.Page("pages/classroom.py", title=t("nav.classroom"), icon=":material/groups:"),
        st.Page("pages/challenge.py", title=t("nav.challenge"), icon=":material/emoji_events:"),
    ]
    # st.navigation first: the browser must know which page this is before any widget can ask
    # for a rerun. The owner-id component reports on mount; had it come first, its rerun could
    # leave before the page did and name none, and Streamlit then ran the home page (a reload of
    # /train?… landed on Home now and then on a busy server).
    navigation = st.navigation(pages)
    page_style()
    language_switch()
    environment_check()
    projector_switch()
    visitor_panel()
    navigation.run()


@asynccontextmanager
async def lifespan(_app):
    prepare_server()
    yield


if __name__ == "__main__":
    run()
else:  # Streamlit does not mount our routes under server.baseUrlPath: they carry it themselves
    app = st.App(__file__, routes=routes(base_path()), lifespan=lifespan)
