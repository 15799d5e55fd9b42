// Sends each stroke on the Draw page's canvas to the app the moment the mouse button (or the
// finger) is released. streamlit-drawable-canvas 0.13 waits a fixed 200 ms after a stroke before
// it sends the drawing, which alone took the time from stroke to reading past its 200 ms floor.
// The canvas's own "Update the app with this drawing" button sends at once and cancels that
// wait: this presses it for the person. Should a later canvas rename the button, nothing breaks:
// strokes are sent after the canvas's own wait, as before.
const SEND = 'button[title="Update the app with this drawing"]';
let pressedOn = null; // the (shadow) root of the canvas the stroke started on

function onDown(event) {
  const canvas = event.composedPath().find((node) => node.classList?.contains("upper-canvas"));
  pressedOn = canvas ? canvas.getRootNode() : null;
}

function onUp() {
  const root = pressedOn;
  pressedOn = null;
  // A task later: the canvas's own handlers keep the stroke in its history first.
  if (root) setTimeout(() => root.querySelector(SEND)?.click(), 0);
}

const EVENTS = [["pointerdown", onDown], ["mouseup", onUp], ["touchend", onUp]];

export default function sendStrokesAtOnce() {
  for (const [name, handler] of EVENTS) document.addEventListener(name, handler, true);
  return () => {
    for (const [name, handler] of EVENTS) document.removeEventListener(name, handler, true);
  };
}
