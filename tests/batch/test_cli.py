"""`stylex batch`: flags, environment defaults, exit codes, and resume after SIGKILL."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from stylex.batch import latest_records, list_inputs, read_results, results_name, shard
from stylex.cli import main
from tests.batch.conftest import (
    MODEL_DIR,
    NUM_GOOD,
    assert_same_results,
    by_id,
)
from tests.conftest import catalog_attributes


def _args(image_dir, out, *extra) -> list[str]:
    return ["batch", str(image_dir), "--out", str(out), "--model", str(MODEL_DIR),
            "--device", "cpu", "--no-progress", *extra]  # fmt: skip


def test_bad_shard_index_exits_2(image_dir, tmp_path, capsys):
    assert main(_args(image_dir, tmp_path, "--shard-index", "2", "--num-shards", "2")) == 2
    err = capsys.readouterr().err
    assert err.startswith("stylex: error: shard index 2 out of range; expected 0 <= index < 2")
    assert "Traceback" not in err


def test_env_defaults_pick_the_shard(image_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("JOB_COMPLETION_INDEX", "1")
    monkeypatch.setenv("STYLEX_NUM_SHARDS", "2")
    assert main(_args(image_dir, tmp_path, "--no-images")) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["shard_index"], summary["num_shards"]) == (1, 2)
    want = {i.id for i in shard(list_inputs(image_dir), 1, 2)}
    assert set(by_id(read_results(tmp_path / results_name(1, 2)))) == want
    assert summary["total"] == len(want)


def test_corrupt_image_is_counted_not_fatal(image_dir, tmp_path, capsys):
    manifest = tmp_path / "m.txt"
    manifest.write_text(f"{image_dir / 'corrupt.png'}\n{image_dir / 'img01.png'}\n")
    assert main(_args(manifest, tmp_path / "out", "--top-k", "2", "--target", "1")) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["total"], summary["errors"]) == (2, 1)
    records = read_results(tmp_path / "out" / results_name(0, 1))
    assert [r["status"] for r in records] == ["error", "ok"]
    assert len(records[1]["explanation"]["attributes"]) == catalog_attributes(2)


def test_retry_errors_redoes_only_failed_items(image_dir, tmp_path, capsys):
    import shutil

    flaky = tmp_path / "flaky.png"  # unreadable on the first run, fixed before the retry
    shutil.copy(image_dir / "corrupt.png", flaky)
    manifest = tmp_path / "m.txt"
    manifest.write_text(f"{flaky}\n{image_dir / 'img01.png'}\n")
    out = tmp_path / "out"
    assert main(_args(manifest, out, "--no-images")) == 0
    assert json.loads(capsys.readouterr().out)["errors"] == 1
    shutil.copy(image_dir / "img02.png", flaky)

    assert main(_args(manifest, out, "--no-images")) == 0  # plain rerun: errors are results
    summary = json.loads(capsys.readouterr().out)
    assert (summary["done_now"], summary["skipped"], summary["retried"]) == (0, 2, 0)

    assert main(_args(manifest, out, "--no-images", "--retry-errors")) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["done_now"], summary["skipped"], summary["retried"]) == (1, 1, 1)
    assert summary["errors"] == 0
    lines = read_results(out / results_name(0, 1))
    named = [(Path(r["id"]).name, r["status"]) for r in lines]
    assert sorted(named[:2]) == [("flaky.png", "error"), ("img01.png", "ok")]
    assert named[2] == ("flaky.png", "ok")  # appended; the last line of an id is its result
    assert [r["status"] for r in latest_records(lines)] == ["ok", "ok"]

    assert main(_args(manifest, out, "--no-images", "--retry-errors")) == 0  # nothing left
    assert json.loads(capsys.readouterr().out)["done_now"] == 0


def _run_cli(image_dir, out, *extra) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "stylex", *_args(image_dir, out, *extra)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip


def test_resume_after_sigkill(image_dir, tmp_path):
    # A FIFO among the inputs: opening it blocks until a writer comes, so the job is held in
    # the middle of its run, the batches before the FIFO's written, until it is killed. No
    # race with the job's end.
    inputs = tmp_path / "inputs"
    shutil.copytree(image_dir, inputs)
    held = inputs / "img05-held.png"
    os.mkfifo(held)
    manifest = inputs / "inputs.txt"
    names = sorted(p.relative_to(inputs).as_posix() for p in inputs.rglob("*.png"))
    manifest.write_text("\n".join(names) + "\n")
    ids = [item.id for item in list_inputs(manifest)]
    total = len(ids)
    assert total == NUM_GOOD + 2
    before = ids.index("img05-held.png") // 2 * 2  # items of the batches before the FIFO's

    results = tmp_path / "killed" / results_name(0, 1)
    proc = _run_cli(manifest, tmp_path / "killed", "--batch-size", "2")
    while len(read_results(results) if results.exists() else []) < before:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = read_results(results)
    assert len(first) == before
    assert 0 < len(first) < total, "the job finished before it could be killed"

    held.unlink()
    shutil.copy(inputs / "img05.png", held)  # the FIFO's place, now a readable image
    proc = _run_cli(manifest, tmp_path / "killed", "--batch-size", "2")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    summary = json.loads(out)
    assert summary["skipped"] >= len(first)
    assert summary["skipped"] + summary["done_now"] == total
    resumed = read_results(results)
    assert resumed[: len(first)] == first  # finished lines are never rewritten

    reference = tmp_path / "whole"
    assert main(_args(manifest, reference, "--no-images")) == 0
    assert_same_results(resumed, read_results(reference / results_name(0, 1)))
