"""Explanations of single images: the structures and their one layout as a dict (the
computation lives in `explainer.py`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from stylex.data.images import encode_image
from stylex.explain.vocabulary.attributes import Attribute, direction_name


@dataclass
class Counterfactual:
    attribute: Attribute  # direction as applied to this image
    image: torch.Tensor  # [3, R, R] in [-1, 1]: the reconstruction with the attribute applied
    probs: torch.Tensor  # [C] classifier probabilities of `image`
    effect: float  # probs[target] - probs_reconstruction[target]


@dataclass
class JointCounterfactual:
    """An explanation's attributes applied together (the sufficiency view)."""

    attributes: list[Attribute]  # those of the explanation's attributes that joined, best first
    image: torch.Tensor  # [3, R, R] in [-1, 1]: the reconstruction with all of them applied
    probs: torch.Tensor  # [C] classifier probabilities of `image`
    effect: float  # probs[target] - probs_reconstruction[target]
    flips: bool  # argmax(probs) differs from the class predicted for the input


@dataclass
class Explanation:
    class_names: list[str]
    image: torch.Tensor  # [3, R, R] in [-1, 1]: the input at the model's resolution
    reconstruction: torch.Tensor  # [3, R, R]: G(E(x), C(x))
    probs: torch.Tensor  # [C] classifier probabilities of the input
    probs_reconstruction: torch.Tensor  # [C] of the reconstruction
    target: int  # the class the counterfactuals move toward
    counterfactuals: list[Counterfactual] = field(default_factory=list)  # best first
    mode: str = "catalog"  # where the candidates came from: "catalog" | "image"
    joint: JointCounterfactual | None = None  # the counterfactuals applied together

    @property
    def predicted(self) -> int:
        return int(self.probs.argmax())


def _probs(class_names: list[str], t: torch.Tensor) -> dict[str, float]:
    return {n: round(float(v), 6) for n, v in zip(class_names, t.tolist(), strict=True)}


def explanation_to_dict(
    exp: Explanation,
    *,
    request_id: str = "",
    image_format: str | None = None,  # None: no images (a JSON document); png | jpeg | none
    reconstruction: bool = False,  # with image_format: also the reconstruction's bytes
) -> dict[str, Any]:
    """The one layout of an explanation, for every transport, file and client:

        request_id, mode ("catalog" | "image"), predicted, target, probs, probs_reconstruction,
        attributes: [{rank, layer, channel, index, direction ("min" | "max"), label, effect,
        probs}],
        joint: {ranks (of the attributes applied together), effect, probs, predicted, flips
        (its argmax differs from the input's)}; None when there is no attribute

    With `image_format`, also `image_format`, `reconstruction` (bytes, b"" unless asked for),
    each attribute's and the joint's `counterfactual` (bytes, b"" for "none"), as the gRPC
    response has them. Probabilities and effects are rounded to 6 decimals. Images are encoded
    here, so servers call this beside the batch thread, never on it.
    """
    names = exp.class_names
    out: dict[str, Any] = {
        "request_id": request_id,
        "mode": exp.mode,
        "predicted": names[exp.predicted],
        "target": names[exp.target],
        "probs": _probs(names, exp.probs),
        "probs_reconstruction": _probs(names, exp.probs_reconstruction),
    }
    if image_format is not None:
        out["image_format"] = image_format
        out["reconstruction"] = (
            encode_image(exp.reconstruction, image_format) if reconstruction else b""
        )
    attributes = []
    for rank, cf in enumerate(exp.counterfactuals, start=1):
        attr = {
            "rank": rank,
            "layer": cf.attribute.layer,
            "channel": cf.attribute.channel,
            "index": cf.attribute.index,
            "direction": direction_name(cf.attribute.direction),
            "label": cf.attribute.label,
            "effect": round(float(cf.effect), 6),
            "probs": _probs(names, cf.probs),
        }
        if image_format is not None:
            attr["counterfactual"] = encode_image(cf.image, image_format)
        attributes.append(attr)
    out["attributes"] = attributes
    out["joint"] = None
    if exp.joint is not None:
        rank_of = {cf.attribute.key: r for r, cf in enumerate(exp.counterfactuals, start=1)}
        joint = {
            "ranks": [rank_of[a.key] for a in exp.joint.attributes],
            "effect": round(float(exp.joint.effect), 6),
            "probs": _probs(names, exp.joint.probs),
            "predicted": names[int(exp.joint.probs.argmax())],
            "flips": bool(exp.joint.flips),
        }
        if image_format is not None:
            joint["counterfactual"] = encode_image(exp.joint.image, image_format)
        out["joint"] = joint
    return out


def without_images(layout: dict[str, Any]) -> dict[str, Any]:
    """An `explanation_to_dict` layout without its image fields (for JSON documents)."""
    out = {k: v for k, v in layout.items() if k not in ("reconstruction", "image_format")}
    out["attributes"] = [
        {k: v for k, v in a.items() if k != "counterfactual"} for a in layout["attributes"]
    ]
    joint = layout.get("joint")
    if joint is not None:
        joint = {k: v for k, v in joint.items() if k != "counterfactual"}
    out["joint"] = joint
    return out
