"""`stylex train-classifier` and `stylex attfind` as a user runs them: through the CLI, real
files in and out, and a clear error (exit 2, nothing written) for bad input."""

from __future__ import annotations

import json
import shutil

from stylex.cli import main
from stylex.explain.vocabulary.catalog import AttributeCatalog
from tests.conftest import TEST_RESOLUTION


def test_train_classifier_writes_the_model_and_its_sidecar(tmp_path, capsys):
    out = tmp_path / "clf" / "classifier.pt"
    argv = ["train-classifier", "--data", "shapes", "--rule", "striped", "--resolution",
            str(TEST_RESOLUTION), "--num-images", "240", "--epochs", "1", "--width", "8",
            "--out", str(out), "--onnx", "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["classifier"] == str(out) and metrics["epochs"] == 1
    assert 0.0 <= metrics["val_acc"] <= 1.0 and metrics["num_params"] > 0
    sidecar = json.loads((tmp_path / "clf" / "classifier.pt.json").read_text())
    assert sidecar["class_names"] == ["plain", "striped"]
    assert (tmp_path / "clf" / "classifier.onnx").stat().st_size > 0


def test_train_classifier_refuses_an_unknown_rule_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "clf" / "classifier.pt"
    argv = ["train-classifier", "--data", "shapes", "--rule", "nonsense", "--resolution",
            str(TEST_RESOLUTION), "--num-images", "100", "--epochs", "1", "--out", str(out),
            "--no-progress"]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "unknown rule 'nonsense'" in err and "Traceback" not in err
    assert not out.parent.exists()


def test_attfind_cli_writes_the_catalog_of_a_run(trained_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    argv = ["attfind", str(run), "--num-images", "6", "--device", "cpu", "--no-progress"]
    assert main(argv) == 0
    capsys.readouterr()
    catalog = AttributeCatalog.load(run)
    assert catalog.settings["num_images"] == 6
    assert catalog.class_names == ["not_red", "red"]
    assert all(1 <= len(attrs) <= 10 for attrs in catalog.classes.values())
    assert (run / "screen.npz").is_file()


def test_attfind_cli_names_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert main(["attfind", str(tmp_path), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "not a stylex run directory" in err and "config.json is missing" in err
    assert list(tmp_path.iterdir()) == []
