// The anonymous owner id of this browser on a class server: 32 hex digits made at random the
// first time and kept in localStorage, so a student's runs and drawings stay theirs across
// reloads and tabs. Nothing about the person is in it. crypto.randomUUID() needs a secure
// context (https or localhost), and a class server is often plain http on the school's network:
// crypto.getRandomValues() works on both. A browser that refuses to keep data (some private
// windows) keeps the id for as long as this page is open.
const KEY = "mnist-lab-owner";
const WELL_FORMED = /^[0-9a-f]{32}$/;
let kept = null; // this page's id, should localStorage refuse it

function newId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

function ownerId() {
  try {
    const stored = localStorage.getItem(KEY);
    if (WELL_FORMED.test(stored ?? "")) return stored;
    const id = kept ?? newId();
    localStorage.setItem(KEY, id);
    return id;
  } catch {
    kept = kept ?? newId();
    return kept;
  }
}

export default function reportOwnerId({ data, setStateValue, parentElement }) {
  const id = ownerId();
  kept = id;
  const known = data?.owner === id;
  // Said on the page, for tests and tools that drive it: until the app knows the id, the page
  // runs once more (the report below), and a click meanwhile can be drawn over.
  const host = parentElement?.host ?? parentElement;
  if (host?.dataset) host.dataset.ownerKnown = String(known);
  if (!known) setStateValue("owner", id);
}
