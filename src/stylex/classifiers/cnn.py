"""The built-in classifier: a small CNN for data sets that come without one."""

from __future__ import annotations

import torch
from torch import nn

from stylex.errors import ClassifierError


class SmallCNN(nn.Module):
    """Conv blocks, stride 2 down to 4x4, global average pool, linear; input NCHW in [-1, 1].

    GroupNorm rather than BatchNorm, so the network behaves the same in train and eval mode
    and its input gradients (what StylEx backpropagates) do not depend on batch statistics.
    Uses only ops that TorchScript and the ONNX exporter handle (Conv, GroupNorm, LeakyReLU,
    mean, Linear).
    """

    def __init__(
        self,
        num_classes: int,  # number of output logits
        resolution: int,  # input side in pixels, >= 4
        width: int = 32,  # base channel count: the stem has width/2, deeper blocks up to 2x
    ):
        super().__init__()
        if num_classes < 2:
            raise ClassifierError(f"SmallCNN num_classes is {num_classes}, expected >= 2")
        if resolution < 4:
            raise ClassifierError(f"SmallCNN resolution is {resolution}, expected >= 4")
        if width < 8 or width % 8:
            raise ClassifierError(f"SmallCNN width is {width}, expected a multiple of 8 >= 8")
        self.num_classes = num_classes
        self.resolution = resolution
        self.width = width

        # Few channels at full resolution, more as the maps shrink: keeps compute and
        # parameters small (< 200k at width 32 up to 256 px).
        layers: list[nn.Module] = [_block(3, width // 2, stride=1)]
        channels, size = width // 2, resolution
        while size > 4:
            out = min(2 * channels, 2 * width)
            layers.append(_block(channels, out, stride=2))
            channels, size = out, (size + 1) // 2
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x)  # [N, C, 4, 4] (or smaller at odd sizes)
        return self.head(h.mean(dim=(2, 3)))  # [N, num_classes] logits


def _block(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1),
        nn.GroupNorm(min(8, out_channels // 4), out_channels),
        nn.LeakyReLU(0.2),
    )
