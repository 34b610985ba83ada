"""Attributes: StyleSpace coordinates moved toward their dataset minimum or maximum.

An attribute is a pair (index k, direction d): d = 0 moves coordinate k toward S_min[k], d = 1
toward S_max[k], by `shift` times the distance (shift 1 sets it to the extreme):
    s'[k] = s[k] + shift * (target_d[k] - s[k])
S_min / S_max are taken over the styles of the images AttFind ran on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch

from stylex.models.stylespace import StyleLayout

TOWARD_MIN = 0
TOWARD_MAX = 1
DIRECTION_NAMES = ("min", "max")  # by direction: the names every layout and wire use


def direction_name(direction: int) -> str:
    """0 -> "min", 1 -> "max"."""
    return DIRECTION_NAMES[direction]


@dataclass(frozen=True)
class Attribute:
    index: int  # global StyleSpace (conv) coordinate
    direction: int  # 0 = toward S_min, 1 = toward S_max
    layer: str = ""  # e.g. "b16.conv1"
    channel: int = -1  # channel within the layer
    mean_effect: float = 0.0  # mean logit gain of the target class over the selection images
    flip_rate: float = 0.0  # share of non-target images whose argmax becomes the target alone
    label: str = ""  # human name, when someone gave one

    @property
    def key(self) -> tuple[int, int]:
        return (self.index, self.direction)

    def reversed(self) -> Attribute:
        """The same coordinate moved the other way (the binary reverse explanation)."""
        return Attribute(
            self.index, 1 - self.direction, self.layer, self.channel, 0.0, 0.0, self.label
        )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Attribute:
        return cls(**d)

    @classmethod
    def at(cls, layout: StyleLayout, index: int, direction: int, **kw) -> Attribute:
        layer, channel = layout.locate(index)
        return cls(int(index), int(direction), layer, channel, **kw)


@dataclass
class StyleStats:
    """Per-coordinate statistics of the conv styles of a set of images."""

    s_min: torch.Tensor  # [S]
    s_max: torch.Tensor  # [S]
    s_mean: torch.Tensor  # [S]
    s_std: torch.Tensor  # [S]
    num_images: int = 0
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_styles(cls, conv: torch.Tensor) -> StyleStats:
        """conv [N, S] -> statistics over the N images."""
        conv = conv.detach().float()
        return cls(
            s_min=conv.min(dim=0).values,
            s_max=conv.max(dim=0).values,
            s_mean=conv.mean(dim=0),
            s_std=conv.std(dim=0, unbiased=False),
            num_images=conv.shape[0],
        )

    def targets(self) -> torch.Tensor:
        """[2, S]: row 0 = S_min, row 1 = S_max."""
        return torch.stack([self.s_min, self.s_max])

    def to_json(self) -> dict:
        return {
            "num_images": self.num_images,
            "s_min": self.s_min.tolist(),
            "s_max": self.s_max.tolist(),
            "s_mean": self.s_mean.tolist(),
            "s_std": self.s_std.tolist(),
        }

    @classmethod
    def from_json(cls, d: dict) -> StyleStats:
        return cls(
            s_min=torch.tensor(d["s_min"], dtype=torch.float32),
            s_max=torch.tensor(d["s_max"], dtype=torch.float32),
            s_mean=torch.tensor(d["s_mean"], dtype=torch.float32),
            s_std=torch.tensor(d["s_std"], dtype=torch.float32),
            num_images=int(d.get("num_images", 0)),
        )


def apply_attributes(
    conv: torch.Tensor,  # [N, S] conv styles
    stats: StyleStats,
    attributes: list[tuple[int, int]]
    | list[Attribute],  # (index, direction) pairs, applied jointly
    shift: float = 1.0,
) -> torch.Tensor:
    """Return a copy of `conv` with every attribute applied (jointly) to every image."""
    out = conv.clone()
    targets = stats.targets().to(conv.device, conv.dtype)
    for attr in attributes:
        k, d = (attr.index, attr.direction) if isinstance(attr, Attribute) else attr
        out[:, k] = out[:, k] + shift * (targets[d, k] - out[:, k])
    return out
