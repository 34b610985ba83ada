"""Discriminator D: ResNet with minibatch-stddev and one output per class.

The score of an image under class probabilities p is the projection sum_k D_k(x) p_k, so the
discriminator judges realism *for the classifier's decision* that conditions the generator.
"""

from __future__ import annotations

import torch
from torch import nn

from stylex.models.config import ArchConfig
from stylex.models.layers import Conv2dLayer, FullyConnected, assert_shape
from stylex.models.resnet import ResNetTrunk


def minibatch_stddev(x: torch.Tensor, group_size: int) -> torch.Tensor:
    """Append one channel: the mean std of features over groups of `group_size` samples."""
    n, c, h, w = x.shape
    g = min(group_size, n)
    while n % g:  # a batch not divisible by the group size uses the largest divisor below it
        g -= 1
    # Groups are runs of consecutive samples, so splitting a batch into micro-batches (gradient
    # accumulation) or across processes keeps every group intact.
    y = x.reshape(-1, g, c, h, w)  # [M, G, C, H, W]
    y = (y - y.mean(dim=1, keepdim=True)).square().mean(dim=1)  # [M, C, H, W]
    y = (y + 1e-8).sqrt().mean(dim=[1, 2, 3])  # [M]
    y = y.repeat_interleave(g).reshape(n, 1, 1, 1).expand(n, 1, h, w)
    return torch.cat([x, y], dim=1)


class Discriminator(nn.Module):
    def __init__(self, cfg: ArchConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.trunk = ResNetTrunk(cfg)
        c = self.trunk.out_channels
        extra = 1 if cfg.mbstd_group_size > 0 else 0
        self.conv = Conv2dLayer(c + extra, c, 3)
        self.fc = FullyConnected(c * 16, c, activation="lrelu")
        self.out = FullyConnected(c, cfg.num_classes)

    def forward(self, x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        """x [N, 3, R, R], p [N, num_classes] -> realism score [N]."""
        assert_shape(p, [x.shape[0], self.cfg.num_classes], "p")
        h = self.trunk(x)
        if self.cfg.mbstd_group_size > 0:
            h = minibatch_stddev(h, self.cfg.mbstd_group_size)
        logits = self.out(self.fc(self.conv(h).flatten(1)))  # [N, num_classes]
        return (logits * p.to(logits.dtype)).sum(dim=1)
