"""`stylex serve` as a process, `stylex explain --server`, and SIGTERM draining."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys

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
