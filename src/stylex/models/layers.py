"""Building blocks shared by the generator, encoder and discriminator.

All weighted layers use StyleGAN2's equalized learning rate: parameters are stored at unit scale
and multiplied by a constant gain at run time, so Adam sees every layer at the same scale.
Resampling uses the separable [1, 3, 3, 1] filter as depthwise convolutions whose group count is
the channel count (never the batch size), so every layer exports to ONNX with a dynamic batch.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)  # keeps activations at unit variance after leaky ReLU


def assert_shape(x: torch.Tensor, shape: list[int | None], name: str = "tensor") -> None:
    """Raise if `x` does not have `shape` (None matches any size). Cheap; kept at module entries."""
    if torch.jit.is_tracing():  # sizes are symbolic while exporting; the check ran eagerly before
        return
    if x.ndim != len(shape) or any(
        s is not None and int(d) != s for d, s in zip(x.shape, shape, strict=True)
    ):
        raise ValueError(f"{name} has shape {list(x.shape)}, expected {shape} (None = any)")


def activate(x: torch.Tensor, activation: str) -> torch.Tensor:
    if activation == "lrelu":
        return F.leaky_relu(x, LRELU_SLOPE) * LRELU_GAIN
    if activation == "linear":
        return x
    raise ValueError(f"unknown activation {activation!r}, expected 'lrelu' or 'linear'")


def _resample_filter() -> torch.Tensor:
    f = torch.tensor([1.0, 3.0, 3.0, 1.0])
    f2 = f[:, None] * f[None, :]
    return f2 / f2.sum()  # [4, 4], sums to 1


class Resample(nn.Module):
    """2x up- or downsampling with the [1,3,3,1] low-pass filter, per channel."""

    filter: torch.Tensor  # buffer [C, 1, 4, 4]

    def __init__(self, channels: int, mode: str) -> None:
        super().__init__()
        if mode not in ("up", "down", "blur_for_down"):
            raise ValueError(f"unknown resample mode {mode!r}")
        self.channels = channels
        self.mode = mode
        f = _resample_filter()
        if mode == "up":
            f = f * 4.0  # zero insertion keeps 1/4 of the samples: restore the DC gain
        self.register_buffer("filter", f[None, None].repeat(channels, 1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "up":  # [N,C,H,W] -> [N,C,2H,2W]
            return F.conv_transpose2d(x, self.filter, stride=2, padding=1, groups=self.channels)
        if self.mode == "down":  # [N,C,H,W] -> [N,C,H/2,W/2]
            return F.conv2d(x, self.filter, stride=2, padding=1, groups=self.channels)
        # Low-pass ahead of a stride-2 3x3 conv: pad 2 so that conv(valid, stride 2) gives H/2.
        return F.conv2d(x, self.filter, padding=2, groups=self.channels)


class FullyConnected(nn.Module):
    """Linear layer with equalized learning rate and an optional learning-rate multiplier."""

    def __init__(
        self,
        in_features: int,  # input width
        out_features: int,  # output width
        bias: bool = True,  # add a learned bias
        bias_init: float = 0.0,  # initial bias value (1 for style affines: styles start at 1)
        lr_multiplier: float = 1.0,  # effective learning-rate scale (0.01 in the mapping network)
        activation: str = "linear",  # 'linear' or 'lrelu'
    ) -> None:
        super().__init__()
        self.activation = activation
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = (
            nn.Parameter(torch.full([out_features], float(bias_init) / lr_multiplier))
            if bias
            else None
        )
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight * self.weight_gain
        b = self.bias * self.bias_gain if self.bias is not None else None
        return activate(F.linear(x, w, b), self.activation)


class Conv2dLayer(nn.Module):
    """Plain (unmodulated) conv with equalized learning rate, optionally downsampling 2x."""

    def __init__(
        self,
        in_channels: int,  # input channels
        out_channels: int,  # output channels
        kernel_size: int,  # 1 or 3
        bias: bool = True,  # add a learned bias
        activation: str = "lrelu",  # 'linear' or 'lrelu'
        down: bool = False,  # low-pass + stride 2
    ) -> None:
        super().__init__()
        self.activation = activation
        self.down = down
        self.kernel_size = kernel_size
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.blur: Resample | None = None
        if down:
            mode = "blur_for_down" if kernel_size == 3 else "down"
            self.blur = Resample(in_channels, mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight * self.weight_gain
        if self.blur is not None and self.kernel_size == 3:
            x = F.conv2d(self.blur(x), w, self.bias, stride=2)
        elif self.blur is not None:
            x = F.conv2d(self.blur(x), w, self.bias)
        else:
            x = F.conv2d(x, w, self.bias, padding=self.kernel_size // 2)
        return activate(x, self.activation)


def modulated_conv2d(
    x: torch.Tensor,  # [NCHW] input activations
    weight: torch.Tensor,  # [OIkk] shared weight, gain already applied
    styles: torch.Tensor,  # [NI] per-sample scale of each input channel
    demodulate: bool = True,  # normalise each output channel to unit expected variance
    fused: bool = False,  # grouped conv over the batch (training) vs. scale-conv-scale (export)
) -> torch.Tensor:
    """StyleGAN2 modulated convolution. Both paths compute the same function.

    The unfused path scales activations, runs one convolution shared by the whole batch and
    rescales the output: no batch-sized `groups`, so it exports to ONNX with a dynamic batch.
    The fused path builds one weight per sample and runs a grouped conv over the batch.
    """
    batch = x.shape[0]
    out_channels, in_channels, kh, kw = weight.shape
    padding = kh // 2
    dcoefs = None
    if demodulate:
        # sum over (i, ky, kx) of (w[o,i,ky,kx] * s[n,i])^2 = s^2 @ sum_k w^2
        dcoefs = (styles.square() @ weight.square().sum(dim=[2, 3]).t() + 1e-8).rsqrt()  # [NO]
    if not fused:
        x = x * styles[:, :, None, None]
        x = F.conv2d(x, weight, padding=padding)
        if dcoefs is not None:
            x = x * dcoefs[:, :, None, None]
        return x
    w = weight[None] * styles[:, None, :, None, None]  # [NOIkk]
    if dcoefs is not None:
        w = w * dcoefs[:, :, None, None, None]
    x = x.reshape(1, batch * in_channels, *x.shape[2:])
    x = F.conv2d(
        x, w.reshape(batch * out_channels, in_channels, kh, kw), padding=padding, groups=batch
    )
    return x.reshape(batch, out_channels, *x.shape[2:])
