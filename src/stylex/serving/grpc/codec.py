"""`stylex.v1` messages <-> the domain: requests to the service's `ExplainInput`, explanations
(through their one layout, `explanation_to_dict`) and model info to responses; the client reads
responses back with `response_to_dict`. The Open Inference Protocol's messages are `oip_codec`'s.
"""

from __future__ import annotations

from typing import Any

from stylex.errors import InvalidArgumentError
from stylex.explain.single.explanation import Explanation, explanation_to_dict
from stylex.explain.single.options import CATALOG, IMAGE, parse_mode
from stylex.explain.vocabulary.attributes import direction_name
from stylex.serving.grpc.errors import status_of
from stylex.serving.grpc.gen.stylex.v1 import explain_pb2 as pb
from stylex.serving.service import ExplainInput, ModelInfo, Rendering

# The wire's enums <-> the names the domain uses; the one table of each.
FORMAT_FROM_WIRE = {
    pb.IMAGE_FORMAT_PNG: "png",
    pb.IMAGE_FORMAT_JPEG: "jpeg",
    pb.IMAGE_FORMAT_NONE: "none",
}
FORMAT_TO_WIRE = {v: k for k, v in FORMAT_FROM_WIRE.items()}
_DIRECTION_TO_WIRE = {direction_name(0): pb.DIRECTION_MIN, direction_name(1): pb.DIRECTION_MAX}
_DIRECTION_FROM_WIRE = {v: k for k, v in _DIRECTION_TO_WIRE.items()}
MODE_FROM_WIRE = {pb.EXPLAIN_MODE_CATALOG: CATALOG, pb.EXPLAIN_MODE_IMAGE: IMAGE}
MODE_TO_WIRE = {v: k for k, v in MODE_FROM_WIRE.items()}


def mode_to_wire(mode: str | None) -> pb.ExplainMode:
    """A mode name (None or "": the server's default) -> the ExplainMode value."""
    return pb.EXPLAIN_MODE_DEFAULT if not mode else MODE_TO_WIRE[parse_mode(mode)]


PNG = Rendering()  # counterfactuals as PNG, no reconstruction


# --- stylex.v1 --------------------------------------------------------------------------
def from_grpc(req: pb.ExplainRequest) -> ExplainInput:
    """ExplainRequest -> ExplainInput (option defaults and checks are `ExplainService.options`)."""
    image_format = FORMAT_FROM_WIRE.get(req.image_format)
    if image_format is None:
        raise InvalidArgumentError(f"image_format {req.image_format} unknown")
    if not req.image:
        raise InvalidArgumentError("image is empty; expected PNG or JPEG bytes")
    if req.mode != pb.EXPLAIN_MODE_DEFAULT and req.mode not in MODE_FROM_WIRE:
        raise InvalidArgumentError(f"mode {req.mode} unknown")
    return ExplainInput(
        image=req.image,
        # proto3 sends 0 / "" for a field the client did not set: the defaults
        options={
            "top_k": req.top_k or None,
            "target": req.target,
            "shift": req.shift or None,
            "mode": MODE_FROM_WIRE.get(req.mode),
            "num_candidates": req.num_candidates or None,
        },
        rendering=Rendering(image_format, req.return_reconstruction),
        request_id=req.request_id,
    )


def _probs(d: dict[str, float]) -> list[pb.ClassProbability]:
    return [pb.ClassProbability(class_name=k, probability=v) for k, v in d.items()]


