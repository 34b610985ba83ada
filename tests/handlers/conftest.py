"""A tiny exported model (as tests/export builds it) and the handler module loaded from its file."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.export.model_fixtures import attfind_run, exported_model

HANDLER_FILE = Path(__file__).resolve().parents[2] / "handlers" / "stylex_handler.py"


@pytest.fixture(scope="session")
def handler_model_dir(trained_run, tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("handlers")
    return exported_model(attfind_run(trained_run, tmp), tmp)


@pytest.fixture(scope="session")
def handler_module():
    spec = importlib.util.spec_from_file_location("stylex_handler", HANDLER_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
