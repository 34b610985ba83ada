"""The StyleGAN2 ResNet trunk shared by the discriminator and the encoder.

fromRGB at full resolution, then one residual block per resolution down to 4x4:
two 3x3 convs (the second downsamples) plus a 1x1 downsampling skip, summed and scaled by
1/sqrt(2) to keep unit variance.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from stylex.models.config import ArchConfig
from stylex.models.layers import Conv2dLayer, assert_shape


class ResidualBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv0 = Conv2dLayer(in_channels, in_channels, 3)
        self.conv1 = Conv2dLayer(in_channels, out_channels, 3, down=True)
        self.skip = Conv2dLayer(
            in_channels, out_channels, 1, bias=False, activation="linear", down=True
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.skip(x)
        x = self.conv1(self.conv0(x))
        return (x + y) * (1.0 / math.sqrt(2.0))


class ResNetTrunk(nn.Module):
    """x [N, 3, R, R] -> features [N, C4, 4, 4]."""

    def __init__(self, cfg: ArchConfig) -> None:
        super().__init__()
        self.resolution = cfg.resolution
        self.from_rgb = Conv2dLayer(3, cfg.channels(cfg.resolution), 1)
        resolutions = [r for r in reversed(cfg.block_resolutions) if r > 4]
        self.blocks = nn.ModuleList(
            ResidualBlock(cfg.channels(r), cfg.channels(r // 2)) for r in resolutions
        )
        self.out_channels = cfg.channels(4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert_shape(x, [None, 3, self.resolution, self.resolution], "x")
        x = self.from_rgb(x)
        for block in self.blocks:
            x = block(x)
        return x
