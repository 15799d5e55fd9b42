"""The engine stands on its own: every mnist_app module but the ui package imports without
Streamlit."""

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
for module in pkgutil.iter_modules(mnist_app.__path__):
    if module.name not in ("ui", "__main__"):
        importlib.import_module(f"mnist_app.{module.name}")
print("ok")
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
