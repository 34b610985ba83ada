"""StyleGAN2 generator conditioned on classifier probabilities, with an explicit StyleSpace.

mapping:    z [N, z_dim] -> w [N, w_dim]                  (unconditional, 8 FC, lr x 0.01)
styles:     (w, p) -> Styles(conv [N, S], rgb [N, T])     (every affine takes [w || p])
synthesize: Styles -> x [N, 3, R, R]                      (4x4 constant, modulated convs, skip)

`synthesize(styles(w, p))` is the ordinary forward pass; editing a StyleSpace coordinate means
changing one column of `Styles.conv` and synthesizing again. No hooks, no patched biases.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from stylex.models.config import ArchConfig
from stylex.models.layers import (
    FullyConnected,
    Resample,
    activate,
    assert_shape,
    modulated_conv2d,
)
from stylex.models.stylespace import StyleLayer, StyleLayout, Styles

NOISE_MODES = ("random", "const", "none")


class MappingNetwork(nn.Module):
    """z -> w through `mapping_layers` FC layers; tracks the mean w for truncation."""

    def __init__(self, cfg: ArchConfig) -> None:
        super().__init__()
        self.z_dim = cfg.z_dim
        self.w_avg_beta = cfg.w_avg_beta
        dims = [cfg.z_dim] + [cfg.w_dim] * cfg.mapping_layers
        self.layers = nn.ModuleList(
            FullyConnected(
                dims[i],
                dims[i + 1],
                activation="lrelu",
                lr_multiplier=cfg.mapping_lr_multiplier,
            )
            for i in range(cfg.mapping_layers)
        )
        self.register_buffer("w_avg", torch.zeros(cfg.w_dim))

    def forward(
        self,
        z: torch.Tensor,  # [N, z_dim]
        truncation_psi: float = 1.0,  # 1 = no truncation; < 1 pulls w toward w_avg
        update_w_avg: bool = False,  # track the running mean of w (training only)
    ) -> torch.Tensor:
        assert_shape(z, [None, self.z_dim], "z")
        x = z * (z.square().mean(dim=1, keepdim=True) + 1e-8).rsqrt()
        for layer in self.layers:
            x = layer(x)
        if update_w_avg:
            self.w_avg.copy_(x.detach().float().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        if truncation_psi != 1.0:
            x = self.w_avg.to(x.dtype).lerp(x, truncation_psi)
        return x  # [N, w_dim]


class SynthesisLayer(nn.Module):
    """Modulated 3x3 conv (optionally after 2x upsampling) + noise + bias + leaky ReLU."""

    def __init__(
        self,
        in_channels: int,  # input channels = style width
        out_channels: int,  # output channels
        resolution: int,  # output resolution, px
        cond_dim: int,  # w_dim + num_classes
        up: bool,  # upsample the input 2x first
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.resolution = resolution
        self.affine = FullyConnected(cond_dim, in_channels, bias_init=1.0)
        self.up = Resample(in_channels, "up") if up else None
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 3, 3))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.noise_strength = nn.Parameter(torch.zeros([]))
        self.register_buffer("noise_const", torch.randn(resolution, resolution))

    def forward(
        self,
        x: torch.Tensor,  # [NCHW]
        style: torch.Tensor,  # [N, in_channels]
        noise_mode: str,
        fused: bool,
    ) -> torch.Tensor:
        if self.up is not None:
            x = self.up(x)  # per-channel scaling commutes with per-channel upsampling
        x = modulated_conv2d(x, self.weight, style, demodulate=True, fused=fused)
        if noise_mode == "random":
            noise = torch.randn(x.shape[0], 1, self.resolution, self.resolution, device=x.device)
            x = x + noise.to(x.dtype) * self.noise_strength
        elif noise_mode == "const":
            x = x + self.noise_const.to(x.dtype) * self.noise_strength
        return activate(x + self.bias[None, :, None, None], "lrelu")


class ToRGB(nn.Module):
    """Modulated 1x1 conv to RGB without demodulation."""

    def __init__(self, in_channels: int, cond_dim: int) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.affine = FullyConnected(cond_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(3, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(3))
        self.style_gain = 1.0 / math.sqrt(in_channels)

    def forward(self, x: torch.Tensor, style: torch.Tensor, fused: bool) -> torch.Tensor:
        x = modulated_conv2d(x, self.weight, style * self.style_gain, demodulate=False, fused=fused)
        return x + self.bias[None, :, None, None]


class SynthesisBlock(nn.Module):
    """One resolution: (const | conv0 with upsampling) -> conv1 -> toRGB added to the skip image."""

    def __init__(self, cfg: ArchConfig, resolution: int) -> None:
        super().__init__()
        cond_dim = cfg.w_dim + cfg.num_classes
        out_channels = cfg.channels(resolution)
        self.resolution = resolution
        self.name = f"b{resolution}"
        if resolution == 4:
            self.const = nn.Parameter(torch.randn(out_channels, 4, 4))
            self.conv0 = None
            self.img_up = None
        else:
            in_channels = cfg.channels(resolution // 2)
            self.const = None
            self.conv0 = SynthesisLayer(in_channels, out_channels, resolution, cond_dim, up=True)
            self.img_up = Resample(3, "up")
        self.conv1 = SynthesisLayer(out_channels, out_channels, resolution, cond_dim, up=False)
        self.torgb = ToRGB(out_channels, cond_dim)

    def conv_layers(self) -> list[tuple[str, SynthesisLayer]]:
        layers = [] if self.conv0 is None else [(f"{self.name}.conv0", self.conv0)]
        return [*layers, (f"{self.name}.conv1", self.conv1)]

    def forward(
        self,
        x: torch.Tensor | None,  # [NCHW] features from the previous block (None at 4x4)
        img: torch.Tensor | None,  # [N,3,H,W] skip image so far (None at 4x4)
        conv_styles: list[torch.Tensor],  # one [N, C_in] per conv layer of this block
        rgb_style: torch.Tensor,  # [N, C]
        noise_mode: str,
        fused: bool,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if self.conv0 is None:
            x = self.const[None].expand(rgb_style.shape[0], -1, -1, -1)
            x = self.conv1(x, conv_styles[0], noise_mode, fused)
        else:
            x = self.conv0(x, conv_styles[0], noise_mode, fused)
            x = self.conv1(x, conv_styles[1], noise_mode, fused)
        y = self.torgb(x, rgb_style, fused)
        img = y if img is None else self.img_up(img) + y
        return x, img


class Generator(nn.Module):
    """Conditional StyleGAN2 generator with `styles(w, p)` and `synthesize(styles)`."""

    def __init__(self, cfg: ArchConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.mapping = MappingNetwork(cfg)
        self.blocks = nn.ModuleList(SynthesisBlock(cfg, r) for r in cfg.block_resolutions)
        # Training sets this to use grouped convs; the default path exports to ONNX.
        self.fused_modconv = False
        layers, conv_offset, rgb_offset = [], 0, 0
        for block in self.blocks:
            for name, layer in block.conv_layers():
                res, ch = layer.resolution, layer.in_channels
                layers.append(StyleLayer(name, "conv", res, ch, conv_offset))
                conv_offset += ch
            ch = block.torgb.in_channels
            layers.append(
                StyleLayer(f"{block.name}.torgb", "rgb", block.resolution, ch, rgb_offset)
            )
            rgb_offset += ch
        self.layout = StyleLayout(layers)

    @property
    def num_classes(self) -> int:
        return self.cfg.num_classes

    def styles(self, w: torch.Tensor, p: torch.Tensor) -> Styles:
        """Styles of all layers from w [N, w_dim] and class probabilities p [N, num_classes]."""
        assert_shape(w, [None, self.cfg.w_dim], "w")
        assert_shape(p, [w.shape[0], self.cfg.num_classes], "p")
        wp = torch.cat([w, p.to(w.dtype)], dim=1)
        conv, rgb = [], []
        for block in self.blocks:
            conv.extend(layer.affine(wp) for _, layer in block.conv_layers())
            rgb.append(block.torgb.affine(wp))
        return Styles(torch.cat(conv, dim=1), torch.cat(rgb, dim=1))

    def synthesize(
        self,
        styles: Styles,
        noise_mode: str = "const",  # 'random' (training), 'const' (deterministic), 'none'
        start_block: int = 0,  # resume synthesis at this block ...
        state: tuple[torch.Tensor, torch.Tensor] | None = None,  # ... from (x, img) before it
    ) -> torch.Tensor:
        """Image [N, 3, R, R] from styles. Starting at block b > 0 needs that block's input state
        (see `synthesis_states`): edits at block b leave all earlier blocks unchanged."""
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode {noise_mode!r} not in {NOISE_MODES}")
        assert_shape(styles.conv, [None, self.layout.num_conv], "styles.conv")
        assert_shape(styles.rgb, [styles.conv.shape[0], self.layout.num_rgb], "styles.rgb")
        if (start_block > 0) != (state is not None):
            raise ValueError("start_block > 0 needs the state before that block, and only then")
        x, img = state if state is not None else (None, None)
        for block, conv_styles, rgb_style in self._block_styles(styles, start_block):
            x, img = block(x, img, conv_styles, rgb_style, noise_mode, self.fused_modconv)
        return img

    def synthesis_states(
        self, styles: Styles, noise_mode: str = "const"
    ) -> list[tuple[torch.Tensor, torch.Tensor] | None]:
        """The (x, img) input state of every block (None for the first) for `styles`."""
        states: list[tuple[torch.Tensor, torch.Tensor] | None] = [None]
        x = img = None
        for block, conv_styles, rgb_style in self._block_styles(styles, 0):
            x, img = block(x, img, conv_styles, rgb_style, noise_mode, self.fused_modconv)
            states.append((x, img))
        return states[:-1]

    def block_of_index(self, index: int) -> int:
        """Index of the synthesis block that a global StyleSpace index belongs to."""
        name, _ = self.layout.locate(index)
        res = int(name.split(".")[0][1:])
        return self.cfg.block_resolutions.index(res)

    def _block_styles(self, styles: Styles, start_block: int):
        conv = self.layout.split(styles.conv, "conv")
        rgb = self.layout.split(styles.rgb, "rgb")
        for block in list(self.blocks)[start_block:]:
            conv_styles = [conv[name] for name, _ in block.conv_layers()]
            yield block, conv_styles, rgb[f"{block.name}.torgb"]

    def forward(
        self,
        w: torch.Tensor,  # [N, w_dim]
        p: torch.Tensor,  # [N, num_classes] classifier probabilities
        noise_mode: str = "const",
    ) -> torch.Tensor:
        return self.synthesize(self.styles(w, p), noise_mode)

    def sample(
        self,
        z: torch.Tensor,  # [N, z_dim]
        p: torch.Tensor,  # [N, num_classes]
        truncation_psi: float = 1.0,
        noise_mode: str = "const",
    ) -> torch.Tensor:
        """Random image(s): z -> w -> (w, p) -> image."""
        return self(self.mapping(z, truncation_psi), p, noise_mode)
