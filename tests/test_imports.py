"""Every `from stylex... import name` in the repository resolves, the lazy ones inside functions
included: a name moved or renamed breaks this test, not a user's run of a rarely used path."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FOLDERS = ("src/stylex", "bench", "export", "handlers", "docs/scripts")


def _imports() -> list[tuple[str, int, str, str]]:
    found = []
    for folder in FOLDERS:
        for path in sorted((REPO / folder).rglob("*.py")):
            if "/gen/" in path.as_posix():
                continue
            tree = ast.parse(path.read_text(), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    if node.module == "stylex" or node.module.startswith("stylex."):
                        for alias in node.names:
                            rel = path.relative_to(REPO).as_posix()
                            found.append((rel, node.lineno, node.module, alias.name))
    return found


IMPORTS = _imports()


def test_the_walk_finds_lazy_imports():
    lazy = [i for i in IMPORTS if i[0] == "src/stylex/commands/explain.py"]
    assert len(IMPORTS) > 300 and lazy  # commands import their work inside run()


@pytest.mark.parametrize("source", sorted({path for path, _, _, _ in IMPORTS}))
def test_imports_resolve(source):
    missing = []
    for path, line, module, name in IMPORTS:
        if path != source:
            continue
        mod = importlib.import_module(module)
        if name == "*" or hasattr(mod, name):
            continue
        try:
            importlib.import_module(f"{module}.{name}")  # a submodule
        except ModuleNotFoundError:
            missing.append(f"{path}:{line}: from {module} import {name}")
    assert not missing, "\n".join(missing)
