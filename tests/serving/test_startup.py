"""Startup: the model is checked before the port is bound; any failure is one line on stderr,
a non-zero exit and no traceback (the traceback only with --debug)."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import sys

import pytest

from stylex.errors import ConfigError
from stylex.runtime.model_dir import ModelDirError
from stylex.serving.config import ServeConfig
from stylex.serving.server import ExplainServer

from .conftest import MODEL_DIR


@pytest.fixture(scope="module")
def tampered(tmp_path_factory):
    model = tmp_path_factory.mktemp("tampered") / "3"
    shutil.copytree(MODEL_DIR, model)
    with open(model / "style.onnx", "ab") as f:
        f.write(b"x")
    return model


def _stylex(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stylex", *args], capture_output=True, text=True, timeout=120
    )


def test_a_bad_model_fails_before_the_port_is_bound(tampered):
    server = ExplainServer(ServeConfig(model_dir=str(tampered), address="127.0.0.1:0",
                                       metrics_port=0))  # fmt: skip
    with pytest.raises(ModelDirError, match=r"style\.onnx has \d+ bytes, the manifest says"):
        asyncio.run(server.start())
    assert server.port == 0 and server._server is None  # nothing was ever listening


def test_serve_with_a_tampered_model_is_one_line_and_exit_2(tampered):
    with socket.socket() as s:  # the port stays ours: a server that bound first would fail
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        done = _stylex("serve", "--model", str(tampered), "--address", f"127.0.0.1:{port}",
                       "--metrics-port", "0")  # fmt: skip
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("stylex: error: model file") and "style.onnx" in lines[0]
    assert "Traceback" not in done.stderr and "Event loop is closed" not in done.stderr


def test_a_port_in_use_is_one_line(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        cfg = ServeConfig(model_dir=str(MODEL_DIR), address=f"127.0.0.1:{port}", metrics_port=0)
        server = ExplainServer(cfg)
        with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{port}"):
            asyncio.run(server.start())


def test_debug_shows_the_traceback(tampered):
    done = _stylex("--debug", "serve", "--model", str(tampered), "--address", "127.0.0.1:0",
                   "--metrics-port", "0")  # fmt: skip
    assert done.returncode != 0
    assert "Traceback" in done.stderr and "ModelDirError" in done.stderr


def test_an_unexpected_error_is_one_line(monkeypatch, capsys):
    from stylex import cli
    from stylex.commands import report

    def boom(args):
        raise KeyError("oops")

    monkeypatch.setattr(report, "run", boom)
    assert cli.main(["report", "somewhere"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["stylex: error: internal error (KeyError: 'oops'); run with --debug for the "
                   "traceback"]  # fmt: skip
