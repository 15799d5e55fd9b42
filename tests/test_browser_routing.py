"""A direct link is the first thing a fresh server sees (a class reloading tabs after a restart)."""

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
