"""Open Inference Protocol v2 REST bodies <-> the domain, through `stylex.serving.oip` (the
same input, parameters and output table as the gRPC side).

A body is a JSON object, optionally followed by binary tensor data (the binary tensor data
extension): the `Inference-Header-Content-Length` header gives the JSON part's length, and
each tensor whose parameters carry `binary_data_size` takes that many bytes of the rest, in
order. In JSON, FP32 data are numbers; BYTES data are strings: text outputs as UTF-8, the
encoded images (the `image` input, the counterfactual outputs) as base64 with the parameter
`"content_type": "base64"` (the convention MLServer uses), since JSON strings cannot carry
raw PNG bytes. An output is sent as binary when the request asks for it (`"binary_data": true`
in its output, or `"binary_data_output": true` in the request's parameters).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from stylex.errors import InvalidArgumentError
from stylex.explain.single.explanation import Explanation
from stylex.serving import oip as proto
from stylex.serving.service import ModelInfo

HEADER_LENGTH = "Inference-Header-Content-Length"
BASE64 = "base64"
EXTENSIONS = ["binary_tensor_data"]


@dataclass(frozen=True)
class InferRequest:
    """One decoded REST inference request."""

    id: str
    options: dict[str, Any]  # for `service.options`
    images: list[bytes] | list[torch.Tensor]
    outputs: list[proto.Output]
    binary: dict[str, bool]  # output name -> sent as binary data


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidArgumentError(f"{what} must be a JSON object, got {type(value).__name__}")
    return value


def split_body(body: bytes, header_length: str | None) -> tuple[dict[str, Any], bytes]:
    """(the JSON object, the binary data after it) of a request body."""
    if header_length is None:
        json_part, binary = body, b""
    else:
        try:
            n = int(header_length)
        except ValueError:
            raise InvalidArgumentError(
                f"{HEADER_LENGTH} {header_length!r} is not an integer"
            ) from None
        if not 0 <= n <= len(body):
            raise InvalidArgumentError(
                f"{HEADER_LENGTH} {n} is outside the body's {len(body)} bytes"
            )
        json_part, binary = body[:n], body[n:]
    try:
        request = json.loads(json_part, parse_constant=_no_constant)
    except RecursionError:
        raise InvalidArgumentError(
            "the request's JSON is nested too deeply to read; an OIP request is a few levels"
        ) from None
    except ValueError as e:  # bad UTF-8, bad syntax, an integer of thousands of digits
        reason = "a number of thousands of digits" if "integer string" in str(e) else str(e)
        raise InvalidArgumentError(f"the request is not valid JSON ({reason})") from None
    return _object(request, "the request"), binary


def _no_constant(name: str) -> Any:
    """JSON has no NaN or Infinity (Python's reader would accept them)."""
    raise InvalidArgumentError(f"the request is not valid JSON ({name} is not a JSON value)")


def _binary_size(tensor: dict[str, Any], what: str) -> int | None:
    size = _object(tensor.get("parameters") or {}, f"{what} parameters").get("binary_data_size")
    if size is None:
        return None
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise InvalidArgumentError(f"{what} binary_data_size {size!r} is not a size in bytes")
    return size


def _bytes_items(tensor: dict[str, Any], raw: bytes | None) -> list[bytes]:
    if raw is not None:
        return proto.unpack_bytes(raw)
    data = tensor.get("data")
    if not isinstance(data, list):
        raise InvalidArgumentError(f"input {proto.INPUT!r} has no data (a JSON list)")
    params = _object(tensor.get("parameters") or {}, "input parameters")
    if params.get("content_type") != BASE64:
        raise InvalidArgumentError(
            f"BYTES input {proto.INPUT!r} in JSON must be base64 strings with parameters "
            '{"content_type": "base64"}, or binary data (binary_data_size)'
        )
    out = []
    for i, item in enumerate(np.asarray(data, dtype=object).reshape(-1).tolist()):
        try:
            out.append(base64.b64decode(item, validate=True))
        except (binascii.Error, TypeError, ValueError):
            raise InvalidArgumentError(f"input {proto.INPUT!r} element {i} is not base64") from None
    return out


def _images(request: dict[str, Any], binary: bytes, resolution: int):
    inputs = request.get("inputs")
    if not isinstance(inputs, list) or not all(isinstance(t, dict) for t in inputs):
        raise InvalidArgumentError("the request has no inputs (a JSON list of tensors)")
    proto.check_input_name([str(t.get("name")) for t in inputs])
    tensor = inputs[0]
    shape = tensor.get("shape")
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) for d in shape
    ):
        raise InvalidArgumentError(f"input shape {shape!r} is not a list of integers")
    size = _binary_size(tensor, "input")
    if size is not None and size != len(binary):
        raise InvalidArgumentError(
            f"input binary_data_size {size} does not match the {len(binary)} bytes after the JSON"
        )
    if size is None and binary:
        raise InvalidArgumentError(
            f"{len(binary)} bytes follow the JSON but no input declares binary_data_size"
        )
    raw = binary if size is not None else None
    datatype = tensor.get("datatype")
    if datatype == "BYTES":
        return proto.bytes_images(shape, _bytes_items(tensor, raw))
    if datatype == "FP32":
        return proto.fp32_images(shape, raw, tensor.get("data"), resolution)
    raise InvalidArgumentError(f"input datatype {datatype!r} unsupported; expected BYTES or FP32")


