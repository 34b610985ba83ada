"""Wire <-> domain conversion, all of it: `stylex.v1` and Open Inference Protocol v2 messages to
and from the service's `ExplainInput`, the explanations (through their one layout,
`explanation_to_dict`) and model info. The client reads responses back with `response_to_dict`.

OIP tensors (documented in protos/README.md):
    input  image                         BYTES [N] encoded images, or FP32 [N, 3, R, R] in [-1, 1]
    output probabilities                 FP32  [N, C]  of the input
           probabilities_reconstruction  FP32  [N, C]
           predicted, target             BYTES [N]     class names
           explanation                   BYTES [N]     JSON: attributes, probs (no images)
           counterfactuals               BYTES [N, K]  PNG per attribute, b"" past the last one
           joint_counterfactual          BYTES [N]     PNG of the attributes applied together
    request parameters: top_k (int), target (string), shift (double), mode (string
    "catalog" | "image"), num_candidates (int)
"""

from __future__ import annotations

import json
import struct
from typing import Any

import numpy as np
import torch

from stylex.errors import InvalidArgumentError
from stylex.explain.attributes import direction_name
from stylex.explain.explanation import Explanation, explanation_to_dict, without_images
from stylex.explain.options import CATALOG, IMAGE, parse_mode
from stylex.serving.grpc.errors import status_of
from stylex.serving.grpc.gen.inference import grpc_predict_v2_pb2 as oip
from stylex.serving.grpc.gen.stylex.v1 import explain_pb2 as pb
from stylex.serving.service import ExplainInput, Rendering

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

OIP_INPUT = "image"
OIP_OUTPUTS = (
    "probabilities",
    "probabilities_reconstruction",
    "predicted",
    "target",
    "explanation",
    "counterfactuals",
    "joint_counterfactual",
)
OIP_PARAMETERS = ("top_k", "target", "shift", "mode", "num_candidates")


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


def model_info_to_grpc(info: dict[str, Any]) -> pb.ModelInfo:
    return pb.ModelInfo(
        name=info["name"],
        version=info["version"],
        resolution=info["resolution"],
        class_names=info["class_names"],
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
            for name, attrs in info["catalog"].items()
        ],
        stylex_version=info["stylex_version"],
        providers=info["providers"],
        max_top_k=info["max_top_k"],
        default_mode=MODE_TO_WIRE[info["default_mode"]],
        default_num_candidates=info["default_num_candidates"],
        max_num_candidates=info["max_num_candidates"],
    )


# --- Open Inference Protocol v2 -----------------------------------------------------------
def _param(p: oip.InferParameter) -> Any:
    which = p.WhichOneof("parameter_choice")
    return None if which is None else getattr(p, which)


def oip_parameters(req: oip.ModelInferRequest) -> dict[str, Any]:
    """Request parameters (OIP_PARAMETERS) -> the option values of `service.options`."""
    params = {k: _param(v) for k, v in req.parameters.items()}
    unknown = sorted(set(params) - set(OIP_PARAMETERS))
    if unknown:
        raise InvalidArgumentError(
            f"unknown request parameters {unknown}; expected {', '.join(OIP_PARAMETERS)}"
        )
    out: dict[str, Any] = {}
    for name in ("top_k", "num_candidates"):
        if name in params:
            if isinstance(params[name], bool) or not isinstance(params[name], int):
                raise InvalidArgumentError(f"parameter {name} {params[name]!r} is not an integer")
            out[name] = params[name]
    for name in ("target", "mode"):
        if name in params:
            out[name] = str(params[name])
    if "shift" in params:
        if isinstance(params["shift"], (bool, str)):
            raise InvalidArgumentError(f"parameter shift {params['shift']!r} is not a number")
        out["shift"] = float(params["shift"])
    return out


def _unpack_bytes(raw: bytes) -> list[bytes]:
    """Triton / OIP raw BYTES: each element a 4-byte little-endian length, then the bytes."""
    out, pos = [], 0
    while pos < len(raw):
        if pos + 4 > len(raw):
            raise InvalidArgumentError("raw BYTES tensor is truncated (length prefix cut off)")
        (n,) = struct.unpack_from("<I", raw, pos)
        pos += 4
        if pos + n > len(raw):
            raise InvalidArgumentError("raw BYTES tensor is truncated (element cut off)")
        out.append(raw[pos : pos + n])
        pos += n
    return out


def _pack_bytes(items: list[bytes]) -> bytes:
    return b"".join(struct.pack("<I", len(b)) + b for b in items)


