"""Architecture hyperparameters shared by the generator, encoder and discriminator.

The three networks are trained together and must agree on resolution, widths and the number of
classes, so one small dataclass describes all of them; it is saved as JSON next to the weights
and is all that is needed to rebuild the modules.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from stylex.errors import ConfigError

MIN_RESOLUTION = 16
MAX_RESOLUTION = 1024
SYNTHESIS_INPUTS = ("const", "fourier")
CONDITIONED_STYLES = ("all", "conv")


def check_resolution(resolution: int) -> int:
    """Return `resolution` if it is a power of two in [16, 1024], else raise ConfigError."""
    r = int(resolution)
    if r != resolution or r < MIN_RESOLUTION or r > MAX_RESOLUTION or r & (r - 1):
        raise ConfigError(
            f"resolution {resolution!r} is not supported: expected a power of two "
            f"from {MIN_RESOLUTION} to {MAX_RESOLUTION} (16, 32, 64, ...)"
        )
    return r


@dataclass(frozen=True)
class ArchConfig:
    resolution: int  # output/input image size, px (power of two, 16..1024)
    num_classes: int  # classifier outputs; p = softmax(logits) conditions every style layer
    z_dim: int = 512  # latent z width
    w_dim: int = 512  # intermediate latent w width
    mapping_layers: int = 8  # FC layers of the mapping network
    mapping_lr_multiplier: float = 0.01  # learning-rate multiplier of the mapping network
    channel_base: int = 32768  # channels at resolution r: min(channel_base // r, channel_max)
    channel_max: int = 512  # cap on channels per layer
    mbstd_group_size: int = 4  # discriminator minibatch-stddev group (0 disables)
    w_avg_beta: float = 0.995  # decay of the tracked mean w (used by truncation)
    # Synthesis input: "const" (StyleGAN2's learned 4x4 constant) or "fourier" (Fourier features
    # on a grid that (w, p) moves, scales and rotates; see generator.FourierInput).
    synthesis_input: str = "const"
    # Which style affines take p: "all" (every affine takes [w || p], as in the paper) or
    # "conv" (only StyleSpace's conv styles; toRGB and the synthesis input see w alone), so that
    # the decision cannot ride in styles that AttFind never edits (docs/experiments.md, round 4).
    conditioned_styles: str = "all"

    def __post_init__(self) -> None:
        check_resolution(self.resolution)
        if self.num_classes < 1:
            raise ConfigError(f"num_classes must be >= 1, got {self.num_classes}")
        if self.synthesis_input not in SYNTHESIS_INPUTS:
            raise ConfigError(
                f"synthesis_input {self.synthesis_input!r} not in {list(SYNTHESIS_INPUTS)}"
            )
        if self.conditioned_styles not in CONDITIONED_STYLES:
            raise ConfigError(
                f"conditioned_styles {self.conditioned_styles!r} not in {list(CONDITIONED_STYLES)}"
            )
        for name in ("z_dim", "w_dim", "mapping_layers", "channel_base", "channel_max"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")

    @property
    def conditions_rgb_styles(self) -> bool:
        """Whether toRGB and the synthesis input take p too (the paper's "all")."""
        return self.conditioned_styles == "all"

    def channels(self, resolution: int) -> int:
        return min(self.channel_base // resolution, self.channel_max)

    @property
    def block_resolutions(self) -> list[int]:
        """4, 8, ..., resolution."""
        out, r = [], 4
        while r <= self.resolution:
            out.append(r)
            r *= 2
        return out

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ArchConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown architecture keys {unknown}; known: {sorted(known)}")
        return cls(**d)
