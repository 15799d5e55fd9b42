import streamlit as st

from mnist_app.ui import t

st.title(t("app.title"))
st.write(t("home.intro"))
left, right = st.columns(2)
left.page_link("pages/train.py", label=t("home.train_link"), icon=":material/show_chart:")
right.page_link("pages/draw.py", label=t("home.draw_link"), icon=":material/draw:")