def to_grpc(
    exp: Explanation, request_id: str = "", rendering: Rendering = PNG
) -> pb.ExplainResponse:
    """Explanation -> ExplainResponse (encodes the images: call it beside the batch thread)."""
    d = explanation_to_dict(
        exp, request_id=request_id, image_format=rendering.image_format,
        reconstruction=rendering.reconstruction,
    )  # fmt: skip
    return pb.ExplainResponse(
        request_id=d["request_id"],
        probs=_probs(d["probs"]),
        probs_reconstruction=_probs(d["probs_reconstruction"]),
        predicted=d["predicted"],
        target=d["target"],
        reconstruction=d["reconstruction"],
        image_format=FORMAT_TO_WIRE[d["image_format"]],
        attributes=[
            pb.Attribute(
                rank=a["rank"],
                layer=a["layer"],
                channel=a["channel"],
                index=a["index"],
                direction=_DIRECTION_TO_WIRE[a["direction"]],
                label=a["label"],
                effect=a["effect"],
                counterfactual=a["counterfactual"],
                probs=_probs(a["probs"]),
            )
            for a in d["attributes"]
        ],
        mode=MODE_TO_WIRE[d["mode"]],
        joint=_joint_to_grpc(d["joint"]),
    )


def _joint_to_grpc(joint: dict[str, Any] | None) -> pb.JointCounterfactual | None:
    if joint is None:
        return None
    return pb.JointCounterfactual(
        ranks=joint["ranks"],
        effect=joint["effect"],
        probs=_probs(joint["probs"]),
        predicted=joint["predicted"],
        flips=joint["flips"],
        counterfactual=joint["counterfactual"],
    )


def response_to_dict(resp: pb.ExplainResponse) -> dict[str, Any]:
    """ExplainResponse -> the layout of `explanation_to_dict` (what `to_grpc` was given)."""

    def probs(ps) -> dict[str, float]:
        return {p.class_name: p.probability for p in ps}

    joint = None
    if resp.HasField("joint"):
        joint = {
            "ranks": list(resp.joint.ranks),
            "effect": resp.joint.effect,
            "probs": probs(resp.joint.probs),
            "predicted": resp.joint.predicted,
            "flips": resp.joint.flips,
            "counterfactual": resp.joint.counterfactual,
        }
    return {
        "request_id": resp.request_id,
        "mode": MODE_FROM_WIRE.get(resp.mode, ""),
        "predicted": resp.predicted,
        "target": resp.target,
        "probs": probs(resp.probs),
        "probs_reconstruction": probs(resp.probs_reconstruction),
        "image_format": FORMAT_FROM_WIRE.get(resp.image_format, "none"),
        "reconstruction": resp.reconstruction,
        "attributes": [
            {
                "rank": a.rank,
                "layer": a.layer,
                "channel": a.channel,
                "index": a.index,
                "direction": _DIRECTION_FROM_WIRE[a.direction],
                "label": a.label,
                "effect": a.effect,
                "probs": probs(a.probs),
                "counterfactual": a.counterfactual,
            }
            for a in resp.attributes
        ],
        "joint": joint,
    }


def error_to_grpc(exc: BaseException, request_id: str = "") -> pb.ExplainResponse:
    """A failed stream item -> its response with `error` set."""
    code, message = status_of(exc)
    return pb.ExplainResponse(
        request_id=request_id, error=pb.Error(code=code.name, message=message)
    )


def model_info_to_grpc(info: ModelInfo) -> pb.ModelInfo:
    return pb.ModelInfo(
        name=info.name,
        version=info.version,
        resolution=info.resolution,
        class_names=info.class_names,
        catalog=[
            pb.ClassCatalog(
                class_name=name,
                attributes=[
                    pb.CatalogEntry(
                        layer=a["layer"],
                        channel=a["channel"],
                        index=a["index"],
                        direction=_DIRECTION_TO_WIRE[direction_name(a["direction"])],
                        label=a["label"],
                        mean_effect=a["mean_effect"],
                        flip_rate=a["flip_rate"],
                    )
                    for a in attrs
                ],
            )
            for name, attrs in info.catalog.items()
        ],
        stylex_version=info.stylex_version,
        providers=info.providers,
        max_top_k=info.max_top_k,
        default_mode=MODE_TO_WIRE[info.default_mode],
        default_num_candidates=info.default_num_candidates,
        max_num_candidates=info.max_num_candidates,
    )
