"""Two training processes under torchrun with the gloo backend, on the CPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from stylex.rundir import latest_checkpoint
from tests.conftest import TEST_RESOLUTION


@pytest.mark.slow
def test_torchrun_two_processes_gloo(tmp_path, shapes_classifier):
    run = tmp_path / "ddp"
    cmd = [
        sys.executable, "-m", "torch.distributed.run",
        "--standalone", "--nproc_per_node", "2",  # a rendezvous on a port of its own choosing
        "-m", "stylex.cli", "train", "--preset", "tiny", "--data", "shapes",
        "--num-images", "64", "--resolution", str(TEST_RESOLUTION),
        "--classifier", str(shapes_classifier), "--run-dir", str(run),
        "--steps", "3", "--batch-size", "8", "--device", "cpu", "--no-progress",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    config = json.loads((run / "config.json").read_text())
    assert config["world_size"] == 2
    state = json.loads((latest_checkpoint(run) / "state.json").read_text())
    assert state["step"] == 3
    assert state["kind_counts"] == {"encoder": 2, "random": 1}
    digests = state["replica_digests"]  # both processes held the very same weights
    assert len(digests) == 2 and digests[0] == digests[1]
