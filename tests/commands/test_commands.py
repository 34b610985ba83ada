"""The command modules: one per verb, all assembled by the CLI, and light to import."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import stylex.commands
from stylex.cli import COMMANDS, build_parser


def test_every_command_module_is_a_verb_of_the_cli():
    modules = {m.name for m in pkgutil.iter_modules(stylex.commands.__path__)}
    assert modules == {c.__name__.rpartition(".")[2] for c in COMMANDS}
    assert len(modules) == 13  # ... `label` and `prior` among them
    for command in COMMANDS:
        assert callable(command.add_arguments) and callable(command.run), command.__name__
        assert command.NAME == command.__name__.rpartition(".")[2].replace("_", "-")
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    # Each verb, followed by the old names it still answers to (`screen` for `prior`).
    names = [n for c in COMMANDS for n in (c.NAME, *getattr(c, "ALIASES", ()))]
    assert list(sub.choices) == names
    assert sub.choices["screen"] is sub.choices["prior"]


def test_building_the_parser_imports_no_torch():
    # `stylex --help` must not wait for torch, ONNX Runtime or gRPC: the verbs import their
    # work inside `run`.
    code = (
        "import sys\n"
        "from stylex.cli import build_parser\n"
        "build_parser().format_help()\n"
        "print(sorted(m for m in ('torch', 'onnxruntime', 'grpc', 'numpy') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    assert out.strip() == "[]"
