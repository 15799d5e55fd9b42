"""Students simulated at the wire (bench/wire.py) read what the real browser read.

bench/sessions/draw.json holds the BackMsgs headless Chromium sent on the Draw page while ten
digits were drawn stroke by stroke, with the reading the page showed after each stroke
(bench/record_session.py). Replayed on a session of its own against a freshly served app, a
simulated student must get the same reading in the reply to every stroke. Should the Draw page
change so that the recording no longer fits it, re-record: python bench/record_session.py
"""

import asyncio
import base64
import concurrent.futures
import dataclasses
import io
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import wire  # noqa: E402
from streamlit.proto.BackMsg_pb2 import BackMsg  # noqa: E402


def run(coroutine):
    """asyncio.run in a thread of its own: where this worker's Chromium is open (Playwright's
    sync API, one per worker), an event loop is already running in the main thread."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def test_the_recording_is_a_real_session():
    """A page load, the student-id component's report, then strokes and resets, each stroke with
    what Chromium showed: ten digits and readings that differ from stroke to stroke."""
    recording = wire.load_recording()
    kinds = [frame.kind for frame in recording.frames]
    assert kinds[:2] == ["load", "owner"]
    assert kinds.count("stroke") >= 10 and kinds.count("reset") >= 9
    assert {frame.digit for frame in recording.strokes} == set("0123456789")
    assert len({frame.reading for frame in recording.strokes}) >= 9
    assert len(recording.owner) == 32 and recording.owner.encode() in recording.frames[1].message


def test_a_student_is_rewritten_as_their_own_browser():
    """Another student's owner id and this server's URL go out; the recorded ones do not."""
    recording = wire.load_recording()
    stroke = recording.strokes[0].message
    sent = wire.rewrite(stroke, recording, "http://127.0.0.1:1", "0" * 32)
    assert recording.owner.encode() in stroke and recording.owner.encode() not in sent
    message = BackMsg()
    message.ParseFromString(sent)
    assert message.rerun_script.context_info.url.startswith("http://127.0.0.1:1/")
    owners = [w.json_value for w in message.rerun_script.widget_states.widgets
              if w.id.endswith("-owner_id")]  # fmt: skip
    assert owners == ['{"owner":"' + "0" * 32 + '"}']


def _drawing(message: bytes) -> tuple[str, Image.Image]:
    """The canvas's data URL in a BackMsg, and its picture."""
    state = BackMsg()
    state.ParseFromString(message)
    (canvas,) = [
        w for w in state.rerun_script.widget_states.widgets if w.id.endswith("-draw_canvas")
    ]
    url = json.loads(canvas.json_value)["drawing"]["data"]
    return url, Image.open(io.BytesIO(base64.b64decode(url.partition(",")[2])))


def test_each_student_sends_their_own_bytes_for_the_same_strokes():
    """Two students' strokes are the recorded pixels in bytes of their own (a server cannot
    reuse one's decoded drawing for the other's); a reset is the same blank canvas for all."""
    recording = wire.load_recording()
    origin = "http://127.0.0.1:1"
    for frame in (f for f in recording.frames if f.kind in ("stroke", "reset")):
        recorded, picture = _drawing(frame.message)
        sent = [_drawing(wire.rewrite(frame.message, recording, origin, o * 32)) for o in "01"]
        for _, seen in sent:
            np.testing.assert_array_equal(np.asarray(seen), np.asarray(picture))
        urls = {recorded} | {url for url, _ in sent}
        assert len(urls) == (3 if frame.kind == "stroke" else 1), frame.kind


def test_a_simulated_student_reads_what_chromium_showed(app_url):
    recording = wire.load_recording()
    assert wire.xsrf_cookie(app_url), "/_stcore/health sets no _streamlit_xsrf cookie"
    replies = run(wire.replay(app_url, recording))
    assert [reply.errors for reply in replies] == [[]] * len(recording.strokes)
    assert [reply.reading for reply in replies] == [f.reading for f in recording.strokes]
    assert all(reply.ms > 0 for reply in replies)


def test_a_stroke_is_read_from_what_the_student_sent(app_url):
    """The "1"'s stroke carrying the "0"'s canvas is read as a 0: the reading comes from the
    canvas each student sends, not from the recording or another session."""
    recording = wire.load_recording()
    zero, one = recording.strokes[:2]
    assert (zero.reading, one.reading) == ("0", "1")
    swapped = [dataclasses.replace(f, message=zero.message) if f is one else f
               for f in recording.frames]  # fmt: skip
    replies = run(wire.replay(app_url, dataclasses.replace(recording, frames=swapped)))
    assert [reply.reading for reply in replies[:3]] == ["0", "0", "2"]


def _with_model_label(message: bytes, label: str) -> bytes:
    """A BackMsg whose model picker says `label` (the browser sends a picker's label)."""
    state = BackMsg()
    state.ParseFromString(message)
    (picker,) = [
        w for w in state.rerun_script.widget_states.widgets if w.id.endswith("-draw_model")
    ]
    picker.string_value = label
    return state.SerializeToString()


def test_a_tab_back_with_a_model_label_this_server_never_showed_reads_on(app_url):
    """When a server restarts (a teacher shipping a new model, say), every open tab reconnects
    and sends its widgets as they were, the model picker as a label the new server may not
    offer. It is not taken for a run to look for (a message above the canvas, the label in the
    address): the page stays as drawn and reads every stroke as before."""
    recording = wire.load_recording()
    stale = "Shipped model · 12.34% on the test set"
    frames = [dataclasses.replace(f, message=_with_model_label(f.message, stale))
              if f.kind == "owner" else f for f in recording.frames]  # fmt: skip
    replies = run(wire.replay(app_url, dataclasses.replace(recording, frames=frames)))
    assert [reply.errors for reply in replies] == [[]] * len(recording.strokes)
    assert [reply.reading for reply in replies] == [f.reading for f in recording.strokes]


def test_each_student_has_a_session_of_their_own(app_url):
    """Two students at once, one drawing the 0 and the other the 1: each reads their own."""
    recording = wire.load_recording()
    zero, one = recording.strokes[:2]

    async def two_students():
        async with wire.Student(app_url, recording) as a, wire.Student(app_url, recording) as b:
            assert a.owner != b.owner
            await asyncio.gather(a.open_page(), b.open_page())
            return await asyncio.gather(a.send(zero), b.send(one))

    replies = run(two_students())
    assert [reply.reading for reply in replies] == ["0", "1"]
