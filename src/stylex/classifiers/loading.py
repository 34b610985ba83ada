"""Load a user's classifier file with its sidecar and wrap it to take stylex images."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

from stylex.classifiers.onnx_torch import onnx_to_torch
from stylex.classifiers.spec import ClassifierSpec, sidecar_path
from stylex.errors import ClassifierError

TORCHSCRIPT_SUFFIXES = (".pt", ".ts")
ONNX_SUFFIXES = (".onnx",)


class Classifier(torch.nn.Module):
    """A frozen classifier taking stylex images: x [N, 3, H, W] in [-1, 1] -> logits [N, C].

    Resizes to the network's input size, applies its value range or mean/std and layout, and
    turns probabilities into log-probabilities, so callers always get logits (up to a per-row
    constant, which softmax ignores). Everything is differentiable in x.
    """

    scale: torch.Tensor  # buffers [1, 3, 1, 1]: x * scale + shift is the network's input
    shift: torch.Tensor

    def __init__(self, net: torch.nn.Module, spec: ClassifierSpec, source: str = ""):
        super().__init__()
        self.net = net  # the raw network, in its own input conventions
        self.spec = spec
        self.source = source  # the file it was loaded from, for error messages
        # Both preprocessing forms are one per-channel affine map of x in [-1, 1].
        if spec.mean is not None and spec.std is not None:
            mean = torch.tensor(spec.mean)
            std = torch.tensor(spec.std)
            scale, shift = 0.5 / std, (0.5 - mean) / std
        else:
            low, high = spec.value_range
            scale = torch.full((3,), (high - low) / 2)
            shift = torch.full((3,), (high + low) / 2)
        self.register_buffer("scale", scale.float().reshape(1, 3, 1, 1), persistent=False)
        self.register_buffer("shift", shift.float().reshape(1, 3, 1, 1), persistent=False)

    @property
    def num_classes(self) -> int:
        return self.spec.num_classes

    @property
    def class_names(self) -> list[str]:
        return self.spec.class_names

    @property
    def name(self) -> str:
        """How error messages call it: the file it came from, else the sidecar's name."""
        return self.source or self.spec.name or "(in memory)"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ClassifierError(
                f"classifier {self.name} got input of shape {list(x.shape)}, expected [N, 3, H, W]"
            )
        size = self.spec.input_size
        if x.shape[2] != size or x.shape[3] != size:
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        x = x * self.scale + self.shift
        if self.spec.layout == "NHWC":
            x = x.permute(0, 2, 3, 1).contiguous()
        out = self.net(x)
        if isinstance(out, tuple | list) and len(out) == 1:
            out = out[0]
        if not isinstance(out, torch.Tensor):
            raise ClassifierError(
                f"classifier {self.name} returned {type(out).__name__}, "
                f"expected one tensor of shape [N, {self.num_classes}]"
            )
        if tuple(out.shape) != (x.shape[0], self.num_classes):
            raise ClassifierError(
                f"classifier {self.name} returned shape {list(out.shape)}, expected "
                f"[{x.shape[0]}, {self.num_classes}] (batch, len(class_names) in the sidecar)"
            )
        out = out.float()
        if self.spec.output == "probabilities":
            out = torch.log(out.clamp_min(torch.finfo(out.dtype).tiny))
        return out


def freeze(module: torch.nn.Module) -> torch.nn.Module:
    """Eval mode, no parameter gradients; gradients still flow to the input."""
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module


def load_classifier(
    path: str | os.PathLike[str], *, device: str | torch.device = "cpu"
) -> Classifier:
    """Load a TorchScript (.pt/.ts) or ONNX (.onnx) classifier and its sidecar `<file>.json`.

    The result is frozen (eval mode, parameters without gradients) and on `device`.
    """
    path = Path(path)
    if not path.is_file():
        raise ClassifierError(f"classifier file {path} not found")
    suffix = path.suffix.lower()
    if suffix not in TORCHSCRIPT_SUFFIXES + ONNX_SUFFIXES:
        raise ClassifierError(
            f"classifier file {path} has suffix '{path.suffix}', expected one of "
            f"{list(TORCHSCRIPT_SUFFIXES + ONNX_SUFFIXES)} (TorchScript or ONNX)"
        )
    side = sidecar_path(path)
    if not side.is_file():
        raise ClassifierError(
            f"classifier sidecar {side} not found; every classifier file needs one "
            f"(input_size, class_names, format, ...) next to it"
        )
    spec = ClassifierSpec.from_json(side)
    expected_format = "onnx" if suffix in ONNX_SUFFIXES else "torchscript"
    if spec.format != expected_format:
        raise ClassifierError(
            f"classifier sidecar {side}: field 'format' is '{spec.format}', but {path.name} "
            f"is {expected_format} by its suffix"
        )
    if expected_format == "onnx":
        net = _load_onnx(path)
    else:
        net = _load_torchscript(path, device)
    clf = Classifier(net, spec, source=str(path))
    clf.to(device)
    freeze(clf)
    return clf


def _first_line(e: BaseException) -> str:
    lines = [line.strip() for line in str(e).strip().splitlines() if line.strip()]
    if not lines:
        return type(e).__name__
    # TorchScript errors open with a generic banner and a script traceback; the cause is last.
    return lines[-1] if "TorchScript interpreter" in lines[0] else lines[0]


def _load_torchscript(path: Path, device: str | torch.device) -> torch.nn.Module:
    try:
        with warnings.catch_warnings():
            # Deprecated in recent torch, but still the one self-contained format we accept.
            warnings.simplefilter("ignore", DeprecationWarning)
            return torch.jit.load(str(path), map_location=device)
    except Exception as e:
        raise ClassifierError(
            f"classifier file {path} is not a loadable TorchScript archive "
            f"(save it with torch.jit.script(model).save(...)): {_first_line(e)}"
        ) from None


def _load_onnx(path: Path) -> torch.nn.Module:
    import onnx

    try:
        model = onnx.load(str(path))
    except Exception as e:
        raise ClassifierError(
            f"classifier file {path} is not a readable ONNX model: {_first_line(e)}"
        ) from None
    return onnx_to_torch(model, source=str(path))


def check_classifier(clf: Classifier, num_classes: int | None, resolution: int) -> None:
    """Fail early, with one clear line, if `clf` cannot classify the data's images.

    Runs a dummy batch at the data's `resolution` and compares the class count with
    `num_classes` (None: the data has no labels to compare with).
    """
    if num_classes is not None and clf.num_classes != num_classes:
        raise ClassifierError(
            f"classifier {clf.name} has {clf.num_classes} classes {clf.class_names}, "
            f"but the data has {num_classes} classes"
        )
    device = clf.scale.device
    x = torch.zeros(2, 3, resolution, resolution, device=device)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            logits = clf(x)
    except ClassifierError:
        raise
    except Exception as e:
        raise ClassifierError(
            f"classifier {clf.name} failed on a dummy batch resized to its sidecar input_size "
            f"{clf.spec.input_size} (data resolution {resolution}); check input_size and layout "
            f"in the sidecar: {_first_line(e)}"
        ) from None
    if not torch.isfinite(logits).all():
        raise ClassifierError(
            f"classifier {clf.name} returned non-finite logits on a dummy batch of zeros"
        )
