"""Students simulated at the wire: one websocket client of Streamlit's own protocol per student.

A student replays the BackMsgs a real Chromium sent on the Draw page (bench/sessions/draw.json,
recorded by bench/record_session.py) on a session of its own, and reads the ForwardMsgs that
come back: where each script run ends and the reading (the metric in the `draw_reading`
container) it holds. What a browser session carries of its own is rewritten per student: the
owner id its localStorage would hold (the student-id component's value), the page's URL, and
the bytes of each stroke's drawing (its pixels stay the recorded ones, so are the readings): in
a class every student draws their own digits, and a server that kept one student's decoded
drawing must not be able to reuse it for another's. A reset sends the same blank canvas from
every browser, as it does in a real class.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
import urllib.request
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from websockets.asyncio.client import connect

SESSION = Path(__file__).resolve().parent / "sessions" / "draw.json"
XSRF_COOKIE = "_streamlit_xsrf"
READING_BLOCK = "-draw_reading"  # the end of the reading container's element id
OWNER_WIDGET = "-owner_id"  # the end of the student-id component's widget id
CANVAS_WIDGET = "-draw_canvas"
EARLY_FOR_RERUN = ForwardMsg.ScriptFinishedStatus.FINISHED_EARLY_FOR_RERUN
RUN_ENDS = {
    ForwardMsg.ScriptFinishedStatus.FINISHED_SUCCESSFULLY,
    ForwardMsg.ScriptFinishedStatus.FINISHED_FRAGMENT_RUN_SUCCESSFULLY,
}


@dataclass(frozen=True)
class Frame:
    """One BackMsg the browser sent: when (s after the first), what it was, what it showed."""

    t: float
    kind: str  # load, owner, stroke, reset (or the BackMsg's own type for anything else)
    message: bytes
    reading: str | None = None  # the digit the page showed after it (strokes)
    digit: str | None = None  # the digit being drawn (strokes and resets)


@dataclass(frozen=True)
class Recording:
    origin: str  # the recorded server's URL, rewritten to the replayed one
    owner: str  # the recorded browser's owner id, rewritten per student
    frames: list[Frame]

    @property
    def strokes(self) -> list[Frame]:
        return [f for f in self.frames if f.kind == "stroke"]


def load_recording(path: Path = SESSION) -> Recording:
    data = json.loads(path.read_text(encoding="utf-8"))
    frames = [
        Frame(f["t"], f["kind"], base64.b64decode(f["frame"]), f.get("reading"), f.get("digit"))
        for f in data["frames"]
    ]
    return Recording(data["origin"], data["owner"], frames)


def frame_kind(message: BackMsg, owner_known: bool) -> str:
    """What a recorded BackMsg is: the page load, the student-id component reporting the owner
    id, a stroke (the canvas holds objects) or a reset (the canvas emptied)."""
    kind = message.WhichOneof("type")
    if kind != "rerun_script":
        return kind
    widgets = {w.id: w for w in message.rerun_script.widget_states.widgets}
    canvas = next((w for i, w in widgets.items() if i.endswith(CANVAS_WIDGET)), None)
    if canvas is not None:
        return "stroke" if json.loads(canvas.json_value)["drawing"]["raw"]["objects"] else "reset"
    if not owner_known and any(i.endswith(OWNER_WIDGET) for i in widgets):
        return "owner"
    return "load"


def rewrite(frame: bytes, recording: Recording, origin: str, owner: str) -> bytes:
    """The recorded BackMsg as this student's browser would send it to this server."""
    message = BackMsg()
    message.ParseFromString(frame)
    if message.WhichOneof("type") == "rerun_script":
        state = message.rerun_script
        state.context_info.url = state.context_info.url.replace(recording.origin, origin)
        del state.cached_message_hashes[:]  # this client holds no cached messages
        for widget in state.widget_states.widgets:
            if widget.id.endswith(OWNER_WIDGET):
                widget.json_value = json.dumps({"owner": owner}, separators=(",", ":"))
            elif widget.id.endswith(CANVAS_WIDGET):
                widget.json_value = _own_drawing(widget.json_value, owner)
    return message.SerializeToString()


