"""`stylex label`: names into a new model version (the old one untouched) or a run's catalog;
names served in `label`; evaluate's suggestions accepted."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import torch

from stylex.cli import main
from stylex.errors import InvalidArgumentError
from stylex.explain.evaluation.probes import hue_name, suggest_name
from stylex.explain.vocabulary.catalog import AttributeCatalog
from stylex.explain.vocabulary.labels import labels_from_json, parse_assignment
from stylex.runtime import OrtEngine
from stylex.runtime.model_dir import read_model_dir, shipped_model_dir
from tests.export.model_fixtures import attfind_run

# The unlabelled version the shipped one was derived from (the shipped one is named already).
UNLABELLED = Path(__file__).resolve().parents[2] / "model_store" / "shapes32" / "3"


@pytest.fixture()
def model_copy(tmp_path):
    folder = tmp_path / "store" / "shapes32" / "3"
    shutil.copytree(UNLABELLED, folder)
    return folder


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


def test_label_a_model_writes_a_new_version(model_copy, tmp_path, capsys):
    before = _digest(model_copy)
    first = read_model_dir(model_copy).catalog.for_class("red")[0]
    names = tmp_path / "names.json"
    names.write_text(json.dumps({f"{first.index}:max": "hue toward red"}))
    argv = ["label", str(model_copy), "--names", str(names), "--set", "135:max=a  second  name"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    new = model_copy.parent / "4"
    assert out == {"written": str(new), "labelled": 2}
    assert _digest(model_copy) == before  # the old version is never rewritten
    model = read_model_dir(new)  # every checksum holds in the new version
    assert model.manifest["version"] == "4"
    assert model.manifest["labelled_from"] == {
        "version": "3",
        "manifest_sha256": before["manifest.json"],
    }
    red = model.catalog.for_class("red")
    assert red[0].label == "hue toward red" and red[1].label == "a second name"
    reverse = [a for a in model.catalog.for_class("not_red") if a.key == (first.index, 0)]
    assert all(a.label == "" for a in reverse)  # a name belongs to one direction
    old = read_model_dir(model_copy).manifest
    assert {k: v for k, v in model.manifest.items() if k not in ("version", "created",
            "catalog", "labelled_from")} == {k: v for k, v in old.items() if k not in (
            "version", "created", "catalog")}  # fmt: skip
    assert model.manifest["catalog"]["stats"] == old["catalog"]["stats"]

    # Served: the label is in every explanation that names the attribute.
    engine = OrtEngine.load(new, device="cpu", intra_op_threads=1)
    x = torch.zeros(3, 32, 32)
    (exp,) = engine.explain_batch([x], engine.options(target="red", top_k=10))
    labelled = {cf.attribute.key: cf.attribute.label for cf in exp.counterfactuals}
    assert labelled[(first.index, 1)] == "hue toward red"
    # An edit that IMAGE mode's screen finds keeps its name too.
    opts = engine.options(target="red", top_k=64, mode="image", num_candidates=256)
    (exp,) = engine.explain_batch([x], opts)
    labelled = {cf.attribute.key: cf.attribute.label for cf in exp.counterfactuals}
    assert labelled[(first.index, 1)] == "hue toward red"
    names = {(first.index, 1): "hue toward red", (135, 1): "a second name"}
    assert all(label == names.get(key, "") for key, label in labelled.items())

    assert main(argv) == 2  # version 4 exists now: refused, not overwritten
    assert "already exists; refusing to overwrite" in capsys.readouterr().err
    assert not [p for p in model_copy.parent.iterdir() if p.name.startswith(".")]


def test_label_errors_name_the_problem(model_copy, capsys):
    for argv, fragment in [
        (["--set", "9999:max=x"], "1 named attribute(s) not in the catalog: 9999:max"),
        (["--set", "290:up=x"], "direction 'up' is not min or max"),
        (["--set", "290:max="], "expected a non-empty string"),
        (["--set", "290=red"], "expected INDEX:DIRECTION"),
        ([], "no names given"),
        (["--set", "290:max=x", "--version", "../5"], "model version '../5'"),
    ]:
        assert main(["label", str(model_copy), *argv]) == 2
        err = capsys.readouterr().err
        assert fragment in err and "Traceback" not in err, (argv, err)
    assert sorted(p.name for p in model_copy.parent.iterdir()) == ["3"]


def test_rename_a_models_classes(model_copy, capsys):
    """--class-names: a new version whose classes (manifest, catalog, classifier section) carry
    the new names, in output order; everything else, the files included, stays."""
    old = read_model_dir(model_copy)
    first = old.catalog.for_class("red")[0]
    argv = ["label", str(model_copy), "--class-names", " grey ", "crimson",
            "--set", f"{first.index}:max=hue toward red"]  # fmt: skip
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    new = model_copy.parent / "4"
    assert out == {"written": str(new), "labelled": 1, "class_names": ["grey", "crimson"]}
    model = read_model_dir(new)
    m = model.manifest
    assert model.class_names == m["catalog"]["class_names"] == ["grey", "crimson"]
    assert m["classifier"]["class_names"] == ["grey", "crimson"]
    assert m["classifier"]["preprocessing"]["class_names"] == ["grey", "crimson"]
    assert m["renamed_classes"] == {"not_red": "grey", "red": "crimson"}
    assert m["classes_renamed_from"]["version"] == m["labelled_from"]["version"] == "3"
    assert m["provenance"] == old.manifest["provenance"]  # what the data called them
    assert m["files"] == old.manifest["files"]
    renamed = model.catalog.for_class("crimson")
    assert [a.key for a in renamed] == [a.key for a in old.catalog.for_class("red")]
    assert renamed[0].label == "hue toward red"
    assert [a.key for a in model.catalog.for_class(0)] == [
        a.key for a in old.catalog.for_class("not_red")
    ]

    # Served under the new names, with the same decision as before.
    x = torch.zeros(2, 3, 32, 32)
    x[1, 0] = 1.0  # a red image
    before = OrtEngine.load(model_copy, device="cpu", intra_op_threads=1)
    after = OrtEngine.load(new, device="cpu", intra_op_threads=1)
    assert after.class_names == ["grey", "crimson"]
    assert torch.equal(after.classify(x), before.classify(x))
    (exp,) = after.explain_batch([x[0]], after.options(target="crimson", top_k=10))
    labelled = {cf.attribute.key: cf.attribute.label for cf in exp.counterfactuals}
    assert labelled[(first.index, 1)] == "hue toward red"
    with pytest.raises(InvalidArgumentError, match="unknown class 'red'"):
        after.options(target="red")


def test_rename_classes_errors_name_the_problem(model_copy, capsys, trained_run, tmp_path):
    for argv, fragment in [
        (["--class-names", "a"], "1 class name(s) given, the model has 2 classes"),
        (["--class-names", "a", "b", "c"], "3 class name(s) given"),
        (["--class-names", "a", "a"], "repeat a name"),
        (["--class-names", "a", " "], "are not valid: expected non-empty printable text"),
        (["--class-names", "a", "b\nc"], "are not valid"),
    ]:
        assert main(["label", str(model_copy), *argv]) == 2
        err = capsys.readouterr().err
        assert fragment in err and "Traceback" not in err, (argv, err)
    assert sorted(p.name for p in model_copy.parent.iterdir()) == ["3"]
    run = attfind_run(trained_run, tmp_path)
    assert main(["label", str(run), "--class-names", "a", "b"]) == 2
    assert "--class-names are for model directories" in capsys.readouterr().err


def test_label_a_run_and_accept_suggestions(trained_run, tmp_path, capsys):
    run = attfind_run(trained_run, tmp_path)
    catalog = AttributeCatalog.load(run)
    attrs = catalog.for_class(0)[:2]
    metrics = {"alignment": {"suggested_names": [
        {"index": a.index, "direction": "max" if a.direction else "min", "factor": "hue",
         "name": f"hue toward {n}"} for a, n in zip(attrs, ("red", "blue"), strict=True)
    ]}}  # fmt: skip
    (run / "metrics.json").write_text(json.dumps(metrics))
    second = f"{attrs[1].index}:{'max' if attrs[1].direction else 'min'}"
    assert main(["label", str(run), "--suggested", "--set", f"{second}=bluer"]) == 0
    assert json.loads(capsys.readouterr().out)["labelled"] == 2
    labelled = AttributeCatalog.load(run).for_class(0)
    assert [a.label for a in labelled[:2]] == ["hue toward red", "bluer"]  # --set wins
    assert [a.key for a in labelled] == [a.key for a in catalog.for_class(0)]
    (run / "metrics.json").write_text(json.dumps({"alignment": {}}))
    assert main(["label", str(run), "--suggested"]) == 2
    assert "no alignment.suggested_names" in capsys.readouterr().err


def test_name_forms_and_suggestions():
    assert parse_assignment("290:1=hue toward red") == ((290, 1), "hue toward red")
    rows = [{"index": 3, "direction": "min", "label": "smaller shape"}]
    assert labels_from_json(rows, "x") == {(3, 0): "smaller shape"}
    assert hue_name(0.98) == "red" and hue_name(0.35) == "green" and hue_name(0.64) == "blue"
    before = torch.tensor([0.30, 0.35, 0.40])
    assert suggest_name("hue", before, torch.tensor([0.97, 0.02, 0.99])) == "hue toward red"
    assert suggest_name("size", before, before + 0.1) == "larger shape"
    assert suggest_name("pos_y", before, before - 0.1) == "shape moves up"
    assert suggest_name("shape", torch.tensor([0, 0, 1]), torch.tensor([2, 2, 1])).startswith(
        "shape toward "
    )
    assert suggest_name("stripes", torch.tensor([0, 0, 0]), torch.tensor([1, 1, 0])) == "stripes on"


def test_the_shipped_model_carries_the_suggested_names():
    """v3's names file (docs/scripts/suggest_model_names.py) still names v3's catalog, and the
    shipped model carries exactly the names its own evaluation.json suggests (`stylex label
    RUN --suggested` before export): a name only where the probe found one."""
    from stylex.explain.vocabulary.labels import apply_labels, read_labels

    path = Path(__file__).resolve().parents[2] / "docs" / "shapes32-3-suggested-names.json"
    labels = read_labels(path)
    v3 = read_model_dir(UNLABELLED).catalog
    assert set(labels) == {a.key for attrs in v3.classes.values() for a in attrs}
    assert apply_labels(v3, labels).for_class("red")[0].label == "hue toward red"

    shipped = shipped_model_dir()
    catalog = read_model_dir(shipped).catalog
    suggested = read_labels(shipped / "evaluation.json")
    assert suggested  # at least one attribute has a true name
    for attrs in catalog.classes.values():
        for a in attrs:
            assert a.label == suggested.get(a.key, ""), a.key
    assert catalog.for_class("light_bg")[0].label == "lighter background"
