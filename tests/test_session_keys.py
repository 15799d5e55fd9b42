"""Pages talk through named hand-offs: every session key more than one module uses is named in
mnist_app/ui/keys.py, and only its owners write it (read from the code with `ast`)."""

from __future__ import annotations

import ast
import fnmatch
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from apptest_text import open_page

from mnist_app.ui import keys

PROJECT_ROOT = Path(__file__).resolve().parent.parent
WRITES = {"pop", "setdefault", "update", "clear", "__setitem__", "__delitem__"}
# Writes whose key the scan cannot read: a key the caller passes in (under its own name), and
# the hand-offs' keys, each named in keys.HANDOFFS.
UNREAD = {
    ("pages/data.py", "seed_key"),
    ("mnist_app/ui/inside.py", "chosen"),
    ("mnist_app/ui/keys.py", "HANDOFFS[type(handoff)]"),
    ("mnist_app/ui/keys.py", "HANDOFFS[kind]"),
    ("mnist_app/ui/keys.py", "key"),  # keys.keep: its callers' writes are read below
}
WRITERS = {"keep"}  # functions of the keys module that write the key they are given first


@dataclass(frozen=True)
class Use:
    module: str
    key: str  # the key, `*` for a part worked out at run time
    write: bool
    named: bool  # spelled through mnist_app.ui.keys


def modules() -> dict[str, str]:
    paths = [*(PROJECT_ROOT / "pages").glob("*.py"), *(PROJECT_ROOT / "mnist_app/ui").glob("*.py")]
    return {str(p.relative_to(PROJECT_ROOT)): p.read_text(encoding="utf-8") for p in paths}


def is_session_state(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "session_state"


class KeyReader:
    """Works out the key an expression names: a string, an f-string, a module constant, a name
    or function from the keys module, `.format(...)` of a constant."""

    def __init__(self, tree: ast.Module):
        self.constants, self.from_keys = {}, set()
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.module == "mnist_app.ui.keys":
                self.from_keys |= {alias.asname or alias.name for alias in node.names}
            elif isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
                if isinstance(target, ast.Name):
                    self.constants[target.id] = node.value

    def __call__(self, node: ast.AST) -> tuple[str, bool] | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value, False
        if isinstance(node, ast.JoinedStr):
            parts = [v.value if isinstance(v, ast.Constant) else "*" for v in node.values]
            return "".join(parts), False
        if isinstance(node, ast.Attribute) and self.is_keys_module(node.value):
            return getattr(keys, node.attr), True
        if isinstance(node, ast.Name) and node.id in self.from_keys:
            return getattr(keys, node.id), True
        if isinstance(node, ast.Name) and node.id in self.constants:
            return self(self.constants[node.id])
        if isinstance(node, ast.Call):
            function = node.func
            if isinstance(function, ast.Attribute) and function.attr == "format":
                found = self(function.value)
                return found and (re.sub(r"\{[^}]*\}", "*", found[0]), found[1])
            if isinstance(function, ast.Name) and function.id in self.from_keys:
                return getattr(keys, function.id)("*"), True
            if isinstance(function, ast.Attribute) and self.is_keys_module(function.value):
                return getattr(keys, function.attr)("*"), True
        return None

    @staticmethod
    def is_keys_module(node: ast.AST) -> bool:
        return isinstance(node, ast.Name) and node.id == "keys"


def uses(module: str, source: str) -> tuple[list[Use], set[tuple[str, str]]]:
    """Every session key `module` reads or writes (widget keys included), and the writes whose
    key it cannot read."""
    tree = ast.parse(source)
    read_key, found, unread = KeyReader(tree), [], set()

    def add(node: ast.AST, write: bool) -> None:
        key = read_key(node)
        if key is None and write:
            unread.add((module, ast.unparse(node)))
        elif key is not None and not key[0].startswith("*"):  # `*` first: the caller's key
            found.append(Use(module, key[0], write, key[1]))

    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and is_session_state(node.value):
            add(node.slice, not isinstance(node.ctx, ast.Load))
        elif isinstance(node, ast.Compare) and any(is_session_state(c) for c in node.comparators):
            add(node.left, False)
        elif isinstance(node, ast.Call) and is_session_state(getattr(node.func, "value", None)):
            method = node.func.attr
            for key in update_keys(node, tree) if method == "update" else node.args[:1]:
                add(key, method in WRITES)
        if isinstance(node, ast.Call) and writer_name(node.func) in WRITERS and node.args:
            add(node.args[0], True)  # keys.keep(key, default)
        if isinstance(node, ast.Call):  # a widget's key: the widget writes it
            for keyword in node.keywords:
                if keyword.arg == "key" and read_key(keyword.value) is not None:
                    add(keyword.value, True)
    return found, unread


def writer_name(function: ast.AST) -> str | None:
    """The name of a function called from the keys module (`keep(...)`, `keys.keep(...)`)."""
    if isinstance(function, ast.Name):
        return function.id
    if isinstance(function, ast.Attribute) and KeyReader.is_keys_module(function.value):
        return function.attr
    return None


def update_keys(call: ast.Call, tree: ast.Module) -> list[ast.AST]:
    """The keys `session_state.update(x)` sets: x's literal keys, or those of the local dict x."""
    (argument,) = call.args
    if isinstance(argument, ast.Dict):
        return argument.keys
    if not isinstance(argument, ast.Name):
        return [argument]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == argument.id for t in node.targets
        ):
            value = node.value
            found += value.keys if isinstance(value, ast.Dict) else []
            found += [value.key] if isinstance(value, ast.DictComp) else []
        elif (
            isinstance(node, ast.Subscript)
            and isinstance(node.ctx, ast.Store)
            and isinstance(node.value, ast.Name)
            and node.value.id == argument.id
        ):
            found.append(node.slice)
    return found or [argument]


