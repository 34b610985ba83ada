"""An installed wheel, run from outside the repository, finds and serves the shipped model."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from stylex.runtime.model_dir import SHIPPED_MODEL

REPO = Path(__file__).resolve().parents[1]
BUILD_INPUTS = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md")
HANDLER = Path("handlers") / "stylex_handler.py"


def _copy_build_inputs(dest: Path) -> None:
    """What a wheel is built from, copied so the build writes nothing into the checkout."""
    for name in BUILD_INPUTS:
        shutil.copy2(REPO / name, dest / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    shutil.copytree(REPO / "src", dest / "src", ignore=ignore)
    shutil.copytree(REPO / SHIPPED_MODEL, dest / SHIPPED_MODEL)
    (dest / HANDLER).parent.mkdir()
    shutil.copy2(REPO / HANDLER, dest / HANDLER)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv holding the stylex wheel; its dependencies come from the test environment
    (a .pth line, which does not pull in the checkout's editable install)."""
    root = tmp_path_factory.mktemp("wheel")
    source, dist, venv = root / "source", root / "dist", root / "venv"
    source.mkdir()
    _copy_build_inputs(source)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(dist), str(source)],
        check=True,
        cwd=root,
    )
    (wheel,) = dist.glob("stylex-*.whl")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [*pip, "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)],
        check=True,
    )
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    deps = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    (Path(site) / "test-dependencies.pth").write_text("\n".join(sorted(deps)) + "\n")
    return venv


def _clean_env() -> dict[str, str]:
    drop = ("PYTHONPATH", "STYLEX_MODEL_DIR", "VIRTUAL_ENV")
    return {k: v for k, v in os.environ.items() if k not in drop}


def test_installed_package_verifies_its_shipped_model(installed, tmp_path):
    code = (
        "import json, stylex\n"
        "from stylex.runtime import read_model_dir\n"
        "from stylex.runtime.model_dir import default_model_dir\n"
        "model = read_model_dir(default_model_dir())\n"
        "print(json.dumps({'package': stylex.__file__, 'model': str(model.path),\n"
        "                  'files': sorted(model.manifest['files']),\n"
        "                  'graphs': {g: len(b) for g, b in model.graphs.items()}}))\n"
    )
    out = subprocess.run(
        [str(installed / "bin" / "python"), "-c", code],
        cwd=tmp_path, env=_clean_env(), check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    found = json.loads(out)
    # The wheel's copy, not the checkout's: the package and the model are inside the venv.
    assert Path(found["package"]).is_relative_to(installed)
    assert Path(found["model"]).is_relative_to(installed)
    assert Path(found["model"]).parts[-4:] == ("stylex", *SHIPPED_MODEL.parts)
    manifest = json.loads((REPO / SHIPPED_MODEL / "manifest.json").read_text())
    assert found["files"] == sorted(manifest["files"])
    assert found["graphs"] == {
        g: manifest["files"][manifest["graphs"][g]["file"]]["size_bytes"]
        for g in ("encoder", "style", "synthesis", "classifier")
    }


def test_installed_package_carries_the_torchserve_handler(installed, tmp_path):
    code = (
        "from stylex.serving.torchserve.archive import default_handler\nprint(default_handler())\n"
    )
    out = subprocess.run(
        [str(installed / "bin" / "python"), "-c", code],
        cwd=tmp_path, env=_clean_env(), check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    assert Path(out).is_relative_to(installed)
    assert Path(out).read_bytes() == (REPO / HANDLER).read_bytes()


def test_installed_package_carries_the_explain_page(installed, tmp_path):
    code = "from stylex.serving.http.app import STATIC\nprint(STATIC)\n"
    out = subprocess.run(
        [str(installed / "bin" / "python"), "-c", code],
        cwd=tmp_path, env=_clean_env(), check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    assert Path(out).is_relative_to(installed)
    source = REPO / "src" / "stylex" / "serving" / "http" / "static"
    assert sorted(p.name for p in Path(out).iterdir()) == sorted(p.name for p in source.iterdir())
    for name in ("index.html", "app.js", "style.css"):
        assert (Path(out) / name).read_bytes() == (source / name).read_bytes()


@pytest.mark.slow
def test_installed_stylex_serve_reports_serving_on_the_default_model(installed, tmp_path):
    env = {**_clean_env(), "STYLEX_THREADS": "1"}
    proc = subprocess.Popen(
        [str(installed / "bin" / "stylex"), "serve", "--address", "127.0.0.1:0",
         "--metrics-port", "0", "--device", "cpu"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("stylex: serving"):
                break
        assert lines and lines[-1].startswith("stylex: serving shapes32 on"), "".join(lines)
        port = int(lines[-1].rsplit(":", 1)[1])
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=10
            )
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
