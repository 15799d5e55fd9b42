"""Class challenges on the pages: the teacher's form that opens one, its live leaderboard (for the
projector, with a CSV download) on the Challenge page, and the Train page's way in.

Whatever a student or the teacher typed (a title, a name) is shown as text: escaped for the
Markdown of the table and headings, plain in the select boxes.
"""

from __future__ import annotations

import time

import streamlit as st

from mnist_app.engine.config import RunConfig
from mnist_app.experiments.challenge import (
    Board,
    board_csv,
    config_over_limits,
    leaderboard,
    why,
    why_text,
)
from mnist_app.runs.challenges import (
    MAX_NICKNAME,
    MAX_TITLE,
    Challenge,
    ChallengeError,
    clean_nickname,
    new_challenge,
)
from mnist_app.runs.owners import AccessError, shared_server
from mnist_app.runs.store import RunStore
from mnist_app.text import escape_markdown
from mnist_app.ui.access import refuse, show_refusal, visitor
from mnist_app.ui.words import language, number_text, percent_text, t

CHALLENGE = "challenge"  # ?challenge=ID: the board shown, so a projector's tab keeps it
BOARD_SECONDS = 5  # how often the leaderboard reads the store again
NO_CHALLENGE = ""  # the Train page's choice: enter none


# --- the teacher's form --------------------------------------------------------------------------
def open_challenge_form(store: RunStore) -> None:
    """For the teacher (anyone, on a laptop): a form that opens a challenge with its rules."""
    if not visitor().manages_all():
        return
    with (
        st.expander(t("challenge.new"), icon=":material/add:"),
        st.form("challenge_form", border=False, enter_to_submit=False),
    ):
        st.text_input(t("challenge.title"), max_chars=MAX_TITLE, key="challenge_title")
        limits = st.columns(3)
        limits[0].number_input(
            t("challenge.max_params"),
            min_value=1,
            value=None,
            step=1000,
            key="challenge_max_params",
            placeholder=t("challenge.no_limit"),
        )
        limits[1].number_input(
            t("challenge.max_seconds"),
            min_value=1.0,
            value=None,
            step=10.0,
            key="challenge_max_seconds",
            placeholder=t("challenge.no_limit"),
        )
        limits[2].number_input(
            t("challenge.max_epochs"),
            min_value=1,
            max_value=200,
            value=None,
            step=1,
            key="challenge_max_epochs",
            placeholder=t("challenge.no_limit"),
        )
        st.radio(
            t("challenge.metric"),
            ["accuracy", "epochs"],
            format_func={m: t(f"challenge.metric.{m}") for m in ("accuracy", "epochs")}.get,
            horizontal=True,
            key="challenge_metric",
        )
        st.number_input(
            t("challenge.target"),
            min_value=0.5,
            max_value=1.0,
            value=0.98,
            step=0.005,
            format="%.3f",
            key="challenge_target",
            help=t("challenge.target_help"),
        )
        st.datetime_input(
            t("challenge.deadline"),
            value=None,
            key="challenge_deadline",
            help=t("challenge.deadline_help"),
        )
        st.form_submit_button(
            t("challenge.open"),
            key="challenge_create",
            on_click=_create,
            args=(store,),
            type="primary",
            icon=":material/emoji_events:",
        )
    if message := st.session_state.pop("challenge_form_error", None):
        st.error(message)
    show_refusal()


def _create(store: RunStore) -> None:
    if not visitor().manages_all():  # the form is drawn for the teacher only; checked again
        refuse(AccessError("not_yours", "only the teacher opens a challenge"))
        return
    state = st.session_state
    deadline = state.get("challenge_deadline")
    epochs_to = state.get("challenge_metric") == "epochs"
    seconds = state.get("challenge_max_seconds")
    try:
        challenge = new_challenge(
            state.get("challenge_title") or "",
            target=float(state["challenge_target"]) if epochs_to else None,
            max_params=state.get("challenge_max_params"),
            max_seconds=float(seconds) if seconds is not None else None,
            max_epochs=state.get("challenge_max_epochs"),
            deadline=deadline.timestamp() if deadline is not None else None,
        )
    except ChallengeError as error:
        state["challenge_form_error"] = t(f"challenge.error.{error.field}")
        return
    store.create_challenge(challenge)
    st.query_params[CHALLENGE] = challenge.id


# --- which board ---------------------------------------------------------------------------------
def chosen_challenge(store: RunStore) -> Challenge | None:
    """The challenge whose board is shown: the URL's, else the newest; a box to pick another."""
    challenges = {c.id: c for c in store.challenges()}
    if not challenges:
        st.info(t("challenge.none"))
        return None
    linked = st.query_params.get(CHALLENGE)
    ids = list(challenges)
    chosen = st.selectbox(
        t("challenge.pick"),
        ids,
        index=ids.index(linked) if linked in challenges else 0,
        format_func={i: challenge_label(c) for i, c in challenges.items()}.get,
        key=f"challenge_pick_{linked}",  # a new link (one just opened) picks anew
    )
    st.query_params[CHALLENGE] = chosen
    return challenges[chosen]


def challenge_label(challenge: Challenge) -> str:
    """A challenge in a select box (plain text): its title, and whether it is closed."""
    state = "" if challenge.is_open() else f" ({t('challenge.closed')})"
    return f"{challenge.title}{state}"


