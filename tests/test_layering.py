"""The house keeps its walls: every mnist_app module but the ui package imports without
Streamlit, no module imports itself back round a cycle, and imports run down the wings only."""

import ast
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BLOCK_STREAMLIT = """
import importlib, importlib.abc, pkgutil, sys

class NoStreamlit(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "streamlit" or name.startswith("streamlit."):
            raise ImportError(f"{name} imported")

sys.meta_path.insert(0, NoStreamlit())
import mnist_app
count = 0
for module in pkgutil.walk_packages(mnist_app.__path__, "mnist_app."):
    if module.name != "mnist_app.__main__" and not module.name.startswith("mnist_app.ui"):
        importlib.import_module(module.name)
        count += 1
print("ok" if count > 40 else f"only {count} modules found")
"""


def test_every_engine_module_imports_without_streamlit():
    done = subprocess.run(
        [sys.executable, "-c", BLOCK_STREAMLIT], cwd=PROJECT_ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def test_only_the_ui_package_and_the_pages_import_streamlit():
    importers = sorted(
        str(path.relative_to(PROJECT_ROOT))
        for path in (PROJECT_ROOT / "mnist_app").rglob("*.py")
        if "import streamlit" in path.read_text(encoding="utf-8")
        or "from streamlit" in path.read_text(encoding="utf-8")
    )
    assert importers, "the ui package imports streamlit: the search above is broken"
    assert [path for path in importers if not path.startswith("mnist_app/ui/")] == []


# --- import cycles -------------------------------------------------------------------------------
def module_name(root: Path, path: Path) -> str:
    """`mnist_app/ui/__init__.py` -> `mnist_app.ui`; `pages/train.py` -> `pages.train`."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(name: str, is_package: bool, tree: ast.AST, known: set[str]):
    """(module, line) for each of our modules this module's code imports, at any depth (inside
    functions too). An import counts for the module it names: `from mnist_app import cli` for
    `mnist_app.cli` when that is a module, `from mnist_app.ui import t` for `mnist_app.ui`. The
    parent packages Python runs first are not counted, so a package's `__init__` may import its
    own modules, which then must not import the package back."""
    here = name if is_package else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield from _deepest_known(alias.name, known, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = here.split(".")
                package = package[: len(package) - (node.level - 1)]
                base = ".".join([*package, base] if base else package)
            for alias in node.names:
                if f"{base}.{alias.name}" in known:
                    yield f"{base}.{alias.name}", node.lineno
                else:
                    yield from _deepest_known(base, known, node.lineno)


def _deepest_known(dotted: str, known: set[str], line: int):
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in known:
            yield ".".join(parts[:end]), line
            return


def import_graph(root: Path, paths: list[Path]) -> dict[str, dict[str, int]]:
    """For each module, the modules among `paths` it imports, with the line of the first."""
    names = {module_name(root, path): path for path in paths}
    graph: dict[str, dict[str, int]] = {}
    for name, path in names.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        edges = graph.setdefault(name, {})
        for target, line in imported_modules(name, path.name == "__init__.py", tree, set(names)):
            edges[target] = min(line, edges.get(target, line))
    return graph


def import_cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Each group of modules that import each other, round in a cycle (Tarjan's strongly
    connected components of more than one module, or a module that imports itself)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in graph.get(module, {}):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = []
            while not group or group[-1] != module:
                group.append(stack.pop())
            if len(group) > 1 or module in graph.get(module, {}):
                groups.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return sorted(groups)


def cycle_report(graph: dict[str, dict[str, int]], groups: list[list[str]]) -> str:
    """Each cycle's modules, and who imports whom within it (with the line)."""
    lines = []
    for group in groups:
        lines.append("cycle: " + ", ".join(group))
        for module in group:
            for target, line in sorted(graph[module].items()):
                if target in group:
                    lines.append(f"  {module} (line {line}) imports {target}")
    return "\n".join(lines)


def project_sources(root: Path) -> list[Path]:
    return [*sorted((root / "mnist_app").rglob("*.py")), root / "app.py",
            *sorted((root / "pages").glob("*.py"))]  # fmt: skip


def write_tree(root: Path, files: dict[str, str]) -> list[Path]:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return sorted(root / name for name in files)


# A package whose imports run one way only, in every form the cycle test reads.
ACYCLIC = {
    "pkg/__init__.py": "from . import access\nfrom pkg.words import t\n",
    "pkg/words.py": "import os\n\ndef t(key):\n    return key\n",
    "pkg/access.py": "from .words import t\n",
    "pkg/cli/__init__.py": "from pkg.cli import train\nfrom .shared import flags\n",
    "pkg/cli/shared.py": "def flags():\n    from pkg import words\n",
    "pkg/cli/train.py": "def run():\n    from .. import access\n    from .shared import flags\n",
    "pkg/engine.py": "import pkg.words\n",
    "app.py": "import pkg.cli\nfrom pkg import engine\n",
}
# The same, with one import back up in each of three places.
CYCLIC = ACYCLIC | {
    # the package's __init__ imports access, which imports the package back
    "pkg/access.py": "from .words import t\nfrom pkg import t as again\n",
    # a command imports the entry point back, inside a function, relatively
    "pkg/cli/train.py": "def run():\n    from . import flags\n    from ..cli import shared\n",
    # `from pkg import words` names a submodule; words imports engine, which imports words
    "pkg/words.py": "def t(key):\n    import pkg.engine.thing\n    return key\n",
}


