"""Open Inference Protocol v2 protobuf messages <-> the domain, through `stylex.serving.oip`
(the input, parameters, output table and encodings every transport shares): request parameters
to explain options, the `image` input to images, explanations to raw output tensors, and the
model's metadata.
"""

from __future__ import annotations

from typing import Any

import torch

from stylex.errors import InvalidArgumentError
from stylex.explain.single.explanation import Explanation
from stylex.serving import oip as proto
from stylex.serving.grpc.gen.inference import grpc_predict_v2_pb2 as oip
from stylex.serving.service import ModelInfo

OUTPUTS = proto.OUTPUTS  # the one table, re-exported for the gRPC side's readers


def _param(p: oip.InferParameter) -> Any:
    which = p.WhichOneof("parameter_choice")
    return None if which is None else getattr(p, which)


def parameters(req: oip.ModelInferRequest) -> dict[str, Any]:
    """Request parameters -> the option values of `service.options`."""
    return proto.parameters({k: _param(v) for k, v in req.parameters.items()})


def inputs(req: oip.ModelInferRequest, resolution: int) -> list[bytes] | list[torch.Tensor]:
    """The `image` input -> encoded images (BYTES [N]) or x tensors [3, R, R] (FP32)."""
    proto.check_input_name([t.name for t in req.inputs])
    if req.raw_input_contents and len(req.raw_input_contents) != 1:
        raise InvalidArgumentError(
            f"expected 1 raw_input_contents entry, got {len(req.raw_input_contents)}"
        )
    tensor = req.inputs[0]
    raw = req.raw_input_contents[0] if req.raw_input_contents else None
    shape = list(tensor.shape)
    if tensor.datatype == "BYTES":
        items = proto.unpack_bytes(raw) if raw is not None else list(tensor.contents.bytes_contents)
        return proto.bytes_images(shape, items)
    if tensor.datatype == "FP32":
        return proto.fp32_images(shape, raw, tensor.contents.fp32_contents, resolution)
    raise InvalidArgumentError(
        f"input datatype {tensor.datatype!r} unsupported; expected BYTES or FP32"
    )


def requested_outputs(req: oip.ModelInferRequest) -> list[proto.Output]:
    """The outputs a request asks for (all when it names none); unknown names are refused."""
    return proto.requested_outputs([o.name for o in req.outputs])


def response(
    req: oip.ModelInferRequest, info: ModelInfo, explanations: list[Explanation]
) -> oip.ModelInferResponse:
    """Explanations -> ModelInferResponse with raw outputs (the requested ones, else all).
    Encodes the counterfactual PNGs: call it beside the batch thread."""
    resp = oip.ModelInferResponse(model_name=info.name, model_version=info.version, id=req.id)
    for output, shape, raw in proto.filled_outputs(requested_outputs(req), explanations, req.id):
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
        platform=proto.PLATFORM,
        inputs=[t(name=proto.INPUT, datatype="BYTES", shape=[-1])],
        outputs=[
            t(name=o.name, datatype=o.datatype, shape=o.metadata_shape(num_classes))
            for o in OUTPUTS
        ],
    )
