"""In the real browser, on a class server: each browser keeps its own anonymous student id in
localStorage across reloads, what it draws is stored as that student's, and the teacher's code
typed in the sidebar opens teacher mode (a wrong one does not); with the runs hidden, a student
still follows their own run live (with the pass the page gave) and nobody else can."""

import re

import pytest
from browsing import press
from playwright.sync_api import expect
from test_browser_draw import DIGITS, READING, draw, open_canvas
from test_browser_train import LIVE_TIMEOUT, open_train_page, start_long_run, stop_if_still_running
from test_live import _get

from mnist_app.drawing.classset import ClassSet
from mnist_app.i18n import translate
from mnist_app.runs.owners import ClassRules
from mnist_app.runs.store import RunStore

pytestmark = pytest.mark.browser
CODE = "profe-2026"
OWNER_KEY = "mnist-lab-owner"


def owner_of(tab) -> str:
    """The id this tab's browser keeps, once its component has made it."""
    tab.wait_for_function(f"localStorage.getItem('{OWNER_KEY}') !== null", timeout=30_000)
    return tab.evaluate(f"localStorage.getItem('{OWNER_KEY}')")


def test_each_browser_is_its_own_student_and_the_teacher_s_code_opens_teacher_mode(
    page, browser, start_app
):
    with start_app(env={"MNIST_LAB_TEACHER_CODE": CODE}) as (url, home):
        canvas = open_canvas(page, url)
        expect(page.get_by_text(translate("access.shared"))).to_be_visible(timeout=30_000)
        ana = owner_of(page)
        assert re.fullmatch(r"[0-9a-f]{32}", ana or ""), ana
        draw(page, canvas, DIGITS["7"])
        expect(page.locator(READING)).to_have_text("7", timeout=30_000)
        page.locator(".st-key-classset_digit").get_by_text("7", exact=True).click()
        page.locator(".st-key-classset_add button").click()
        done = translate("classroom.add.done", digit=7, total=1)
        expect(page.get_by_text(done)).to_be_visible(timeout=30_000)
        [entry] = ClassSet(home).entries()
        assert entry.student == ana  # the server got the browser's id
        page.reload()
        expect(page.get_by_text(translate("access.shared"))).to_be_visible(timeout=30_000)
        assert owner_of(page) == ana  # kept across reloads

        other = browser.new_context(viewport={"width": 1400, "height": 1000})
        try:
            tab = other.new_page()
            tab.goto(f"{url}/classroom")
            expect(tab.get_by_text(translate("access.shared"))).to_be_visible(timeout=30_000)
            bea = owner_of(tab)
            assert re.fullmatch(r"[0-9a-f]{32}", bea or "") and bea != ana
            sidebar = tab.locator('[data-testid="stSidebar"]')
            sidebar.get_by_text(translate("access.teacher"), exact=True).click()
            code = sidebar.locator(".st-key-access_code input")
            code.fill("profe")
            sidebar.get_by_role("button", name=translate("access.enter")).click()
            expect(sidebar.get_by_text(translate("access.wrong_code"))).to_be_visible(
                timeout=30_000
            )
            code.fill(CODE)
            sidebar.get_by_role("button", name=translate("access.enter")).click()
            expect(sidebar.get_by_text(translate("access.teacher_on"))).to_be_visible(
                timeout=30_000
            )
            rules = tab.get_by_text(translate("access.rules"), exact=True)
            expect(rules).to_be_visible(timeout=30_000)  # the teacher's form on Class digits
        finally:
            other.close()


def test_with_runs_hidden_a_student_follows_their_own_run_live_and_nobody_else_can(page, start_app):
    with start_app(env={"MNIST_LAB_TEACHER_CODE": CODE}) as (url, home):
        RunStore(home).set_class_rules(ClassRules(everyone_sees_all=False))
        try:
            open_train_page(page, url)
            owner_of(page)  # the page knows whose run it starts
            start_long_run(page)
            status = page.locator(".st-key-train_live .status")
            expect(status).to_contain_text(re.compile(r"batch [1-9]"), timeout=LIVE_TIMEOUT)
            seen = status.inner_text()
            expect(status).not_to_have_text(seen, timeout=LIVE_TIMEOUT)  # fetched again, and again
            press(page, "Pause")  # held while the API is asked
            expect(status).to_contain_text("Paused", timeout=LIVE_TIMEOUT)
            run_id = re.search(r"run=(\w+)", page.url).group(1)
            assert _get(f"{url}/api/runs/{run_id}/live")[::2] == (404, {"error": "no such run"})
            press(page, "Stop")
            expect(page.get_by_text("Training stopped")).to_be_visible(timeout=LIVE_TIMEOUT)
        finally:
            stop_if_still_running(page)
