"""`stylex batch --mode image`: IMAGE-mode records with their joint counterfactual."""

from __future__ import annotations

import json

from stylex.batch import read_results, results_name
from stylex.cli import main
from tests.batch.conftest import MODEL_DIR, NUM_GOOD, assert_records_equal_engine, by_id


def test_batch_in_image_mode(image_dir, tmp_path, capsys, engine):
    argv = ["batch", str(image_dir), "--out", str(tmp_path), "--model", str(MODEL_DIR),
            "--device", "cpu", "--no-progress", "--top-k", "2", "--mode", "image",
            "--num-candidates", "8"]  # fmt: skip
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["errors"] == 1  # corrupt.png
    records = by_id(read_results(tmp_path / results_name(0, 1)))
    ok = [r for r in records.values() if r["status"] == "ok"]
    assert len(ok) == NUM_GOOD
    for r in ok:
        exp = r["explanation"]
        assert exp["mode"] == "image" and len(exp["attributes"]) == 2
        assert exp["joint"]["ranks"][0] == 1 and "counterfactual" not in exp["joint"]
        joint = tmp_path / r["images"]["joint"]
        assert joint.read_bytes()[:4] == b"\x89PNG"
    # The job's IMAGE mode is the engine's: same screened edits, same exact effects.
    compared = assert_records_equal_engine(
        list(records.values()), engine, top_k=2, mode="image", num_candidates=8
    )
    assert compared == NUM_GOOD


def test_batch_refuses_a_bad_mode_before_any_work(image_dir, tmp_path, capsys):
    argv = ["batch", str(image_dir), "--out", str(tmp_path), "--model", str(MODEL_DIR),
            "--device", "cpu", "--no-progress", "--mode", "image",
            "--num-candidates", "0"]  # fmt: skip
    assert main(argv) == 2
    assert "num_candidates 0 out of range" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