def _own_drawing(canvas_value: str, owner: str) -> str:
    """The canvas's value with its drawing's PNG signed by the student (a text chunk naming the
    owner id before the PNG's end), when it holds strokes: the same pixels, other bytes."""
    value = json.loads(canvas_value)
    drawing = value["drawing"]
    header, _, data = drawing["data"].partition(",")
    if not drawing["raw"]["objects"]:
        return canvas_value  # a blank canvas is the same from every browser
    png = base64.b64decode(data)
    end = png.rindex(b"IEND") - 4  # the end chunk: length (0), "IEND", CRC
    text = b"tEXt" + b"student\0" + owner.encode()
    chunk = (len(text) - 4).to_bytes(4, "big") + text + zlib.crc32(text).to_bytes(4, "big")
    drawing["data"] = f"{header},{base64.b64encode(png[:end] + chunk + png[end:]).decode()}"
    return json.dumps(value, separators=(",", ":"))


def xsrf_cookie(url: str) -> str:
    """The `_streamlit_xsrf` cookie /_stcore/health sets; the browser sends it back as the
    websocket's second subprotocol (Streamlit checks it against the cookie)."""
    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=10) as reply:
        for header in reply.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            if name.strip() == XSRF_COOKIE:
                return rest.split(";")[0]
    return ""


@dataclass
class Reply:
    """What came back for one BackMsg: when its run ended, the reading, any error shown."""

    ms: float
    reading: str | None
    errors: list[str] = field(default_factory=list)


class Student:
    """One simulated student: a websocket of its own, hence a Streamlit session of its own."""

    def __init__(self, url: str, recording: Recording, cookie: str | None = None) -> None:
        self.url, self.recording = url, recording
        self.cookie = xsrf_cookie(url) if cookie is None else cookie
        self.owner = secrets.token_hex(16)  # as owner_id.js makes one: 32 hex digits
        self.socket = None

    async def __aenter__(self) -> Student:
        stream = self.url.replace("http://", "ws://", 1) + "/_stcore/stream"
        protocols = ["streamlit", self.cookie] if self.cookie else ["streamlit"]
        headers = {"Origin": self.url}
        if self.cookie:
            headers["Cookie"] = f"{XSRF_COOKIE}={self.cookie}"
        self.socket = await connect(
            stream, subprotocols=protocols, additional_headers=headers, max_size=None
        )
        return self

    async def __aexit__(self, *_) -> None:
        await self.socket.close()

    async def send(self, frame: Frame, timeout: float = 60) -> Reply:
        """Send one recorded BackMsg, rewritten for this student; wait for its run to end."""
        message = rewrite(frame.message, self.recording, self.url, self.owner)
        start = time.perf_counter()
        await self.socket.send(message)
        if frame.kind not in ("load", "owner", "stroke", "reset"):
            return Reply(0.0, None)
        return await asyncio.wait_for(self._run_end(start), timeout)

    async def _run_end(self, start: float) -> Reply:
        blocks: set[tuple[int, ...]] = set()  # where the reading's container is, this run
        reading, errors = None, []
        while True:
            message = ForwardMsg()
            message.ParseFromString(await self.socket.recv())
            kind = message.WhichOneof("type")
            if kind == "delta":
                path = tuple(message.metadata.delta_path)
                delta = message.delta
                if delta.WhichOneof("type") == "add_block":
                    if delta.add_block.id.endswith(READING_BLOCK):
                        blocks.add(path)
                elif delta.WhichOneof("type") == "new_element":
                    element = delta.new_element
                    if element.WhichOneof("type") == "metric" and any(
                        path[: len(b)] == b for b in blocks
                    ):
                        reading = element.metric.body
                    elif element.WhichOneof("type") == "exception":
                        errors.append(element.exception.message)
            elif kind == "script_finished" and message.script_finished != EARLY_FOR_RERUN:
                if message.script_finished not in RUN_ENDS:
                    errors.append(f"script finished: {message.script_finished}")
                return Reply((time.perf_counter() - start) * 1000, reading, errors)

    async def open_page(self) -> None:
        """The page load and the student-id component's report, as the browser sent them."""
        for frame in self.recording.frames:
            if frame.kind in ("stroke", "reset"):
                return
            await self.send(frame)


async def replay(url: str, recording: Recording, timed: bool = False) -> list[Reply]:
    """One student replays the whole recording: with `timed`, each BackMsg when the browser sent
    it (but never before the previous one's run ended), else as fast as the replies come; a
    reply per stroke, in order."""
    async with Student(url, recording) as student:
        loop = asyncio.get_running_loop()
        start, replies = loop.time(), []
        for frame in recording.frames:
            if timed:
                await asyncio.sleep(max(0.0, start + frame.t - loop.time()))
            reply = await student.send(frame)
            if frame.kind == "stroke":
                replies.append(reply)
        return replies
