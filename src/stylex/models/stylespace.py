"""The StyleSpace layout: which style coordinates belong to which generator layer.

StyleSpace S is the concatenation of the outputs of the affine (style) layers of the *conv*
layers, in synthesis order; a conv layer's style width is its input channel count. toRGB styles
exist too and are kept in a second flat vector, but they are not part of the editable S.
A coordinate's global index is its layer's offset plus the channel, as in the StylEx paper
(at 256 px, index 5300 is b128.conv1 channel 180).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import NamedTuple

import torch


class Styles(NamedTuple):
    """All styles of one generator forward pass."""

    conv: torch.Tensor  # [N, num_conv]: the editable StyleSpace
    rgb: torch.Tensor  # [N, num_rgb]: toRGB styles, never edited


@dataclass(frozen=True)
class StyleLayer:
    name: str  # e.g. "b128.conv1" or "b128.torgb"
    kind: str  # "conv" or "rgb"
    resolution: int  # output resolution of the layer, px
    channels: int  # style width = the layer's input channel count
    offset: int  # start of this layer in the flat vector of its kind


class StyleLayout:
    """Offsets of every style layer in the flat conv and toRGB style vectors."""

    def __init__(self, layers: list[StyleLayer]) -> None:
        self.layers = list(layers)
        self.conv_layers = [layer for layer in self.layers if layer.kind == "conv"]
        self.rgb_layers = [layer for layer in self.layers if layer.kind == "rgb"]
        self.num_conv = sum(layer.channels for layer in self.conv_layers)
        self.num_rgb = sum(layer.channels for layer in self.rgb_layers)
        self._by_name = {layer.name: layer for layer in self.layers}

    def __len__(self) -> int:
        return self.num_conv

    def layer(self, name: str) -> StyleLayer:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no style layer {name!r}; layers: {list(self._by_name)}") from None

    def index(self, name: str, channel: int) -> int:
        """Global StyleSpace index of `channel` of conv layer `name`."""
        layer = self.layer(name)
        if layer.kind != "conv":
            raise KeyError(f"{name!r} is a toRGB layer: not part of the editable StyleSpace")
        if not 0 <= channel < layer.channels:
            raise IndexError(f"channel {channel} out of range for {name} ({layer.channels})")
        return layer.offset + channel

    def locate(self, index: int) -> tuple[str, int]:
        """(layer name, channel) of a global StyleSpace index."""
        if not 0 <= index < self.num_conv:
            raise IndexError(f"StyleSpace index {index} out of range [0, {self.num_conv})")
        for layer in self.conv_layers:
            if index < layer.offset + layer.channels:
                return layer.name, index - layer.offset
        raise AssertionError("unreachable")

    def split(self, flat: torch.Tensor, kind: str = "conv") -> dict[str, torch.Tensor]:
        """Flat [N, num] styles -> {layer name: [N, channels]} views, in synthesis order."""
        layers = self.conv_layers if kind == "conv" else self.rgb_layers
        return {lay.name: flat[:, lay.offset : lay.offset + lay.channels] for lay in layers}

    def join(self, per_layer: dict[str, torch.Tensor], kind: str = "conv") -> torch.Tensor:
        """{layer name: [N, channels]} -> flat [N, num] styles (inverse of `split`)."""
        layers = self.conv_layers if kind == "conv" else self.rgb_layers
        missing = [lay.name for lay in layers if lay.name not in per_layer]
        if missing:
            raise KeyError(f"missing style layers: {missing}")
        return torch.cat([per_layer[lay.name] for lay in layers], dim=1)

    def to_json(self) -> list[dict]:
        return [asdict(layer) for layer in self.layers]

    @classmethod
    def from_json(cls, rows: list[dict]) -> StyleLayout:
        return cls([StyleLayer(**row) for row in rows])

    def table(self) -> str:
        """Human-readable table of the layout."""
        lines = [f"{'layer':<14}{'kind':<6}{'res':>6}{'channels':>10}{'offset':>8}"]
        for lay in self.layers:
            lines.append(
                f"{lay.name:<14}{lay.kind:<6}{lay.resolution:>6}{lay.channels:>10}{lay.offset:>8}"
            )
        lines.append(f"conv StyleSpace: {self.num_conv} coordinates; toRGB: {self.num_rgb}")
        return "\n".join(lines)
