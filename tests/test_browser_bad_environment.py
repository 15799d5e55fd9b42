"""A server started with a mistyped MNIST_LAB_* value: it starts, its log says what is wrong in
one line, and every page says it instead of failing wherever the value is first read. (The
CLI's side is in tests/test_bad_input.py's table.)"""

from __future__ import annotations

import urllib.request

import pytest
from apptest_text import APP
from playwright.sync_api import expect
from polling import until
from streamlit.testing.v1 import AppTest

from mnist_app.runs.store import RunStore

SAID = "MNIST_LAB_MAX_PARAMS: 'abc' is not a whole number of at least 1"
WRONG = {
    "en": "This server's settings have a mistake, so it trains nothing and shows no page until "
    "whoever runs it fixes this:",
    "es": "La configuración de este servidor tiene un error: no entrena ni muestra ninguna página "
    "hasta que quien lo administre arregle esto:",
}


@pytest.mark.browser
def test_the_served_app_starts_logs_one_line_and_every_page_says_what_is_wrong(
    start_app, tmp_path_factory, page
):
    with start_app(env={"MNIST_LAB_MAX_PARAMS": "abc"}) as (url, home):
        with urllib.request.urlopen(f"{url}/train", timeout=30) as reply:
            assert reply.status == 200  # it serves; it did not die at start-up
        logs = sorted(tmp_path_factory.getbasetemp().glob("logs*/streamlit.log"),
                      key=lambda path: path.stat().st_mtime)  # fmt: skip
        log = logs[-1]  # this server's: the newest
        until(lambda: SAID in log.read_text(), "the log says what is wrong")
        for path, lang in (("train", "en"), ("sweeps", "es"), ("draw", "en")):
            page.goto(f"{url}/{path}?lang={lang}")
            expect(page.get_by_text(WRONG[lang])).to_be_visible(timeout=90_000)
            expect(page.get_by_text(SAID)).to_be_visible()
            expect(page.get_by_role("button", name="Start training")).to_have_count(0)
        text = log.read_text()
        assert [line for line in text.splitlines() if "MNIST_LAB" in line] == [
            f"MNIST Lab: {SAID} (every page says so until it is fixed)"
        ]
        assert "Traceback" not in text
        assert RunStore(home).list() == []  # nothing was started or changed


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        ("MNIST_LAB_MAX_PARAMS", "abc", SAID),
        ("MNIST_LAB_MAX_ACTIVATION_MB", "-5", "MNIST_LAB_MAX_ACTIVATION_MB: '-5' is not a whole "
         "number of at least 1"),
        ("MNIST_LAB_MAX_TRAININGS", "many", "MNIST_LAB_MAX_TRAININGS: 'many' is not a whole "
         "number of at least 1"),
        ("MNIST_LAB_RAY_CPUS", "1.5", "MNIST_LAB_RAY_CPUS: '1.5' is not a whole number from 1 "
         "to 256"),
        ("MNIST_LAB_RAY_ADDRESS", "http://head", "MNIST_LAB_RAY_ADDRESS: 'http://head' is not a "
         "Ray address: give auto, HOST:PORT (the head's GCS port, 6379 by default) or "
         "ray://HOST:10001"),
    ],
)  # fmt: skip
def test_the_home_page_says_what_is_wrong_and_nothing_else(variable, value, said, monkeypatch):
    monkeypatch.setenv(variable, value)
    at = AppTest.from_file(APP, default_timeout=60)  # the app as a visitor first opens it
    at.session_state["lang"] = "es"
    at.run()
    assert not at.exception
    assert [error.value for error in at.error] == [WRONG["es"]]
    assert [code.value for code in at.code] == [said]
    assert at.button.len == 0 and at.title.len == 0  # the page itself is not drawn
