"""Challenge: the teacher opens a class challenge; everyone watches its live leaderboard."""

import streamlit as st

from mnist_app.ui import t, training_manager
from mnist_app.ui.challenge import board_panel, chosen_challenge, open_challenge_form

manager = training_manager()

st.title(t("nav.challenge"))
st.write(t("challenge.intro"))
open_challenge_form(manager.store)  # the teacher's (anyone's on a laptop)
challenge = chosen_challenge(manager.store)
if challenge is not None:
    board_panel(manager.store, challenge.id)