def owners_of(key: str) -> tuple[str, ...] | None:
    for pattern, owners in keys.OWNERS.items():
        if fnmatch.fnmatchcase(key, pattern):
            return owners
    return None


def problems(sources: dict[str, str]) -> list[str]:
    """Writes by a module that does not own the key; keys shared but not named in keys.py."""
    found, unread = [], []
    for module, source in sources.items():
        module_uses, module_unread = uses(module, source)
        found += module_uses
        unread += sorted(module_unread - UNREAD)
    wrong = [
        f"{u.module} writes {u.key!r}, owned by {owners_of(u.key)}"
        for u in found
        if u.write and owners_of(u.key) is not None and u.module not in owners_of(u.key)
    ]
    by_key: dict[str, set[str]] = {}
    for use in found:
        by_key.setdefault(use.key, set()).add(use.module)
    for key, users in sorted(by_key.items()):
        if len(users) > 1 and owners_of(key) is None:
            wrong.append(f"{key!r} is used by {sorted(users)} but not named in keys.OWNERS")
    wrong += [
        f"{u.module} spells the shared key {u.key!r} itself"
        for u in found
        if not u.named and len(by_key[u.key]) > 1
    ]
    wrong += [f"{module} writes a key the scan cannot read: {text}" for module, text in unread]
    return wrong


def test_no_module_writes_a_key_it_does_not_own_and_shared_keys_are_named():
    sources = modules()
    assert problems(sources) == []
    found = [use for module, source in sources.items() for use in uses(module, source)[0]]
    # the scan sees the keys it is about: the Train form's fields, written by the form
    assert any(u.key == "train_*" and u.write and u.named for u in found)
    assert {u.module for u in found if u.key == keys.TRAIN_SETTINGS} >= {
        "mnist_app/ui/run_results.py",  # the coach's "try next" puts its settings in the form
        "mnist_app/ui/train_form.py",
    }


@pytest.mark.parametrize(
    "module, line, complaint",
    [
        ("pages/train.py", 'st.session_state["sweep_field"] = "dropout"', "owned by"),
        ("pages/sweeps.py", 'st.session_state[f"train_{name}"] = 1', "owned by"),
        ("pages/runs.py", 'st.session_state.pop("train_settings", None)', "owned by"),
        ("pages/sweeps.py", 'st.session_state.update({"train_preset": ""})', "owned by"),
        ("pages/runs.py", 'x = st.session_state.get("draw_model")', "not named"),
        ("pages/train.py", 'x = st.session_state["train_preset"]', "spells the shared key"),
        ("pages/train.py", "st.session_state[key_of_another_page()] = 1", "cannot read"),
    ],
)
def test_the_scan_finds_a_page_writing_another_pages_key(module, line, complaint):
    sources = modules()
    sources[module] += f"\n\ndef added():\n    {line}\n"
    found = problems(sources)
    assert any(complaint in problem for problem in found), found


def test_a_sweep_request_opens_the_sweeps_form_once_and_is_removed():
    request = keys.SweepRequest("width", ("16", "64"))
    at = open_page("pages/sweeps.py", session={keys.HANDOFFS[keys.SweepRequest]: request}, new="1")
    assert at.selectbox(key="sweep_field").value == "width"
    assert at.multiselect(key="sweep_values_width").value == ["16", "64"]
    assert keys.HANDOFFS[keys.SweepRequest] not in at.session_state
    at.selectbox(key="sweep_field").set_value("dropout").run()  # the student's choice now
    assert at.selectbox(key="sweep_field").value == "dropout" and not at.exception