def infer_request(body: bytes, header_length: str | None, resolution: int) -> InferRequest:
    """A REST inference request body -> what the service needs, every rule checked before any
    work (unknown outputs and parameters included)."""
    request, binary = split_body(body, header_length)
    params = dict(_object(request.get("parameters") or {}, "the request's parameters"))
    binary_all = params.pop("binary_data_output", False) is True
    options = proto.parameters(params)
    outputs = request.get("outputs") or []
    if not isinstance(outputs, list) or not all(isinstance(o, dict) for o in outputs):
        raise InvalidArgumentError("outputs must be a JSON list of objects")
    wanted = proto.requested_outputs([str(o.get("name")) for o in outputs])
    binary_of = {}
    for o in outputs:
        o_params = _object(o.get("parameters") or {}, "output parameters")
        binary_of[str(o.get("name"))] = o_params.get("binary_data", binary_all) is True
    return InferRequest(
        id=str(request.get("id", "")),
        options=options,
        images=_images(request, binary, resolution),
        outputs=wanted,
        binary={o.name: binary_of.get(o.name, binary_all) for o in wanted},
    )


def _json_data(output: proto.Output, raw: bytes) -> tuple[list[Any], dict[str, Any]]:
    if output.datatype == "FP32":
        return np.frombuffer(raw, dtype="<f4").astype(float).tolist(), {}
    items = proto.unpack_bytes(raw)
    if output.images:
        return [base64.b64encode(b).decode("ascii") for b in items], {"content_type": BASE64}
    return [b.decode("utf-8") for b in items], {}


def infer_response(
    req: InferRequest, info: ModelInfo, explanations: Sequence[Explanation]
) -> tuple[bytes, int | None]:
    """(body, the JSON part's length when binary data follow, else None). Encodes the
    counterfactual PNGs: call it beside the batch thread."""
    outputs, chunks = [], []
    for output, shape, raw in proto.filled_outputs(req.outputs, explanations, req.id):
        entry: dict[str, Any] = {"name": output.name, "datatype": output.datatype, "shape": shape}
        if req.binary[output.name]:
            entry["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        else:
            entry["data"], params = _json_data(output, raw)
            if params:
                entry["parameters"] = params
        outputs.append(entry)
    head = json.dumps(
        {"model_name": info.name, "model_version": info.version, "id": req.id, "outputs": outputs}
    ).encode()
    if not chunks:
        return head, None
    return head + b"".join(chunks), len(head)


def model_metadata(info: ModelInfo) -> dict[str, Any]:
    """The model's metadata: the input and the output table, -1 for a variable dimension."""
    num_classes = len(info.class_names)
    return {
        "name": info.name,
        "versions": [info.version],
        "platform": proto.PLATFORM,
        "inputs": [{"name": proto.INPUT, "datatype": "BYTES", "shape": [-1]}],
        "outputs": [
            {"name": o.name, "datatype": o.datatype, "shape": o.metadata_shape(num_classes)}
            for o in proto.OUTPUTS
        ],
    }
