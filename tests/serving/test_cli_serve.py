"""`stylex serve` as a process, `stylex explain --server`, and SIGTERM draining."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from stylex.cli import main
from tests.conftest import catalog_attributes

from .conftest import MODEL_DIR


@pytest.mark.slow
def test_serve_explain_server_and_sigterm(tmp_path, images):
    from stylex.serving.client import ExplainClient

    env = {**os.environ, "STYLEX_METRICS_PORT": "0", "STYLEX_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "stylex", "serve", "--model", str(MODEL_DIR),
         "--address", "127.0.0.1:0", "--port-file", str(tmp_path / "address")],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        # The server binds port 0 and says which port it got once it is SERVING.
        lines, match = [], None
        for line in proc.stdout:
            lines.append(line)
            if match := re.match(r"stylex: serving \S+ on (127\.0\.0\.1:\d+)$", line.strip()):
                break
        assert match, "".join(lines)
        address = match.group(1)
        assert (tmp_path / "address").read_text() == f"{address}\n"  # for a parent process
        with ExplainClient(address, timeout=30) as client:
            assert client.health() == "SERVING"
        image = tmp_path / "red.png"
        image.write_bytes(images[0])
        out = tmp_path / "out"
        assert (
            main(["explain", "--server", address, str(image), "--out", str(out), "--top-k", "2"])
            == 0
        )
        result = json.loads((out / "red" / "explanation.json").read_text())
        assert len(result["attributes"]) == catalog_attributes(2)
        assert (out / "red" / f"counterfactual-{catalog_attributes(2)}.png").stat().st_size > 0
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


@pytest.mark.slow
def test_serve_http_port_reports_draining_then_exits(tmp_path, images):
    """STYLEX_HTTP_PORT=0: the port file's second line is the HTTP address; on SIGTERM the
    HTTP readiness turns 503 during the drain delay while gRPC reports NOT_SERVING, then the
    process exits 0."""
    import urllib.error
    import urllib.request

    from stylex.serving.client import ExplainClient

    env = {**os.environ, "STYLEX_METRICS_PORT": "0", "STYLEX_THREADS": "1",
           "STYLEX_HTTP_PORT": "0"}  # fmt: skip
    port_file = tmp_path / "address"
    proc = subprocess.Popen(
        [sys.executable, "-m", "stylex", "serve", "--model", str(MODEL_DIR), "--address",
         "127.0.0.1:0", "--port-file", str(port_file), "--drain-delay-s", "3"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if re.match(r"stylex: serving \S+ on 127\.0\.0\.1:\d+, HTTP on 127\.0\.0\.1:\d+$",
                        line.strip()):  # fmt: skip
                break
        else:
            pytest.fail("".join(lines))
        grpc_address, http_address = port_file.read_text().splitlines()

        def ready() -> int:
            try:
                with urllib.request.urlopen(f"http://{http_address}/v2/health/ready", timeout=10):
                    return 200
            except urllib.error.HTTPError as e:
                return e.code

        assert ready() == 200
        req = urllib.request.Request(
            f"http://{http_address}/v1/explain?top_k=1", data=images[0],
            headers={"Content-Type": "image/png"},
        )  # fmt: skip
        with urllib.request.urlopen(req, timeout=30) as resp:
            assert len(json.loads(resp.read())["attributes"]) == 1
        proc.send_signal(signal.SIGTERM)
        with ExplainClient(grpc_address, timeout=10) as client:
            wait = 0
            while client.health() == "SERVING" and wait < 100:  # the signal is handled at once
                wait += 1
                time.sleep(0.05)
        assert ready() == 503  # still listening (the drain delay), no longer ready
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
