"""`stylex serve` as a process, `stylex explain --server`, and SIGTERM draining."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from stylex.cli import main

from .conftest import MODEL_DIR


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_serve_explain_server_and_sigterm(tmp_path, images):
    from stylex.serving.client import ExplainClient

    port = _free_port()
    env = {**os.environ, "STYLEX_METRICS_PORT": "0", "STYLEX_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "stylex", "serve", "--model", str(MODEL_DIR),
         "--address", f"127.0.0.1:{port}"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        address = f"127.0.0.1:{port}"
        with ExplainClient(address, timeout=2) as client:
            for _ in range(100):
                try:
                    if client.health() == "SERVING":
                        break
                except Exception:
                    pass
                time.sleep(0.1)
            assert client.health() == "SERVING"
        image = tmp_path / "red.png"
        image.write_bytes(images[0])
        out = tmp_path / "out"
        assert (
            main(["explain", "--server", address, str(image), "--out", str(out), "--top-k", "2"])
            == 0
        )
        result = json.loads((out / "red" / "explanation.json").read_text())
        assert len(result["attributes"]) == 2
        assert (out / "red" / "counterfactual-2.png").stat().st_size > 0
        assert (out / "red" / "reconstruction.png").stat().st_size > 0
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_explain_needs_run_dir_or_server(capsys):
    assert main(["explain", "x.png"]) == 2
    assert "--server" in capsys.readouterr().err
