"""The command line: dry runs and every bad input giving one clear line and a non-zero exit."""

from __future__ import annotations

import json
import os

import pytest

from stylex.cli import main
from tests.conftest import TEST_RESOLUTION


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, *fragments: str) -> None:
    assert code == 2, err
    lines = [line for line in err.strip().splitlines() if line.startswith("stylex: error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_dry_run_reports_stylespace_size_of_the_paper_architecture(capsys):
    code, out, _ = run_cli(capsys, "train", "--preset", "paper256", "--dry-run")
    assert code == 0
    report = json.loads(out)
    assert report["num_style_coordinates"] == 5760
    assert report["num_torgb_styles"] == 2944
    assert report["arch"]["resolution"] == 256
    assert report["style_layers"][-1] == {
        "name": "b256.conv1", "resolution": 256, "channels": 128, "offset": 5632,
    }  # fmt: skip


def test_dry_run_applies_overrides(capsys):
    code, out, _ = run_cli(
        capsys, "train", "--preset", "tiny", "--dry-run", "--resolution", "32",
        "--set", "lr_e=3e-5", "--set", "loss.classifier=2",
    )  # fmt: skip
    assert code == 0
    report = json.loads(out)
    assert report["train"]["lr_e"] == pytest.approx(3e-5)
    assert report["train"]["loss"]["classifier"] == 2.0
    assert report["num_style_coordinates"] == 64 * 6 + 32  # b32.conv1 has 1024 // 32 inputs


def test_non_power_of_two_resolution(capsys, tmp_path):
    code, _, err = run_cli(capsys, "train", "--resolution", "48", "--run-dir", str(tmp_path / "r"))
    assert_one_line_error(code, err, "resolution 48", "power of two")
    assert not (tmp_path / "r").exists()


def train_args(tmp_path, classifier: str, *extra: str) -> list[str]:
    return [
        "train", "--preset", "tiny", "--resolution", str(TEST_RESOLUTION), "--num-images", "32",
        "--classifier", classifier, "--run-dir", str(tmp_path / "run"), "--steps", "1",
        "--batch-size", "4", "--no-progress", *extra,
    ]  # fmt: skip


def test_train_prints_strict_json(capsys, tmp_path, shapes_classifier):
    # A loss the recipe never logged (no adversarial step in one warm-up step) is null: a NaN
    # would make the summary unreadable to strict JSON parsers (jq, JavaScript, Go).
    code, out, err = run_cli(capsys, *train_args(tmp_path, str(shapes_classifier)))
    assert code == 0, err

    def refuse(token: str) -> None:
        raise AssertionError(f"non-JSON constant {token} in the train summary")

    summary = json.loads(out, parse_constant=refuse)
    losses = summary["losses"]
    assert isinstance(losses["rec_l1"]["first"], float)
    assert losses["G_adv"] == {"first": None, "last": None}


def test_missing_classifier_file(capsys, tmp_path):
    code, _, err = run_cli(capsys, *train_args(tmp_path, str(tmp_path / "nope.pt")))
    assert_one_line_error(code, err, "nope.pt")
    assert not (tmp_path / "run").exists()


def test_no_classifier_given(capsys, tmp_path):
    argv = train_args(tmp_path, "x")
    i = argv.index("--classifier")
    del argv[i : i + 2]
    code, _, err = run_cli(capsys, *argv)
    assert_one_line_error(code, err, "no classifier given")


def test_corrupt_classifier(capsys, tmp_path, shapes_classifier):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(os.urandom(2048))
    (tmp_path / "bad.pt.json").write_text(
        shapes_classifier.with_name(shapes_classifier.name + ".json").read_text()
    )
    code, _, err = run_cli(capsys, *train_args(tmp_path, str(bad)))
    assert_one_line_error(code, err, "bad.pt")
    assert not (tmp_path / "run").exists()


def test_class_count_mismatch(capsys, tmp_path, shapes_classifier):
    code, _, err = run_cli(
        capsys, *train_args(tmp_path, str(shapes_classifier), "--data", "digits", "--rule", "all")
    )
    assert_one_line_error(code, err, "10", "2")
    assert not (tmp_path / "run").exists()


def test_empty_data_folder(capsys, tmp_path, shapes_classifier):
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run_cli(
        capsys, *train_args(tmp_path, str(shapes_classifier), "--data", str(empty))
    )
    assert_one_line_error(code, err, str(empty))


def test_unreadable_images_only(capsys, tmp_path, shapes_classifier):
    folder = tmp_path / "junk"
    folder.mkdir()
    (folder / "a.png").write_bytes(b"not a png")
    code, _, err = run_cli(
        capsys, *train_args(tmp_path, str(shapes_classifier), "--data", str(folder))
    )
    assert_one_line_error(code, err, str(folder))


def test_bad_set_syntax(capsys):
    code, _, err = run_cli(capsys, "train", "--dry-run", "--set", "lr_e")
    assert_one_line_error(code, err, "KEY=VALUE")
