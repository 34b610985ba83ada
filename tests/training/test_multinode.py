"""The multi-node Job's own command, run as two nodes on loopback: two torchrun process groups
(`--nnodes 2 --node_rank i`, c10d rendezvous), one gloo worker each, the tiny preset on the CPU.

The script and its environment are read from k8s/jobs/train-multinode/job.yaml, so what runs
here is what the pods run; only the values that name the cluster's resources (run directory,
rendezvous endpoint, GPUs per node, training options) are replaced.

The rendezvous store is a TCPStore this test binds to port 0 and holds, standing in for the one
pod 0's torchrun hosts: both nodes find the port taken and join it as clients, the path every
pod but pod 0 takes. No port is picked and then released, so nothing can take it in between.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from safetensors.torch import load_file
from torch.distributed import TCPStore

from stylex.rundir import latest_checkpoint
from stylex.training.distributed import state_digest
from tests.conftest import TEST_RESOLUTION

JOB_YAML = Path(__file__).resolve().parents[2] / "k8s" / "jobs" / "train-multinode" / "job.yaml"
NUM_NODES = 2
BATCH_SIZE = 8  # global: 4 images per node
MODULES = ("G", "G_ema", "E", "D")


def node_command() -> tuple[list[str], dict[str, str]]:
    """The container's command line and its literal environment, as the manifest writes them."""
    (job,) = [doc for doc in yaml.safe_load_all(JOB_YAML.read_text()) if doc]
    (container,) = job["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    return container["command"] + container["args"], env


def start_nodes(
    run_dir: Path, classifier: Path, steps: int, logs: Path
) -> tuple[TCPStore, list[subprocess.Popen]]:
    """A fresh rendezvous store (a replaced pod 0 hosts a new one) and the nodes joining it."""
    command, manifest_env = node_command()
    train_args = [
        "--preset", "tiny", "--data", "shapes", "--num-images", "32",
        "--resolution", str(TEST_RESOLUTION), "--classifier", str(classifier),
        "--steps", str(steps), "--batch-size", str(BATCH_SIZE), "--device", "cpu",
        "--no-progress", "--set", "checkpoint_every=2", "--set", "log_every=1",
    ]  # fmt: skip
    store = TCPStore("127.0.0.1", 0, is_master=True, multi_tenant=True, wait_for_workers=False)
    nodes = []
    for rank in range(NUM_NODES):
        env = {
            **os.environ,
            **manifest_env,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",  # torchrun
            "OMP_NUM_THREADS": "1",
            "HOME": os.environ.get("HOME", "/tmp"),
            "JOB_COMPLETION_INDEX": str(rank),
            "NUM_NODES": str(NUM_NODES),
            "NUM_GPUS": "1",  # one CPU worker per node
            "RDZV_ENDPOINT": f"127.0.0.1:{store.port}",
            "RDZV_ID": "stylex-test",
            "RUN_DIR": str(run_dir),
            "TRAIN_ARGS": " ".join(train_args),
        }
        with open(logs / f"node{rank}.log", "ab") as log:  # the child keeps its own handle
            nodes.append(subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT))
    return store, nodes


def wait_all(nodes: list[subprocess.Popen], logs: Path, timeout_s: float = 240) -> list[int]:
    try:
        return [node.wait(timeout=timeout_s) for node in nodes]
    except subprocess.TimeoutExpired:
        for node in nodes:
            kill_node(node)
        pytest.fail("nodes did not finish:\n" + tail(logs))


def kill_node(node: subprocess.Popen) -> int:
    """SIGKILL a node as a lost machine dies: its torchrun and the workers, which torchrun
    starts in sessions of their own (found through /proc). Returns how many workers it killed."""
    workers = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # exited meanwhile
            continue
        if int(fields[1]) == node.pid:  # the parent's pid
            workers.append(int(stat.parent.name))
    for pid in [node.pid, *workers]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return len(workers)


def tail(logs: Path) -> str:
    return "\n".join(f"{p.name}: {p.read_text()[-2000:]}" for p in sorted(logs.glob("*.log")))


def checkpoint_digest(ckpt: Path) -> str:
    return state_digest({name: load_file(ckpt / f"{name}.safetensors") for name in MODULES})


def assert_one_consistent_checkpoint(run_dir: Path, step: int) -> None:
    """The newest checkpoint is `step`, both ranks held exactly its weights when it was
    written, and no half-written checkpoint is left beside it."""
    ckpt = latest_checkpoint(run_dir)
    assert ckpt is not None and ckpt.name == f"step-{step:06d}"
    state = json.loads((ckpt / "state.json").read_text())
    assert state["step"] == step
    digests = state["replica_digests"]
    assert len(digests) == NUM_NODES and len(set(digests)) == 1, digests
    assert checkpoint_digest(ckpt) == digests[0], "the files differ from the ranks' weights"
    leftovers = [p.name for p in (run_dir / "checkpoints").iterdir() if p.name.startswith(".")]
    assert leftovers == []
    config = json.loads((run_dir / "config.json").read_text())
    assert config["world_size"] == NUM_NODES


def logged_steps(run_dir: Path) -> list[int]:
    with open(run_dir / "log.csv") as f:
        return [int(row["step"]) for row in csv.DictReader(f)]


@pytest.mark.slow
def test_two_nodes_train_in_lockstep(tmp_path, shapes_classifier):
    run_dir, logs = tmp_path / "run", tmp_path / "logs"
    logs.mkdir()
    _store, nodes = start_nodes(run_dir, shapes_classifier, steps=4, logs=logs)
    assert wait_all(nodes, logs) == [0, 0], tail(logs)
    assert_one_consistent_checkpoint(run_dir, step=4)
    assert logged_steps(run_dir) == [1, 2, 3, 4]


@pytest.mark.slow
def test_killed_node_fails_the_run_and_both_resume(tmp_path, shapes_classifier):
    run_dir, logs = tmp_path / "run", tmp_path / "logs"
    logs.mkdir()
    steps = 12
    _store, nodes = start_nodes(run_dir, shapes_classifier, steps=steps, logs=logs)
    deadline = time.monotonic() + 240
    while latest_checkpoint(run_dir) is None:  # the first checkpoint (step 2) is written
        assert nodes[0].poll() is None and nodes[1].poll() is None, tail(logs)
        assert time.monotonic() < deadline, tail(logs)
        time.sleep(0.02)
    assert kill_node(nodes[1]) == 1  # node 1: its torchrun and its one worker
    returncodes = wait_all(nodes, logs)
    assert returncodes[1] == -signal.SIGKILL
    assert returncodes[0] != 0, "node 0 finished without its peer"
    ckpt = latest_checkpoint(run_dir)
    assert ckpt is not None
    killed_at = int(ckpt.name.removeprefix("step-"))
    assert 2 <= killed_at < steps, "the kill came after the run had ended"

    # Both nodes start again with the same command, as the Job's replacement pods do.
    _store, nodes = start_nodes(run_dir, shapes_classifier, steps=steps, logs=logs)
    assert wait_all(nodes, logs) == [0, 0], tail(logs)
    assert_one_consistent_checkpoint(run_dir, step=steps)
    # Resumed, not restarted: every step logged once, rows after the checkpoint dropped.
    assert logged_steps(run_dir) == list(range(1, steps + 1))
