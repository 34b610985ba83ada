"""Perceptual distance between images: the reconstruction loss of training and the fidelity
metric of evaluation both use it, so it lives beside the networks.

LPIPS (Zhang et al. 2018) is used when the `lpips` package *and* its backbone weights are already
on this machine; nothing is downloaded. Otherwise a built-in substitute is used: the mean L1
distance between the two images' Laplacian pyramids and their image gradients at every scale.
It needs no weights, weighs edges and mid-frequency structure (what LPIPS mostly rewards over
plain L1), and is honest about being a hand-made metric: the run config records which one ran.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

VGG16_WEIGHTS = "vgg16-397923af.pth"  # torchvision's file name for the ImageNet VGG16


class PyramidPerceptual(nn.Module):
    """Built-in substitute for LPIPS: L1 over Laplacian-pyramid bands and image gradients."""

    name = "pyramid"
    kernel: torch.Tensor  # buffer [3, 1, 5, 5]

    def __init__(self, levels: int = 4) -> None:
        super().__init__()
        self.levels = levels
        k = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0])
        k2 = k[:, None] * k[None, :]
        self.register_buffer(
            "kernel", (k2 / k2.sum())[None, None].repeat(3, 1, 1, 1), persistent=False
        )

    def _blur_down(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pad(x, (2, 2, 2, 2), mode="reflect"), self.kernel, stride=2, groups=3)

    @staticmethod
    def _gradients(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x[..., :, 1:] - x[..., :, :-1], x[..., 1:, :] - x[..., :-1, :]

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Per-image distance [N] between images a, b [N, 3, H, W] in [-1, 1]."""
        total = a.new_zeros(a.shape[0])
        for _ in range(self.levels):
            if min(a.shape[-2:]) < 8:
                break
            a_down, b_down = self._blur_down(a), self._blur_down(b)
            size = a.shape[-2:]
            band_a = a - F.interpolate(a_down, size=size, mode="bilinear", align_corners=False)
            band_b = b - F.interpolate(b_down, size=size, mode="bilinear", align_corners=False)
            total = total + (band_a - band_b).abs().mean(dim=[1, 2, 3])
            for ga, gb in zip(self._gradients(a), self._gradients(b), strict=True):
                total = total + (ga - gb).abs().mean(dim=[1, 2, 3]) * 0.5
            a, b = a_down, b_down
        return total


class LpipsPerceptual(nn.Module):
    """Wraps lpips.LPIPS; input images in [-1, 1] as LPIPS expects."""

    def __init__(self, model: nn.Module, net: str) -> None:
        super().__init__()
        self.model = model
        self.name = f"lpips-{net}"

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.model(a, b).reshape(-1)


def build_perceptual(kind: str = "auto") -> nn.Module:
    """'auto' (LPIPS if available locally, else pyramid), 'lpips' (must be available) or
    'pyramid'. The returned module has a `name` attribute for the run config."""
    if kind == "pyramid":
        return PyramidPerceptual()
    if kind not in ("auto", "lpips"):
        raise ValueError(f"perceptual {kind!r} not in ('auto', 'lpips', 'pyramid')")
    try:
        import lpips  # type: ignore[import-not-found]

        # LPIPS fetches its VGG backbone through torchvision when it is not cached: never let
        # it reach the network, use it only when the weights are already on disk.
        cached = Path(torch.hub.get_dir()) / "checkpoints" / VGG16_WEIGHTS
        if not cached.is_file():
            raise FileNotFoundError(f"LPIPS backbone weights not found at {cached}")
        with contextlib.redirect_stdout(io.StringIO()):
            model = lpips.LPIPS(net="vgg", verbose=False)
        for param in model.parameters():
            param.requires_grad_(False)
        return LpipsPerceptual(model.eval(), "vgg")
    except Exception as exc:  # ImportError, or weights not on disk and no network
        if kind == "lpips":
            raise RuntimeError(f"LPIPS requested but not usable here: {exc}") from exc
        return PyramidPerceptual()
