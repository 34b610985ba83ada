"""StyleGAN2 generator conditioned on classifier probabilities, with an explicit StyleSpace.

mapping:    z [N, z_dim] -> w [N, w_dim]                  (unconditional, 8 FC, lr x 0.01)
styles:     (w, p) -> Styles(conv [N, S], rgb [N, T])     (affines take [w || p], or w alone)
synthesize: Styles -> x [N, 3, R, R]                      (4x4 constant, modulated convs, skip)

With `synthesis_input="fourier"` the 4x4 constant is replaced by Fourier features on a
coordinate grid that an affine of (w, p) translates, scales and rotates (`FourierInput`). Its
four transform parameters are a style layer outside StyleSpace, like the toRGB styles, so they
travel in `Styles.rgb` and StyleSpace itself is unchanged.

`conditioned_styles="conv"` feeds p to the conv (StyleSpace) affines only: toRGB and the input
transform are functions of w, so everything p does passes through coordinates AttFind can edit.

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

    w_avg: torch.Tensor  # buffer [w_dim]

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

    noise_const: torch.Tensor  # buffer [R, R]

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
        self.up: Resample | None = Resample(in_channels, "up") if up else None
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


class FourierInput(nn.Module):
    """The 4x4 synthesis input as a function of where the object is: fixed random Fourier
    features evaluated on a pixel grid that is moved, scaled and rotated by a transform
    predicted from (w, p), then mixed by a learned 1x1 weight.

    A learned constant can only place content by re-weighting a fixed 4x4 pattern, so position,
    size and rotation must be built up by later layers; here a phase shift moves every feature
    continuously, which makes geometry a few numbers instead of a long search.
    """

    NUM_PARAMS = 4  # translation x, y; log scale; rotation (turns)
    MAX_FREQ = 0.75  # cycles per unit of the [-1, 1] grid: below the 4x4 grid's Nyquist (1.0)
    MAX_LOG_SCALE = math.log(2.0)  # the grid may shrink or grow by up to 2x
    freqs: torch.Tensor  # buffers: [C, 2] cycles per unit, [C] phases (turns), [H*W, 2] grid
    phases: torch.Tensor
    grid: torch.Tensor

    def __init__(self, channels: int, cond_dim: int, size: int = 4) -> None:
        super().__init__()
        self.channels = channels
        self.size = size
        self.affine = FullyConnected(cond_dim, self.NUM_PARAMS, bias_init=0.0)
        with torch.no_grad():  # identity transform at initialisation
            self.affine.weight.mul_(0.1)
        g = torch.Generator().manual_seed(0)
        direction = torch.randn(channels, 2, generator=g)
        direction = direction / direction.norm(dim=1, keepdim=True)
        radius = torch.rand(channels, 1, generator=g).sqrt() * self.MAX_FREQ
        self.register_buffer("freqs", direction * radius)  # [C, 2] cycles per unit
        self.register_buffer("phases", torch.rand(channels, generator=g))  # [C] turns
        coords = (torch.arange(size, dtype=torch.float32) + 0.5) / size * 2 - 1
        grid = torch.stack(torch.meshgrid(coords, coords, indexing="xy"), dim=-1)
        self.register_buffer("grid", grid.reshape(-1, 2))  # [H*W, 2] (x, y)
        self.weight = nn.Parameter(torch.randn(channels, channels))

    def forward(self, params: torch.Tensor) -> torch.Tensor:
        """params [N, 4] (the input's style) -> features [N, C, size, size]."""
        tx, ty = params[:, 0:1], params[:, 1:2]  # [N, 1]
        inv_scale = torch.exp(-torch.tanh(params[:, 2:3]) * self.MAX_LOG_SCALE)
        turn = params[:, 3:4] * (2 * math.pi)
        cos, sin = torch.cos(turn), torch.sin(turn)
        gx = self.grid[None, :, 0] - tx  # [N, HW]
        gy = self.grid[None, :, 1] - ty
        # Rotate the grid by -turn and scale it: the content turns by +turn and grows.
        u = (cos * gx + sin * gy) * inv_scale
        v = (-sin * gx + cos * gy) * inv_scale
        arg = u[:, None, :] * self.freqs[None, :, 0:1] + v[:, None, :] * self.freqs[None, :, 1:2]
        feats = torch.sin(2 * math.pi * (arg + self.phases[None, :, None]))  # [N, C, HW]
        mixed = torch.matmul(self.weight / math.sqrt(self.channels), feats)
        return mixed.reshape(params.shape[0], self.channels, self.size, self.size)


class SynthesisBlock(nn.Module):
    """One resolution: (const | conv0 with upsampling) -> conv1 -> toRGB added to the skip image."""

    def __init__(self, cfg: ArchConfig, resolution: int) -> None:
        super().__init__()
        cond_dim = cfg.w_dim + cfg.num_classes
        # Affines outside StyleSpace see w alone unless every style is conditioned.
        rgb_dim = cond_dim if cfg.conditions_rgb_styles else cfg.w_dim
        out_channels = cfg.channels(resolution)
        self.resolution = resolution
        self.name = f"b{resolution}"
        self.input: FourierInput | None = None
        self.const: nn.Parameter | None
        self.conv0: SynthesisLayer | None
        self.img_up: Resample | None
        if resolution == 4:
            if cfg.synthesis_input == "fourier":
                self.const = None
                self.input = FourierInput(out_channels, rgb_dim)
            else:
                self.const = nn.Parameter(torch.randn(out_channels, 4, 4))
            self.conv0 = None
            self.img_up = None
        else:
            in_channels = cfg.channels(resolution // 2)
            self.const = None
            self.conv0 = SynthesisLayer(in_channels, out_channels, resolution, cond_dim, up=True)
            self.img_up = Resample(3, "up")
        self.conv1 = SynthesisLayer(out_channels, out_channels, resolution, cond_dim, up=False)
        self.torgb = ToRGB(out_channels, rgb_dim)

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
        input_style: torch.Tensor | None = None,  # [N, 4] transform of a FourierInput
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if self.conv0 is None:
            if self.input is not None:
                assert input_style is not None, "a Fourier input needs its style"
                x = self.input(input_style)
            else:
                assert self.const is not None
                x = self.const[None].expand(rgb_style.shape[0], -1, -1, -1)
            x = self.conv1(x, conv_styles[0], noise_mode, fused)
        else:
            x = self.conv0(x, conv_styles[0], noise_mode, fused)
            x = self.conv1(x, conv_styles[1], noise_mode, fused)
        y = self.torgb(x, rgb_style, fused)
        if img is not None:
            assert self.img_up is not None
            y = self.img_up(img) + y
        img = y
        return x, img


class Generator(nn.Module):
    """Conditional StyleGAN2 generator with `styles(w, p)` and `synthesize(styles)`."""

    def __init__(self, cfg: ArchConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.mapping = MappingNetwork(cfg)
        self.blocks = nn.ModuleList(SynthesisBlock(cfg, r) for r in cfg.block_resolutions)
        self.synthesis_blocks: list[SynthesisBlock] = list(self.blocks)  # type: ignore[arg-type]
        # Training sets this to use grouped convs; the default path exports to ONNX.
        self.fused_modconv = False
        layers: list[StyleLayer] = []
        conv_offset = rgb_offset = 0
        for block in self.synthesis_blocks:
            if block.input is not None:
                # Outside StyleSpace, like toRGB: kept with the rgb styles, never edited.
                n = FourierInput.NUM_PARAMS
                layers.append(StyleLayer(f"{block.name}.input", "rgb", block.resolution, n,
                                         rgb_offset))  # fmt: skip
                rgb_offset += n
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
        wr = wp if self.cfg.conditions_rgb_styles else w  # what toRGB and the input see
        conv: list[torch.Tensor] = []
        rgb: list[torch.Tensor] = []
        for block in self.synthesis_blocks:
            if block.input is not None:
                rgb.append(block.input.affine(wr))
            conv.extend(layer.affine(wp) for _, layer in block.conv_layers())
            rgb.append(block.torgb.affine(wr))
        return Styles(torch.cat(conv, dim=1), torch.cat(rgb, dim=1))

    def conditioning_weights(self, kind: str | None = None) -> list[torch.Tensor]:
        """The class-probability columns [out, num_classes] of the style affines, at parameter
        scale: how p reaches each style coordinate. `kind` "conv" (StyleSpace), "rgb" (toRGB
        and the Fourier input, outside StyleSpace; none when only conv styles are conditioned)
        or None (both, conv first)."""
        if kind not in (None, "conv", "rgb"):
            raise ValueError(f"kind {kind!r} not in None, 'conv', 'rgb'")
        w_dim = self.cfg.w_dim
        blocks = self.synthesis_blocks
        affines = []
        if kind in (None, "conv"):
            affines += [layer.affine for block in blocks for _, layer in block.conv_layers()]
        if kind in (None, "rgb") and self.cfg.conditions_rgb_styles:
            affines += [block.torgb.affine for block in blocks]
            affines += [block.input.affine for block in blocks if block.input is not None]
        return [affine.weight[:, w_dim:] for affine in affines]

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
        for block, conv_styles, rgb_style, inp in self._block_styles(styles, start_block):
            x, img = block(x, img, conv_styles, rgb_style, noise_mode, self.fused_modconv, inp)
        assert img is not None, "no block was run"
        return img

    def synthesis_states(
        self, styles: Styles, noise_mode: str = "const"
    ) -> list[tuple[torch.Tensor, torch.Tensor] | None]:
        """The (x, img) input state of every block (None for the first) for `styles`."""
        states: list[tuple[torch.Tensor, torch.Tensor] | None] = [None]
        x = img = None
        for block, conv_styles, rgb_style, inp in self._block_styles(styles, 0):
            x, img = block(x, img, conv_styles, rgb_style, noise_mode, self.fused_modconv, inp)
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
        for block in self.synthesis_blocks[start_block:]:
            conv_styles = [conv[name] for name, _ in block.conv_layers()]
            inp = rgb[f"{block.name}.input"] if block.input is not None else None
            yield block, conv_styles, rgb[f"{block.name}.torgb"], inp

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
