"""What a classifier expects as input and gives as output, stored as a JSON sidecar.

The sidecar of a model file is that file's name with `.json` appended:
`model.pt` -> `model.pt.json`, `model.onnx` -> `model.onnx.json`. Appending (rather than
replacing the suffix) lets a TorchScript and an ONNX copy of one network sit side by side, each
with its own sidecar.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from stylex.errors import ClassifierError
from stylex.fileio import write_json

Layout = Literal["NCHW", "NHWC"]
OutputKind = Literal["logits", "probabilities"]
Format = Literal["torchscript", "onnx"]

LAYOUTS: tuple[str, ...] = ("NCHW", "NHWC")
OUTPUT_KINDS: tuple[str, ...] = ("logits", "probabilities")
FORMATS: tuple[str, ...] = ("torchscript", "onnx")

_DEFAULT_RANGE = (-1.0, 1.0)
_REQUIRED = ("input_size", "class_names", "format")
_OPTIONAL = ("value_range", "mean", "std", "layout", "output", "name")


def sidecar_path(model_path: str | os.PathLike[str]) -> Path:
    """The sidecar of `model_path`: its file name with `.json` appended (`a.pt` -> `a.pt.json`)."""
    model_path = Path(model_path)
    return model_path.with_name(model_path.name + ".json")


@dataclass(kw_only=True)
class ClassifierSpec:
    """Input and output conventions of one classifier file.

    Preprocessing of an image x in [-1, 1]: without `mean`/`std`, x is mapped linearly onto
    `value_range`. With `mean`/`std` (torchvision style), x is mapped onto [0, 1] and then
    normalised per channel, (x - mean) / std; `value_range` is then (0, 1) by definition, and
    any other explicit range is rejected as contradictory.
    """

    input_size: int  # square side in pixels the network expects (H = W)
    class_names: list[str]  # one per output column, in output order
    format: Format  # how the network file is stored
    value_range: tuple[float, float] = _DEFAULT_RANGE  # pixel range the network expects
    mean: list[float] | None = None  # per-channel RGB mean, applied after scaling to [0, 1]
    std: list[float] | None = None  # per-channel RGB std, applied after scaling to [0, 1]
    layout: Layout = "NCHW"  # tensor layout the network expects
    output: OutputKind = "logits"  # what the network returns; probabilities are log-ed
    name: str = ""  # free-form label for logs and reports
    source: str = field(default="<spec>", repr=False, compare=False)  # where it was read from

    def __post_init__(self) -> None:
        self.value_range = tuple(self.value_range)  # type: ignore[assignment]
        self._validate()

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def _fail(self, field_name: str, expected: str, value: Any) -> ClassifierError:
        return ClassifierError(
            f"classifier sidecar {self.source}: field '{field_name}' is {value!r}, "
            f"expected {expected}"
        )

    def _validate(self) -> None:
        if not _is_int(self.input_size) or self.input_size <= 0:
            raise self._fail("input_size", "a positive integer", self.input_size)
        if isinstance(self.class_names, tuple):
            self.class_names = list(self.class_names)
        if (
            not isinstance(self.class_names, list)
            or not all(isinstance(c, str) for c in self.class_names)
            or len(self.class_names) == 0
        ):
            raise self._fail("class_names", "a non-empty list of strings", self.class_names)
        if len(set(self.class_names)) != len(self.class_names):
            raise self._fail("class_names", "distinct names", self.class_names)
        if self.format not in FORMATS:
            raise self._fail("format", f"one of {list(FORMATS)}", self.format)
        if self.layout not in LAYOUTS:
            raise self._fail("layout", f"one of {list(LAYOUTS)}", self.layout)
        if self.output not in OUTPUT_KINDS:
            raise self._fail("output", f"one of {list(OUTPUT_KINDS)}", self.output)
        if not isinstance(self.name, str):
            raise self._fail("name", "a string", self.name)
        vr = self.value_range
        if len(vr) != 2 or not all(_is_number(v) for v in vr) or not vr[0] < vr[1]:
            raise self._fail("value_range", "two finite numbers [low, high] with low < high", vr)
        self.value_range = (float(vr[0]), float(vr[1]))
        if (self.mean is None) != (self.std is None):
            missing = "std" if self.std is None else "mean"
            raise self._fail(missing, "a list of 3 numbers when the other is given", None)
        if self.mean is not None and self.std is not None:
            if not _is_triple(self.mean):
                raise self._fail("mean", "a list of 3 numbers (RGB)", self.mean)
            if not _is_triple(self.std) or not all(s > 0 for s in self.std):
                raise self._fail("std", "a list of 3 positive numbers (RGB)", self.std)
            if self.value_range not in (_DEFAULT_RANGE, (0.0, 1.0)):
                raise self._fail("value_range", "[0, 1] or absent when mean/std are given", vr)
            self.mean = [float(m) for m in self.mean]
            self.std = [float(s) for s in self.std]
            self.value_range = (0.0, 1.0)

    def to_dict(self) -> dict[str, Any]:
        """The sidecar's JSON object."""
        return {
            "input_size": self.input_size,
            "class_names": list(self.class_names),
            "format": self.format,
            "value_range": list(self.value_range),
            "mean": self.mean,
            "std": self.std,
            "layout": self.layout,
            "output": self.output,
            "name": self.name,
        }

    @classmethod
    def from_dict(cls, obj: Any, source: str = "<dict>") -> ClassifierSpec:
        """Validate a sidecar's JSON object; `source` names it in error messages."""
        if not isinstance(obj, dict):
            raise ClassifierError(
                f"classifier sidecar {source}: expected a JSON object, got {type(obj).__name__}"
            )
        missing = [k for k in _REQUIRED if k not in obj]
        if missing:
            raise ClassifierError(
                f"classifier sidecar {source}: missing field(s) {missing}, "
                f"required are {list(_REQUIRED)}"
            )
        # Unknown keys are most likely typos of optional ones; ignoring them would silently
        # apply the default preprocessing instead of the intended one.
        unknown = sorted(set(obj) - set(_REQUIRED) - set(_OPTIONAL))
        if unknown:
            raise ClassifierError(
                f"classifier sidecar {source}: unknown field(s) {unknown}, "
                f"expected only {list(_REQUIRED + _OPTIONAL)}"
            )
        kwargs = dict(obj)
        if "value_range" in kwargs:
            if kwargs["value_range"] is None:
                del kwargs["value_range"]
            elif not isinstance(kwargs["value_range"], list | tuple):
                raise ClassifierError(
                    f"classifier sidecar {source}: field 'value_range' is "
                    f"{kwargs['value_range']!r}, expected [low, high]"
                )
        for key in ("layout", "output", "name"):
            if kwargs.get(key, "") is None:
                del kwargs[key]
        return cls(**kwargs, source=source)

    def to_json(self, path: str | os.PathLike[str]) -> None:
        """Write the sidecar atomically."""
        write_json(path, self.to_dict())

    @classmethod
    def from_json(cls, path: str | os.PathLike[str]) -> ClassifierSpec:
        """Read and validate a sidecar; any problem is a ClassifierError naming the file."""
        path = Path(path)
        if not path.is_file():
            raise ClassifierError(f"classifier sidecar {path} not found")
        try:
            obj = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ClassifierError(f"classifier sidecar {path} is not valid JSON: {e}") from None
        return cls.from_dict(obj, source=str(path))


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _is_triple(v: Any) -> bool:
    return isinstance(v, list | tuple) and len(v) == 3 and all(_is_number(x) for x in v)
