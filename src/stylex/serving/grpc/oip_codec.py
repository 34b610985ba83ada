"""Open Inference Protocol v2 messages <-> the domain: request parameters to explain options,
the `image` input to images, explanations to output tensors, and the model's metadata.

The tensors (`OUTPUTS` is the one statement of the outputs; protos/README.md documents them):
    input  image   BYTES [N] encoded images, or FP32 [N, 3, R, R] in [-1, 1]
    outputs        see OUTPUTS: name, datatype, shape (N images, C classes, K attributes)
    request parameters: top_k (int), target (string), shift (double), mode (string
    "catalog" | "image"), num_candidates (int)
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from stylex.errors import InvalidArgumentError
from stylex.explain.single.explanation import Explanation, explanation_to_dict, without_images
from stylex.serving.grpc.gen.inference import grpc_predict_v2_pb2 as oip
from stylex.serving.service import ModelInfo

INPUT = "image"
PARAMETERS = ("top_k", "target", "shift", "mode", "num_candidates")

Result = dict[str, Any]  # one explanation in `explanation_to_dict`'s layout, with images
Fill = Callable[[Sequence[Result]], tuple[list[int], bytes]]  # results -> (shape, raw contents)


@dataclass(frozen=True)
class Output:
    """One output tensor: how it is described (metadata) and how it is filled (responses)."""

    name: str
    datatype: str  # "FP32" | "BYTES"
    shape: tuple[str, ...]  # "N" images, "C" classes, "K" attributes (the most of any image)
    doc: str
    images: bool  # holds encoded images: PNGs are only made when such an output is asked for
    fill: Fill  # raw contents little-endian

    def metadata_shape(self, num_classes: int) -> list[int]:
        return [num_classes if d == "C" else -1 for d in self.shape]


def _pack_bytes(items: list[bytes]) -> bytes:
    return b"".join(struct.pack("<I", len(b)) + b for b in items)


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


def _probabilities(key: str) -> Fill:
    def fill(results: Sequence[Result]) -> tuple[list[int], bytes]:
        p = np.array([list(r[key].values()) for r in results], dtype="<f4")
        return list(p.shape), p.tobytes()

    return fill


def _per_image(value: Callable[[Result], bytes]) -> Fill:
    def fill(results: Sequence[Result]) -> tuple[list[int], bytes]:
        return [len(results)], _pack_bytes([value(r) for r in results])

    return fill


def _counterfactuals(results: Sequence[Result]) -> tuple[list[int], bytes]:
    k = max((len(r["attributes"]) for r in results), default=0)
    values = [
        r["attributes"][i]["counterfactual"] if i < len(r["attributes"]) else b""
        for r in results
        for i in range(k)
    ]
    return [len(results), k], _pack_bytes(values)


OUTPUTS: tuple[Output, ...] = (
    Output("probabilities", "FP32", ("N", "C"), "P(class) of the input", False,
           _probabilities("probs")),
    Output("probabilities_reconstruction", "FP32", ("N", "C"), "P(class) of its reconstruction",
           False, _probabilities("probs_reconstruction")),
    Output("predicted", "BYTES", ("N",), "class name", False,
           _per_image(lambda r: r["predicted"].encode())),
    Output("target", "BYTES", ("N",), "class name the counterfactuals move toward", False,
           _per_image(lambda r: r["target"].encode())),
    Output("explanation", "BYTES", ("N",), "JSON: attributes, probabilities (no images)", False,
           _per_image(lambda r: json.dumps(without_images(r)).encode())),
    Output("counterfactuals", "BYTES", ("N", "K"), "PNG per attribute, b'' past the last one",
           True, _counterfactuals),
    Output("joint_counterfactual", "BYTES", ("N",), "PNG of the attributes applied together",
           True, _per_image(lambda r: r["joint"]["counterfactual"] if r["joint"] else b"")),
)  # fmt: skip
OUTPUT_NAMES = tuple(o.name for o in OUTPUTS)
_BY_NAME = {o.name: o for o in OUTPUTS}


def _param(p: oip.InferParameter) -> Any:
    which = p.WhichOneof("parameter_choice")
    return None if which is None else getattr(p, which)


def parameters(req: oip.ModelInferRequest) -> dict[str, Any]:
    """Request parameters (PARAMETERS) -> the option values of `service.options`."""
    params = {k: _param(v) for k, v in req.parameters.items()}
    unknown = sorted(set(params) - set(PARAMETERS))
    if unknown:
        raise InvalidArgumentError(
            f"unknown request parameters {unknown}; expected {', '.join(PARAMETERS)}"
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


def inputs(req: oip.ModelInferRequest, resolution: int) -> list[bytes] | list[torch.Tensor]:
    """The `image` input -> encoded images (BYTES [N]) or x tensors [3, R, R] (FP32)."""
    if len(req.inputs) != 1 or req.inputs[0].name != INPUT:
        raise InvalidArgumentError(
            f"expected one input named {INPUT!r}, got {[t.name for t in req.inputs]}"
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
        return _fp32_images(shape, raw, tensor, resolution)
    raise InvalidArgumentError(
        f"input datatype {tensor.datatype!r} unsupported; expected BYTES or FP32"
    )


def _fp32_images(
    shape: list[int], raw: bytes | None, tensor: Any, resolution: int
) -> list[torch.Tensor]:
    r = resolution
    if len(shape) != 4 or shape[1:] != [3, r, r] or shape[0] < 1:
        raise InvalidArgumentError(f"FP32 input shape {shape}; expected [N, 3, {r}, {r}]")
    needed = int(np.prod(shape))
    if raw is not None:
        if len(raw) != 4 * needed:
            raise InvalidArgumentError(
                f"raw FP32 input has {len(raw)} bytes; shape {shape} needs {4 * needed}"
            )
        values = np.frombuffer(raw, dtype="<f4")
    else:
        values = np.asarray(tensor.contents.fp32_contents, dtype=np.float32)
        if values.size != needed:
            raise InvalidArgumentError(
                f"FP32 input has {values.size} values; shape {shape} needs {needed}"
            )
    x = torch.from_numpy(values.astype(np.float32).reshape(shape))
    return list(x.unbind(0))


def requested_outputs(req: oip.ModelInferRequest) -> list[Output]:
    """The outputs a request asks for (all when it names none); unknown names are refused."""
    wanted = [o.name for o in req.outputs] or list(OUTPUT_NAMES)
    unknown = sorted(set(wanted) - set(OUTPUT_NAMES))
    if unknown:
        raise InvalidArgumentError(f"unknown outputs {unknown}; expected some of {OUTPUT_NAMES}")
    return [_BY_NAME[name] for name in wanted]


def response(
    req: oip.ModelInferRequest, info: ModelInfo, explanations: list[Explanation]
) -> oip.ModelInferResponse:
    """Explanations -> ModelInferResponse with raw outputs (the requested ones, else all).
    Encodes the counterfactual PNGs: call it beside the batch thread."""
    wanted = requested_outputs(req)
    fmt = "png" if any(o.images for o in wanted) else "none"  # encode only what is sent
    results = [explanation_to_dict(e, request_id=req.id, image_format=fmt) for e in explanations]
    resp = oip.ModelInferResponse(model_name=info.name, model_version=info.version, id=req.id)
    for output in wanted:
        shape, raw = output.fill(results)
        resp.outputs.add(name=output.name, datatype=output.datatype, shape=shape)
        resp.raw_output_contents.append(raw)
    return resp


def metadata(info: ModelInfo) -> oip.ModelMetadataResponse:
    """ModelMetadataResponse: the input and OUTPUTS, -1 for a variable dimension."""
    t = oip.ModelMetadataResponse.TensorMetadata
    num_classes = len(info.class_names)
    return oip.ModelMetadataResponse(
        name=info.name,
        versions=[info.version],
        platform="stylex_onnxruntime",
        inputs=[t(name=INPUT, datatype="BYTES", shape=[-1])],
        outputs=[
            t(name=o.name, datatype=o.datatype, shape=o.metadata_shape(num_classes))
            for o in OUTPUTS
        ],
    )
