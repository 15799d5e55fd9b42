"""A direct link is the first thing a fresh server sees (a class reloading tabs after a restart)."""

import time
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_a_direct_link_to_a_page_goes_through_the_app_router(page, app_url):
    page.goto(f"{app_url}/train?lang=en")  # this module's server has had no visitor yet
    expect(page.get_by_role("heading", name="Train", exact=True)).to_be_visible(timeout=90_000)
    sidebar = page.get_by_test_id("stSidebar")
    # app.py ran: its navigation labels and its language switch, not Streamlit's file names.
    expect(sidebar.get_by_role("link", name="Home")).to_be_visible()
    expect(sidebar.get_by_text("Language")).to_be_visible()
    expect(sidebar.get_by_role("link", name="app", exact=True)).to_have_count(0)
    expect(page.get_by_role("button", name="Start training")).to_be_visible()


class HeldAfterOwnerId:
    """Passes the app's websocket through, but holds what the server sends after the owner-id
    component (once) until the browser has answered it: the order of a busy server, where the
    component reports before the rest of the script run reaches the browser."""

    COMPONENT = b"mnist_lab.owner_id"

    def __init__(self):
        self.browser_side = None
        self.held: list[bytes | str] | None = None  # None: not holding (yet, or any more)
        self.answered = False
        self.done = False

    def route(self, websocket):
        self.browser_side = websocket
        server = websocket.connect_to_server()
        server.on_message(self._from_server)
        websocket.on_message(lambda message: self._from_browser(server, message))

    def _from_server(self, message):
        if self.held is not None:
            self.held.append(message)
            return
        self.browser_side.send(message)
        if not self.done and isinstance(message, bytes) and self.COMPONENT in message:
            self.held, self.done = [], True

    def _from_browser(self, server, message):
        if self.held is not None:
            self.answered = True
        server.send(message)

    def release(self):
        while self.held:  # in order: what arrives meanwhile joins the queue
            self.browser_side.send(self.held.pop(0))
        self.held = None


def test_a_widget_reporting_before_the_page_is_known_keeps_the_linked_page(page, app_url):
    """The owner-id component reports on mount. Drawn before st.navigation, its rerun named no
    page, and Streamlit ran Home: a link to /train on a busy server showed Home now and then."""
    held = HeldAfterOwnerId()
    page.route_web_socket("**/_stcore/stream", held.route)
    page.goto(f"{app_url}/train?lang=en", wait_until="commit")
    deadline = time.monotonic() + 90
    while not held.answered:  # the browser has the component, and what came before it
        assert time.monotonic() < deadline, "the owner-id component never reported"
        page.wait_for_timeout(50)
    held.release()
    expect(page.get_by_role("heading", name="Train", exact=True)).to_be_visible(timeout=90_000)
    assert urlsplit(page.url).path == "/train"
