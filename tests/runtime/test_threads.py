"""Thread defaults come from the container's CPU limit (cgroup v2, v1), else the host."""

from __future__ import annotations

import os

from stylex.runtime.threads import cpu_limit


def _host() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def test_cgroup_v2_quota_rounds_up_and_is_capped_by_the_host(tmp_path):
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert cpu_limit(tmp_path) == min(2, _host())
    (tmp_path / "cpu.max").write_text("50000 100000\n")
    assert cpu_limit(tmp_path) == 1


def test_cgroup_v2_unlimited_falls_back_to_host(tmp_path):
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cpu_limit(tmp_path) == _host()


def test_cgroup_v1_quota(tmp_path):
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("100000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cpu_limit(tmp_path) == 1
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    assert cpu_limit(tmp_path) == _host()


def test_no_cgroup_files_means_host_count(tmp_path):
    assert cpu_limit(tmp_path) == _host()
