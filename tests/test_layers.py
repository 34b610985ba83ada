"""Imports point one way: models <- training / explain / runtime <- serving / batch <- cli.

Every import in the package is read with `ast`, the lazy ones inside functions included, so a
layer that reaches up or sideways fails here, not at the next refactoring.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import stylex

PACKAGE_DIR = Path(stylex.__file__).resolve().parent

# importer prefix -> module prefixes it must not import. Every package and top-level module
# has a rule; "stylex" (the last) holds for all of them.
UPPER = ("stylex.training", "stylex.explain", "stylex.export", "stylex.runtime", "stylex.serving",
         "stylex.batch", "stylex.pipelines", "stylex.demo")  # fmt: skip
EXPLAIN_PARTS = ("stylex.explain.vocabulary", "stylex.explain.search", "stylex.explain.single",
                 "stylex.explain.evaluation", "stylex.explain.context")  # fmt: skip
OFFLINE = ("stylex.explain.evaluation", "stylex.pipelines")  # evaluation, reports, run jobs
LOWER = ("stylex.data", "stylex.classifiers", "stylex.models", "stylex.rundir", "stylex.device")
FORBIDDEN: dict[str, tuple[str, ...]] = {
    # the leaves: errors and files, then data, classifiers and the networks
    "stylex.errors": ("stylex.fileio", *LOWER, *UPPER),
    "stylex.fileio": ("stylex.errors", *LOWER, *UPPER),
    "stylex.device": ("stylex.data", "stylex.classifiers", "stylex.models", *UPPER),
    "stylex.data": ("stylex.classifiers", "stylex.models", "stylex.rundir", *UPPER),
    "stylex.classifiers": ("stylex.data", "stylex.models", "stylex.rundir", *UPPER),
    "stylex.models": ("stylex.data", "stylex.classifiers", "stylex.rundir", *UPPER),
    "stylex.rundir": UPPER,
    "stylex.training": ("stylex.explain", "stylex.export", "stylex.runtime", "stylex.serving",
                        "stylex.batch", "stylex.demo"),
    # explain/: vocabulary <- search <- single <- evaluation; context loads a run for the last
    "stylex.explain.vocabulary": EXPLAIN_PARTS[1:],
    "stylex.explain.search": EXPLAIN_PARTS[2:],
    "stylex.explain.single": EXPLAIN_PARTS[3:],
    "stylex.explain.context": EXPLAIN_PARTS[:4],
    "stylex.explain": ("stylex.training", "stylex.export", "stylex.runtime", "stylex.serving",
                       "stylex.batch", "stylex.pipelines", "stylex.demo"),
    # whole jobs over a run (AttFind, evaluation, the report): above explain and runtime
    "stylex.pipelines": ("stylex.training", "stylex.serving", "stylex.batch", "stylex.demo"),
    "stylex.export": ("stylex.training", "stylex.serving", "stylex.batch", "stylex.demo",
                      *OFFLINE),
    # what serves and what runs jobs never needs evaluation or reports
    "stylex.runtime": ("stylex.training", "stylex.export", "stylex.serving", "stylex.batch",
                       "stylex.demo", *OFFLINE),
    # the transports stand side by side over the service; the server assembles both
    "stylex.serving.grpc": ("stylex.serving.http", "stylex.serving.server"),
    "stylex.serving.http": ("stylex.serving.grpc", "stylex.serving.server"),
    "stylex.serving": ("stylex.training", "stylex.export", "stylex.batch", "stylex.demo", *OFFLINE),
    "stylex.batch": ("stylex.training", "stylex.export", "stylex.serving", "stylex.demo", *OFFLINE),
    "stylex.demo": ("stylex.training", "stylex.export", "stylex.batch"),
    "stylex": ("stylex.commands", "stylex.cli", "handlers", "tests", "bench"),
}  # fmt: skip
# Only the command line assembles the commands.
MAY_IMPORT_COMMANDS = ("stylex.__main__", "stylex.cli", "stylex.commands")


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, root: Path) -> set[str]:
    """Absolute names of every module `path` imports (relative imports resolved)."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            out.add(target)
            # `from stylex import training` imports the module stylex.training
            out.update(f"{target}.{alias.name}" for alias in node.names)
    return out


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def violations(package_dir: Path = PACKAGE_DIR) -> list[str]:
    """'importer imports imported (rule)' for every import that breaks a rule."""
    root = package_dir.parent
    found = []
    for path in sorted(package_dir.rglob("*.py")):
        importer = module_name(path, root)
        for imported in sorted(imported_modules(path, root)):
            for layer, banned in FORBIDDEN.items():
                if not within(importer, layer):
                    continue
                for prefix in banned:
                    if within(imported, prefix) and not (
                        within(importer, prefix)
                        or (
                            prefix in MAY_IMPORT_COMMANDS
                            and importer.startswith(MAY_IMPORT_COMMANDS)
                        )
                    ):
                        found.append(f"{importer} imports {imported} ({layer} !-> {prefix})")
    return sorted(set(found))


def test_imports_point_one_way() -> None:
    assert violations() == []


def test_the_walk_sees_lazy_and_relative_imports(tmp_path) -> None:
    # The check must be able to fail: a copy of the layout with upward imports is caught.
    models = tmp_path / "stylex" / "models"
    models.mkdir(parents=True)
    (tmp_path / "stylex" / "__init__.py").write_text("")
    (models / "__init__.py").write_text("from ..explain import attfind\n")
    (models / "probe.py").write_text("def f():\n    from ..training import trainer\n")
    (tmp_path / "stylex" / "rundir.py").write_text("import bench.engine\n")
    assert violations(tmp_path / "stylex") == [
        "stylex.models imports stylex.explain (stylex.models !-> stylex.explain)",
        "stylex.models imports stylex.explain.attfind (stylex.models !-> stylex.explain)",
        "stylex.models.probe imports stylex.training (stylex.models !-> stylex.training)",
        "stylex.models.probe imports stylex.training.trainer (stylex.models !-> stylex.training)",
        "stylex.rundir imports bench.engine (stylex !-> bench)",
    ]


@pytest.mark.parametrize(
    "importer, imported",
    [("stylex.rundir", "stylex.training.checkpoint"), ("stylex.explain", "stylex.training")],
)
def test_rules_cover_the_known_cycles(importer: str, imported: str) -> None:
    assert any(
        within(importer, layer) and any(within(imported, p) for p in banned)
        for layer, banned in FORBIDDEN.items()
    )