def oip_inputs(req: oip.ModelInferRequest, resolution: int) -> list[bytes] | list[torch.Tensor]:
    """The `image` input -> encoded images (BYTES [N]) or x tensors [3, R, R] (FP32)."""
    if len(req.inputs) != 1 or req.inputs[0].name != OIP_INPUT:
        raise InvalidArgumentError(
            f"expected one input named {OIP_INPUT!r}, got {[t.name for t in req.inputs]}"
        )
    if req.raw_input_contents and len(req.raw_input_contents) != 1:
        raise InvalidArgumentError(
            f"expected 1 raw_input_contents entry, got {len(req.raw_input_contents)}"
        )
    tensor = req.inputs[0]
    raw = req.raw_input_contents[0] if req.raw_input_contents else None
    shape = list(tensor.shape)
    if tensor.datatype == "BYTES":
        items = _unpack_bytes(raw) if raw is not None else list(tensor.contents.bytes_contents)
        if len(shape) != 1 or shape[0] != len(items):
            raise InvalidArgumentError(
                f"BYTES input shape {shape} does not match its {len(items)} elements; expected [N]"
            )
        return items
    if tensor.datatype == "FP32":
        r = resolution
        if len(shape) != 4 or shape[1:] != [3, r, r] or shape[0] < 1:
            raise InvalidArgumentError(f"FP32 input shape {shape}; expected [N, 3, {r}, {r}]")
        if raw is not None:
            if len(raw) != 4 * int(np.prod(shape)):
                raise InvalidArgumentError(
                    f"raw FP32 input has {len(raw)} bytes; shape {shape} needs "
                    f"{4 * int(np.prod(shape))}"
                )
            values = np.frombuffer(raw, dtype="<f4")
        else:
            values = np.asarray(tensor.contents.fp32_contents, dtype=np.float32)
            if values.size != int(np.prod(shape)):
                raise InvalidArgumentError(
                    f"FP32 input has {values.size} values; shape {shape} needs {np.prod(shape)}"
                )
        x = torch.from_numpy(values.astype(np.float32).reshape(shape))
        return list(x.unbind(0))
    raise InvalidArgumentError(
        f"input datatype {tensor.datatype!r} unsupported; expected BYTES or FP32"
    )


def oip_outputs(req: oip.ModelInferRequest) -> list[str]:
    """The outputs a request asks for (all when it names none); unknown names are refused."""
    wanted = [o.name for o in req.outputs] or list(OIP_OUTPUTS)
    unknown = sorted(set(wanted) - set(OIP_OUTPUTS))
    if unknown:
        raise InvalidArgumentError(f"unknown outputs {unknown}; expected some of {OIP_OUTPUTS}")
    return wanted


def oip_response(
    req: oip.ModelInferRequest,
    model_name: str,
    model_version: str,
    explanations: list[Explanation],
) -> oip.ModelInferResponse:
    """Explanations -> ModelInferResponse with raw outputs (the requested ones, else all).
    Encodes the counterfactual PNGs: call it beside the batch thread."""
    wanted = oip_outputs(req)
    # encode only what is sent
    fmt = "png" if {"counterfactuals", "joint_counterfactual"} & set(wanted) else "none"
    results = [explanation_to_dict(e, request_id=req.id, image_format=fmt) for e in explanations]
    n = len(results)
    resp = oip.ModelInferResponse(model_name=model_name, model_version=model_version, id=req.id)
    for name in wanted:
        if name in ("probabilities", "probabilities_reconstruction"):
            key = "probs" if name == "probabilities" else "probs_reconstruction"
            p = np.array([list(r[key].values()) for r in results], dtype="<f4")
            _add(resp, name, "FP32", list(p.shape), p.tobytes())
        elif name in ("predicted", "target"):
            values = [r[name].encode() for r in results]
            _add(resp, name, "BYTES", [n], _pack_bytes(values))
        elif name == "explanation":
            values = [json.dumps(without_images(r)).encode() for r in results]
            _add(resp, name, "BYTES", [n], _pack_bytes(values))
        elif name == "joint_counterfactual":
            values = [r["joint"]["counterfactual"] if r["joint"] else b"" for r in results]
            _add(resp, name, "BYTES", [n], _pack_bytes(values))
        else:  # counterfactuals
            k = max((len(r["attributes"]) for r in results), default=0)
            values = [
                r["attributes"][i]["counterfactual"] if i < len(r["attributes"]) else b""
                for r in results
                for i in range(k)
            ]
            _add(resp, name, "BYTES", [n, k], _pack_bytes(values))
    return resp


def _add(resp: oip.ModelInferResponse, name: str, dtype: str, shape: list[int], raw: bytes) -> None:
    resp.outputs.add(name=name, datatype=dtype, shape=shape)
    resp.raw_output_contents.append(raw)


def oip_metadata(model_name: str, model_version: str, resolution: int, num_classes: int):
    """ModelMetadataResponse: the tensors above, -1 for a variable dimension."""
    t = oip.ModelMetadataResponse.TensorMetadata
    return oip.ModelMetadataResponse(
        name=model_name,
        versions=[model_version],
        platform="stylex_onnxruntime",
        inputs=[t(name=OIP_INPUT, datatype="BYTES", shape=[-1])],
        outputs=[
            t(name="probabilities", datatype="FP32", shape=[-1, num_classes]),
            t(name="probabilities_reconstruction", datatype="FP32", shape=[-1, num_classes]),
            t(name="predicted", datatype="BYTES", shape=[-1]),
            t(name="target", datatype="BYTES", shape=[-1]),
            t(name="explanation", datatype="BYTES", shape=[-1]),
            t(name="counterfactuals", datatype="BYTES", shape=[-1, -1]),
            t(name="joint_counterfactual", datatype="BYTES", shape=[-1]),
        ],
    )
