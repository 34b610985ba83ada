"""load_classifier / Classifier / check_classifier: preprocessing, freezing, clear errors."""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from stylex.classifiers import (
    Classifier,
    ClassifierSpec,
    check_classifier,
    load_classifier,
    sidecar_path,
)
from stylex.errors import ClassifierError


class _NHWCNet(nn.Module):
    """Expects NHWC input normalised torchvision-style; returns probabilities or logits."""

    def __init__(self, size: int, num_classes: int, softmax: bool = False):
        super().__init__()
        self.fc = nn.Linear(size * size * 3, num_classes)
        self.softmax = softmax

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[-1] == 3  # channels last
        logits = self.fc(x.reshape(x.shape[0], -1))
        return torch.softmax(logits, dim=1) if self.softmax else logits


def _save_script(net: nn.Module, path: Path, **spec: Any) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(net).save(str(path))
    ClassifierSpec(format="torchscript", **spec).to_json(sidecar_path(path))
    return path


MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def test_nhwc_mean_std_matches_manual(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = _NHWCNet(8, 4).eval()
    path = _save_script(
        net, tmp_path / "m.pt", input_size=8, class_names=list("abcd"), layout="NHWC",
        mean=MEAN, std=STD,
    )  # fmt: skip
    clf = load_classifier(path)
    x = torch.rand(5, 3, 8, 8) * 2 - 1
    x01 = (x + 1) / 2
    manual = (x01 - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = net(manual.permute(0, 2, 3, 1))
        torch.testing.assert_close(clf(x), expected, atol=1e-5, rtol=1e-5)
    assert clf.num_classes == 4
    assert clf.class_names == ["a", "b", "c", "d"]


def test_value_range_resize_and_probabilities(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = _NHWCNet(8, 3, softmax=True).eval()
    net.fc.weight.data *= 1e-3  # inputs up to 255: keep the softmax away from exact 0
    path = _save_script(
        net, tmp_path / "m.pt", input_size=8, class_names=list("abc"), layout="NHWC",
        value_range=(0.0, 255.0), output="probabilities",
    )  # fmt: skip
    clf = load_classifier(path)
    x = torch.rand(2, 3, 16, 16) * 2 - 1  # larger than input_size: resized bilinearly
    small = F.interpolate(x, size=(8, 8), mode="bilinear", align_corners=False)
    with torch.no_grad():
        probs = net(((small + 1) * 127.5).permute(0, 2, 3, 1))
        logits = clf(x)
    torch.testing.assert_close(logits, torch.log(probs))
    torch.testing.assert_close(torch.softmax(logits, 1), probs)


def test_frozen_but_differentiable_in_x(trained: dict[str, Any]) -> None:
    clf = load_classifier(trained["path"])
    assert not clf.training
    assert all(not p.requires_grad for p in clf.parameters())
    x = torch.zeros(2, 3, 32, 32, requires_grad=True)  # resized 32 -> 16 inside
    clf(x).logsumexp(1).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_check_classifier_ok(trained: dict[str, Any]) -> None:
    clf = load_classifier(trained["path"])
    check_classifier(clf, 2, 16)
    check_classifier(clf, None, 64)


def test_check_classifier_class_count(trained: dict[str, Any]) -> None:
    clf = load_classifier(trained["path"])
    with pytest.raises(ClassifierError, match=r"2 classes.*10 classes"):
        check_classifier(clf, 10, 16)


def test_check_classifier_input_size_mismatch(tmp_path: Path) -> None:
    # The net really needs 8 px, the sidecar claims 12: the forward fails inside the net.
    path = _save_script(
        _NHWCNet(8, 2), tmp_path / "m.pt", input_size=12, class_names=["a", "b"], layout="NHWC"
    )
    with pytest.raises(ClassifierError, match="input_size 12") as info:
        check_classifier(load_classifier(path), 2, 16)
    assert "\n" not in str(info.value)
    assert "shapes cannot be multiplied" in str(info.value)  # the cause, not TorchScript's banner


def test_output_shape_mismatch(tmp_path: Path) -> None:
    path = _save_script(
        _NHWCNet(8, 2), tmp_path / "m.pt", input_size=8, class_names=list("abc"), layout="NHWC"
    )
    with pytest.raises(ClassifierError, match=r"returned shape \[2, 2\], expected \[2, 3\]"):
        check_classifier(load_classifier(path), 3, 8)


def test_bad_input_shape(trained: dict[str, Any]) -> None:
    with pytest.raises(ClassifierError, match=r"\[2, 1, 16, 16\]"):
        load_classifier(trained["path"])(torch.zeros(2, 1, 16, 16))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ClassifierError, match=r"nothing\.pt not found"):
        load_classifier(tmp_path / "nothing.pt")


def test_missing_sidecar(tmp_path: Path, trained: dict[str, Any]) -> None:
    path = tmp_path / "copy.pt"
    path.write_bytes(trained["path"].read_bytes())
    with pytest.raises(ClassifierError, match=r"copy\.pt\.json not found"):
        load_classifier(path)


def test_corrupt_torchscript(tmp_path: Path, trained: dict[str, Any]) -> None:
    path = tmp_path / "bad.pt"
    path.write_bytes(torch.randint(0, 256, (4096,), generator=torch.Generator().manual_seed(0))
                     .to(torch.uint8).numpy().tobytes())  # fmt: skip
    sidecar_path(path).write_text(sidecar_path(trained["path"]).read_text())
    with pytest.raises(ClassifierError, match=r"bad\.pt is not a loadable TorchScript"):
        load_classifier(path)


def test_plain_state_dict_is_rejected(tmp_path: Path, trained: dict[str, Any]) -> None:
    # A torch.save pickle is not TorchScript; it must be refused, not unpickled.
    path = tmp_path / "weights.pt"
    buf = io.BytesIO()
    torch.save({"w": torch.zeros(3)}, buf)
    path.write_bytes(buf.getvalue())
    sidecar_path(path).write_text(sidecar_path(trained["path"]).read_text())
    with pytest.raises(ClassifierError, match=r"weights\.pt"):
        load_classifier(path)


def test_truncated_onnx(tmp_path: Path, trained: dict[str, Any]) -> None:
    src = trained["path"].with_suffix(".onnx")
    path = tmp_path / "cut.onnx"
    path.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    sidecar_path(path).write_text(sidecar_path(src).read_text())
    with pytest.raises(ClassifierError, match=r"cut\.onnx"):
        load_classifier(path)


def test_format_and_suffix_must_agree(tmp_path: Path, trained: dict[str, Any]) -> None:
    path = tmp_path / "m.onnx"
    path.write_bytes(trained["path"].with_suffix(".onnx").read_bytes())
    sidecar_path(path).write_text(sidecar_path(trained["path"]).read_text())  # torchscript
    with pytest.raises(ClassifierError, match="format"):
        load_classifier(path)
    other = tmp_path / "m.pth"
    other.write_bytes(b"x")
    with pytest.raises(ClassifierError, match="suffix"):
        load_classifier(other)


def test_wrap_in_memory_module() -> None:
    spec = ClassifierSpec(input_size=4, class_names=["a", "b"], format="torchscript")
    net = nn.Sequential(nn.Flatten(), nn.Linear(48, 2))
    clf = Classifier(net, spec)
    x = torch.rand(3, 3, 4, 4) * 2 - 1
    torch.testing.assert_close(clf(x), net(x))  # value_range (-1, 1) is the identity
