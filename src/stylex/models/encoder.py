"""Encoder E: image -> w. The discriminator's ResNet without minibatch-stddev, so one image's
code never depends on the rest of the batch. One w is broadcast to all layers (no W+)."""

from __future__ import annotations

import torch
from torch import nn

from stylex.models.config import ArchConfig
from stylex.models.layers import Conv2dLayer, FullyConnected
from stylex.models.resnet import ResNetTrunk


class Encoder(nn.Module):
    def __init__(self, cfg: ArchConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.trunk = ResNetTrunk(cfg)
        c = self.trunk.out_channels
        self.conv = Conv2dLayer(c, c, 3)
        self.fc = FullyConnected(c * 16, c, activation="lrelu")
        self.out = FullyConnected(c, cfg.w_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [N, 3, R, R] in [-1, 1] -> w [N, w_dim]."""
        h = self.conv(self.trunk(x))
        return self.out(self.fc(h.flatten(1)))
