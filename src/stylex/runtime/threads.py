"""How many CPU threads a process may use: the container's CPU limit, not the host's cores."""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def cpu_limit(cgroup_root: Path = CGROUP_ROOT) -> int:
    """CPUs this process may use: cgroup v2 cpu.max, else v1 cfs quota, else the affinity mask
    or os.cpu_count(). A fractional quota rounds up (1.5 CPUs -> 2 threads)."""
    host = _host_cpus()
    quota = _cgroup_v2_quota(cgroup_root) or _cgroup_v1_quota(cgroup_root)
    if quota is None:
        return host
    return max(1, min(host, math.ceil(quota)))


def _host_cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _cgroup_v2_quota(root: Path) -> float | None:
    text = _read(root / "cpu.max")  # "max 100000" or "150000 100000"
    if not text:
        return None
    parts = text.split()
    if len(parts) != 2 or parts[0] == "max":
        return None
    try:
        quota, period = int(parts[0]), int(parts[1])
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def _cgroup_v1_quota(root: Path) -> float | None:
    for cpu_dir in (root / "cpu", root / "cpu,cpuacct", root):
        quota, period = _read(cpu_dir / "cpu.cfs_quota_us"), _read(cpu_dir / "cpu.cfs_period_us")
        if quota is None or period is None:
            continue
        try:
            q, p = int(quota), int(period)
        except ValueError:
            return None
        return q / p if q > 0 and p > 0 else None  # -1 = unlimited
    return None


def quiet_torch_glue() -> None:
    """Give torch one intra-op thread in a process whose heavy work runs in ONNX Runtime.

    The ORT path still uses torch for small glue ops (softmax, edits of style vectors); with
    torch's default OpenMP pool those ops leave threads spinning that steal the cores ORT's
    sessions need next (bench/engine.py: ORT at 0.7x eager that way, 1.5x with one thread).
    """
    import torch

    torch.set_num_threads(1)