def rules_text(challenge: Challenge) -> str:
    """The rules in a line of Markdown: limits, metric, deadline."""
    rules = []
    if challenge.max_params is not None:
        rules.append(t("challenge.rule.params", n=number_text(challenge.max_params)))
    if challenge.max_seconds is not None:
        rules.append(t("challenge.rule.seconds", n=number_text(challenge.max_seconds, 0)))
    if challenge.max_epochs is not None:
        rules.append(t("challenge.rule.epochs", n=challenge.max_epochs))
    if challenge.target is None:
        rules.append(t("challenge.rule.accuracy"))
    else:
        rules.append(t("challenge.rule.epochs_to", target=percent_text(challenge.target, 1)))
    if challenge.deadline is not None:
        rules.append(t("challenge.rule.deadline", when=_when(challenge.deadline)))
    return " · ".join(rules)


def _when(moment: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(moment))


# --- the leaderboard -----------------------------------------------------------------------------
@st.fragment(run_every=BOARD_SECONDS)
def board_panel(store: RunStore, challenge_id: str) -> None:
    """The live leaderboard: read again every BOARD_SECONDS, closed at the deadline."""
    challenge = store.challenge(challenge_id)
    if challenge is None:
        return
    st.header(escape_markdown(challenge.title))
    st.markdown(rules_text(challenge))
    if challenge.is_open():
        st.caption(t("challenge.open_now"))
    else:
        st.warning(t("challenge.closed_at", when=_when(challenge.ends_at)), icon=":material/lock:")
    entered = store.challenge_entries(challenge.id)
    board = leaderboard(challenge, entered, shared_server(), language())
    if board.entries:
        st.table(board_rows(board), border="horizontal", hide_index=True)
    else:
        st.info(t("challenge.empty"))
    if board.training:
        st.caption(t("challenge.training", n=board.training))
    actions = st.container(horizontal=True)
    actions.download_button(
        t("challenge.csv"),
        data=board_csv(board),
        file_name=f"challenge-{challenge.id}.csv",
        mime="text/csv",
        on_click="ignore",
        icon=":material/download:",
        key="challenge_csv",
    )
    if challenge.is_open() and visitor().manages_all():
        actions.button(
            t("challenge.close"),
            key="challenge_close",
            icon=":material/lock:",
            on_click=_close,
            args=(store, challenge.id),
        )


def board_rows(board: Board) -> list[dict]:
    """The table's rows, in the user's language; typed text escaped (the table reads
    Markdown)."""
    to_target = board.challenge.target is not None
    rows = []
    for entry in board.entries:
        rank = board.rank(entry)
        row = {
            "#": "—" if rank is None else str(rank),
            t("challenge.col.student"): escape_markdown(entry.student),
        }
        if to_target:
            row[t("challenge.col.epochs_to")] = str(entry.epochs_to_target or "—")
        row |= {
            t("challenge.col.accuracy"): percent_text(entry.test_accuracy),
            t("challenge.col.params"): number_text(entry.params),
            t("challenge.col.seconds"): number_text(entry.seconds, 1),
            t("challenge.col.epochs"): str(entry.epochs),
            t("challenge.col.changes"): escape_markdown(entry.changes),
            t("challenge.col.why"): escape_markdown(why(entry, language()) or "—"),
        }
        rows.append(row)
    return rows


def _close(store: RunStore, challenge_id: str) -> None:
    if not visitor().manages_all():
        refuse(AccessError("not_yours", "only the teacher closes a challenge"))
        return
    store.close_challenge(challenge_id)


# --- the Train page's way in ---------------------------------------------------------------------
def challenge_picker(store: RunStore, config: RunConfig | None) -> None:
    """Beside Start: the open challenge to enter (none by default) and the name to enter under;
    the rules these settings will break, said before they train."""
    open_ones = {c.id: c for c in store.challenges() if c.is_open()}
    if not open_ones:
        st.session_state.pop("challenge_enter", None)
        return
    if st.session_state.get("challenge_enter") not in (NO_CHALLENGE, *open_ones):
        st.session_state.pop("challenge_enter", None)  # it closed meanwhile
    titles = {NO_CHALLENGE: t("challenge.enter_none")} | {i: c.title for i, c in open_ones.items()}
    chosen = st.selectbox(
        t("challenge.enter"),
        [NO_CHALLENGE, *open_ones],
        format_func=titles.get,
        key="challenge_enter",
    )
    if not chosen:
        return
    st.text_input(
        t("challenge.nickname"),
        max_chars=MAX_NICKNAME,
        key="challenge_nickname",
        help=t("challenge.nickname_help"),
    )
    challenge = open_ones[chosen]
    st.caption(rules_text(challenge))
    for broken in config_over_limits(challenge, config) if config is not None else []:
        st.warning(t("challenge.over", why=why_text(broken, language())), icon=":material/rule:")
    if message := st.session_state.pop("challenge_entry_refused", None):
        st.error(message)


def challenge_refused(store: RunStore) -> bool:
    """Whether the chosen challenge may not be entered now (it closed, or the name is too long);
    the reason is kept for challenge_picker to show."""
    chosen = st.session_state.get("challenge_enter")
    if not chosen:
        return False
    challenge = store.challenge(chosen)
    if challenge is None or not challenge.is_open():
        st.session_state["challenge_entry_refused"] = t("challenge.entry_closed")
        return True
    try:
        clean_nickname(st.session_state.get("challenge_nickname") or "")
    except ChallengeError:
        st.session_state["challenge_entry_refused"] = t("challenge.error.nickname")
        return True
    return False


def enter_chosen(store: RunStore, run_id: str) -> None:
    """Enter the run just started in the chosen challenge, under the name typed."""
    if chosen := st.session_state.get("challenge_enter"):
        store.enter_challenge(chosen, run_id, st.session_state.get("challenge_nickname") or "")
