"""ClassifierSpec: sidecar naming, JSON round trip, one clear error per bad field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stylex.classifiers import ClassifierSpec, sidecar_path
from stylex.errors import ClassifierError, InvalidArgumentError


def _valid() -> dict[str, Any]:
    return {"input_size": 32, "class_names": ["cat", "dog"], "format": "onnx"}


def test_sidecar_name_appends_json() -> None:
    assert sidecar_path("a/model.pt") == Path("a/model.pt.json")
    assert sidecar_path(Path("model.onnx")) == Path("model.onnx.json")


def test_round_trip(tmp_path: Path) -> None:
    spec = ClassifierSpec(
        input_size=224,
        class_names=["a", "b", "c"],
        format="torchscript",
        mean=[0.485, 0.456, 0.406],
        std=[0.229, 0.224, 0.225],
        layout="NHWC",
        output="probabilities",
        name="resnet",
    )
    path = tmp_path / "m.pt.json"
    spec.to_json(path)
    loaded = ClassifierSpec.from_json(path)
    assert loaded == spec
    assert loaded.value_range == (0.0, 1.0)  # what mean/std normalisation starts from
    assert loaded.num_classes == 3


def test_defaults_from_minimal_sidecar(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx.json"
    path.write_text(json.dumps(_valid()))
    spec = ClassifierSpec.from_json(path)
    assert spec.value_range == (-1.0, 1.0)
    assert (spec.layout, spec.output, spec.mean, spec.std) == ("NCHW", "logits", None, None)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"input_size": 0}, "input_size"),
        ({"input_size": -3}, "input_size"),
        ({"input_size": "32"}, "input_size"),
        ({"input_size": 32.0}, "input_size"),
        ({"input_size": True}, "input_size"),
        ({"class_names": []}, "class_names"),
        ({"class_names": "cat"}, "class_names"),
        ({"class_names": ["a", 1]}, "class_names"),
        ({"class_names": ["a", "a"]}, "class_names"),
        ({"format": "pickle"}, "format"),
        ({"layout": "CHW"}, "layout"),
        ({"output": "scores"}, "output"),
        ({"name": 3}, "name"),
        ({"value_range": [1, 0]}, "value_range"),
        ({"value_range": [0]}, "value_range"),
        ({"value_range": "0-1"}, "value_range"),
        ({"mean": [0.5, 0.5], "std": [0.5, 0.5, 0.5]}, "mean"),
        ({"mean": [0.5] * 3, "std": [0.5] * 4}, "std"),
        ({"mean": [0.5] * 3, "std": [0.5, 0.0, 0.5]}, "std"),
        ({"mean": [0.5] * 3}, "std"),
        ({"std": [0.5] * 3}, "mean"),
        ({"mean": [0.5] * 3, "std": [0.5] * 3, "value_range": [0, 255]}, "value_range"),
        ({"input_sise": 32}, "input_sise"),  # typo of an optional key is caught
    ],
)
def test_invalid_sidecar_names_field_and_file(
    tmp_path: Path, change: dict[str, Any], field: str
) -> None:
    obj = {**_valid(), **change}
    path = tmp_path / "model.onnx.json"
    path.write_text(json.dumps(obj))
    with pytest.raises(ClassifierError) as info:
        ClassifierSpec.from_json(path)
    message = str(info.value)
    assert field in message
    assert str(path) in message
    assert "\n" not in message
    assert isinstance(info.value, InvalidArgumentError)


@pytest.mark.parametrize("field", ["input_size", "class_names", "format"])
def test_missing_required_field(tmp_path: Path, field: str) -> None:
    obj = {k: v for k, v in _valid().items() if k != field}
    path = tmp_path / "model.onnx.json"
    path.write_text(json.dumps(obj))
    with pytest.raises(ClassifierError, match=field) as info:
        ClassifierSpec.from_json(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", ""])
def test_unparseable_sidecar(tmp_path: Path, text: str) -> None:
    path = tmp_path / "model.pt.json"
    path.write_text(text)
    with pytest.raises(ClassifierError, match=r"model\.pt\.json"):
        ClassifierSpec.from_json(path)


def test_missing_sidecar(tmp_path: Path) -> None:
    with pytest.raises(ClassifierError, match="not found"):
        ClassifierSpec.from_json(tmp_path / "nope.pt.json")