def test_the_cycle_finder_finds_cycles_through_inits_functions_and_relative_imports(tmp_path):
    graph = import_graph(tmp_path, write_tree(tmp_path, CYCLIC))
    groups = import_cycles(graph)
    assert groups == [
        ["pkg", "pkg.access"], ["pkg.cli", "pkg.cli.train"], ["pkg.engine", "pkg.words"]
    ]  # fmt: skip
    report = cycle_report(graph, groups)
    assert "cycle: pkg, pkg.access\n" in report
    assert "  pkg.cli.train (line 2) imports pkg.cli\n" in report
    assert graph["pkg.cli.train"] == {"pkg.cli": 2, "pkg.cli.shared": 3}


def test_the_cycle_finder_passes_a_package_whose_imports_run_one_way(tmp_path):
    graph = import_graph(tmp_path, write_tree(tmp_path, ACYCLIC))
    assert graph["pkg"] == {"pkg.access": 1, "pkg.words": 2}  # imports were read: none counted
    assert graph["pkg.cli"] == {"pkg.cli.train": 1, "pkg.cli.shared": 2}
    assert graph["pkg.cli.train"] == {"pkg.access": 2, "pkg.cli.shared": 3}
    assert graph["pkg.cli.shared"] == {"pkg.words": 2}
    assert graph["app"] == {"pkg.cli": 1, "pkg.engine": 2}
    assert import_cycles(graph) == []


def test_no_module_imports_itself_round_a_cycle():
    graph = import_graph(PROJECT_ROOT, project_sources(PROJECT_ROOT))
    assert {"mnist_app.ui", "mnist_app.ui.access", "app", "pages.train"} <= set(graph)
    groups = import_cycles(graph)
    assert groups == [], "import cycles:\n" + cycle_report(graph, groups)


# --- the wings -----------------------------------------------------------------------------------
# The order of the wings, highest first: a module may import from its own wing or any wing below
# it, never from one above. Wings on one line are peers (they may import each other, the cycle
# test above still holding). The package's own few top-level modules are the floor, under all.
WINGS = (
    ("app", "pages", "mnist_app.ui", "mnist_app.cli", "mnist_app.__main__"),  # the two faces
    ("mnist_app.figures",),  # plotly figures and the live JSON
    # what the app teaches with: sweeps and lessons, what a network sees, reading a drawing
    ("mnist_app.experiments", "mnist_app.inspect", "mnist_app.drawing"),
    ("mnist_app.runs",),  # the store and the managers
    ("mnist_app.engine",),  # config, plans, data, models, training
    ("mnist_app.text", "mnist_app.i18n", "mnist_app"),  # the floor: typed text, translations
)
MAX_TOP_LEVEL_MODULES = 8
MAX_MODULE_LINES = 400


def wing_of(module: str) -> int:
    """The rank of the wing `module` lives in (0 the highest), by its longest matching prefix."""
    best, rank = "", None
    for index, wing in enumerate(WINGS):
        for prefix in wing:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > len(best):
                best, rank = prefix, index
    if rank is None:
        raise AssertionError(f"{module} is in no wing: add its wing to WINGS")
    return rank


def upward_imports(graph: dict[str, dict[str, int]]) -> list[str]:
    """Every import from a lower wing to a higher one, as `importer (line n) imports imported`."""
    return [
        f"{module} (line {line}) imports {target}"
        for module, targets in sorted(graph.items())
        for target, line in sorted(targets.items())
        if wing_of(target) < wing_of(module)
    ]


def test_the_wing_check_finds_an_import_that_runs_up():
    graph = {
        "mnist_app.engine.training": {"mnist_app.runs.store": 25, "mnist_app.text": 3},
        "mnist_app.figures.charts": {"mnist_app.experiments.sweeps": 9},
        "mnist_app.drawing.predict": {"mnist_app.inspect.inside": 4, "mnist_app.ui": 7},
    }
    assert upward_imports(graph) == [
        "mnist_app.drawing.predict (line 7) imports mnist_app.ui",
        "mnist_app.engine.training (line 25) imports mnist_app.runs.store",
    ]


def test_imports_run_down_the_wings_only():
    graph = import_graph(PROJECT_ROOT, project_sources(PROJECT_ROOT))
    assert len(graph) > 60 and "mnist_app.engine.training" in graph
    assert upward_imports(graph) == []


def test_a_newcomer_reads_the_plan_from_the_folder_list():
    package = PROJECT_ROOT / "mnist_app"
    top_level = sorted(path.name for path in package.glob("*.py"))
    assert len(top_level) <= MAX_TOP_LEVEL_MODULES, top_level
    wings = [path for path in package.iterdir() if (path / "__init__.py").is_file()]
    assert len(wings) >= 6
    for wing in wings:
        assert ast.get_docstring(ast.parse((wing / "__init__.py").read_text(encoding="utf-8"))), (
            wing
        )
    long = {
        str(path.relative_to(PROJECT_ROOT)): lines
        for path in package.rglob("*.py")
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def test_the_readme_s_layout_lists_the_wings_in_the_order_imports_run():
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## What is inside") : readme.index("## Command line")]
    block = section[section.index("```\n") + 4 : section.index("\n```", section.index("```\n") + 4)]
    listed = [
        line.split()[0].rstrip(",").removesuffix("/").removesuffix(".py")
        for line in block.splitlines()
    ]
    wings = [p.replace(".", "/") for wing in WINGS for p in wing if p.startswith("mnist_app.")]
    shown = [name for name in listed if name.startswith("mnist_app/")]
    assert shown == [w for w in wings if w in shown]  # the README's lines keep the test's order
    packages = {w for w in wings if (PROJECT_ROOT / w / "__init__.py").is_file()}
    assert packages and packages <= set(shown)  # and every wing is there
