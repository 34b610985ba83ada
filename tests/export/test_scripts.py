"""The scripts in the repository's export/ folder, run as a user runs them, on a tiny model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from stylex.runtime import read_model_dir
from stylex.runtime.model_dir import GRAPHS
from tests.export.model_fixtures import attfind_run

EXPORT_DIR = Path(__file__).resolve().parents[2] / "export"


def _script(name: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(EXPORT_DIR / name), *args],
        cwd=cwd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip


@pytest.fixture(scope="module")
def exported(trained_run, tmp_path_factory) -> tuple[Path, dict]:
    tmp = tmp_path_factory.mktemp("scripts")
    run_dir = attfind_run(trained_run, tmp)
    done = _script("export_model.py", str(run_dir), "--out", "store", "--name", "tiny", cwd=tmp)
    assert done.returncode == 0, done.stderr
    return tmp, json.loads(done.stdout)


def test_export_model_writes_a_verified_directory_and_its_parity(exported):
    tmp, result = exported
    model_dir = tmp / "store" / "tiny" / "1"
    assert result["model_dir"] == "store/tiny/1"
    assert read_model_dir(model_dir).class_names == ["not_red", "red"]
    assert set(result["parity_max_abs"]) == {*GRAPHS, "generator"}  # style -> synthesis chained
    for graph, per_batch in result["parity_max_abs"].items():
        assert set(per_batch) == {"1", "3", "8"}
        assert max(per_batch.values()) <= 1e-4, graph


def test_export_model_refuses_an_existing_version_with_one_line(exported):
    tmp, _ = exported
    done = _script("export_model.py", "run", "--out", "store", "--name", "tiny", cwd=tmp)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"stylex: error: {Path('store/tiny/1')} already exists; refusing to overwrite a version"
    ]


def test_archive_builds_the_mar_and_its_config(exported):
    tmp, _ = exported
    args = ("store/tiny/1", "--out", "mar", "--name", "tiny", "--batch-size", "4")
    done = _script("archive.py", *args, cwd=tmp)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "archive: mar/tiny.mar"
    with zipfile.ZipFile(tmp / "mar" / "tiny.mar") as z:
        names = set(z.namelist())
    assert {"manifest.json", "classifier.onnx", "stylex_handler.py"} <= names
    assert '"batchSize": 4' in (tmp / "mar" / "config.properties").read_text()


def test_scripts_show_the_verbs_flags():
    for name, flag in (("export_model.py", "--fp16-device"), ("archive.py", "--max-batch-delay")):
        done = _script(name, "--help", cwd=EXPORT_DIR)
        assert done.returncode == 0 and flag in done.stdout, done.stderr
        assert done.stdout.startswith(f"usage: export/{name}")
