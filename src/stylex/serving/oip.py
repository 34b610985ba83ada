"""The Open Inference Protocol v2 as this server speaks it, whatever the transport: the input,
the request parameters, the output table and the tensor encodings. `grpc/oip_codec.py` reads
and writes it as protobuf messages, `http/oip_json.py` as JSON with binary tensor data.

    input  image   BYTES [N] encoded images, or FP32 [N, 3, R, R] in [-1, 1]
    outputs        see OUTPUTS: name, datatype, shape (N images, C classes, K attributes)
    request parameters: top_k (int), target (string), shift (double), mode (string
    "catalog" | "image"), num_candidates (int)

`OUTPUTS` is the one statement of the outputs (protos/README.md documents them; a test holds
the two together). Raw contents are little-endian; a BYTES element is a 4-byte little-endian
length followed by its bytes.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from stylex.errors import InvalidArgumentError
from stylex.explain.single.explanation import Explanation, explanation_to_dict, without_images

INPUT = "image"
PARAMETERS = ("top_k", "target", "shift", "mode", "num_candidates")
PLATFORM = "stylex_onnxruntime"

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


def pack_bytes(items: Sequence[bytes]) -> bytes:
    return b"".join(struct.pack("<I", len(b)) + b for b in items)


def unpack_bytes(raw: bytes) -> list[bytes]:
    """Raw BYTES contents -> its elements."""
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
        return [len(results)], pack_bytes([value(r) for r in results])

    return fill


def _counterfactuals(results: Sequence[Result]) -> tuple[list[int], bytes]:
    k = max((len(r["attributes"]) for r in results), default=0)
    values = [
        r["attributes"][i]["counterfactual"] if i < len(r["attributes"]) else b""
        for r in results
        for i in range(k)
    ]
    return [len(results), k], pack_bytes(values)


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


def parameters(params: Mapping[str, Any]) -> dict[str, Any]:
    """Request parameters (PARAMETERS, as the transport decoded them) -> the option values of
    `service.options`. Unknown names and values of the wrong kind are refused by name."""
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
        if isinstance(params["shift"], (bool, str)) or params["shift"] is None:
            raise InvalidArgumentError(f"parameter shift {params['shift']!r} is not a number")
        out["shift"] = float(params["shift"])
    return out


def check_input_name(names: Sequence[str]) -> None:
    if list(names) != [INPUT]:
        raise InvalidArgumentError(f"expected one input named {INPUT!r}, got {list(names)}")


def bytes_images(shape: Sequence[int], items: list[bytes]) -> list[bytes]:
    """A BYTES `image` input's elements, checked against its shape [N]."""
    if len(shape) != 1 or shape[0] != len(items):
        raise InvalidArgumentError(
            f"BYTES input shape {list(shape)} does not match its {len(items)} elements; "
            "expected [N]"
        )
    return items


def check_fp32_shape(shape: Sequence[int], resolution: int) -> int:
    """An FP32 `image` input's shape must be [N, 3, R, R]; returns its element count."""
    r, shape = resolution, list(shape)
    if len(shape) != 4 or shape[1:] != [3, r, r] or shape[0] < 1:
        raise InvalidArgumentError(f"FP32 input shape {shape}; expected [N, 3, {r}, {r}]")
    return int(np.prod(shape))


def fp32_images(shape: Sequence[int], raw: bytes | None, values: Any, resolution: int):
    """An FP32 `image` input -> x tensors [3, R, R]: from raw little-endian contents, or from
    `values` (a flat sequence of numbers) when there are none."""
    needed = check_fp32_shape(shape, resolution)
    if raw is not None:
        if len(raw) != 4 * needed:
            raise InvalidArgumentError(
                f"raw FP32 input has {len(raw)} bytes; shape {list(shape)} needs {4 * needed}"
            )
        array = np.frombuffer(raw, dtype="<f4")
    else:
        try:
            array = np.asarray(values, dtype=np.float32).reshape(-1)
        except (TypeError, ValueError):  # strings, nulls, ragged or deeply nested lists
            raise InvalidArgumentError(
                f"FP32 input data must be a flat list of {needed} numbers"
            ) from None
        if array.size != needed:
            raise InvalidArgumentError(
                f"FP32 input has {array.size} values; shape {list(shape)} needs {needed}"
            )
    bad = int(np.count_nonzero(~np.isfinite(array)))
    if bad:
        raise InvalidArgumentError(
            f"FP32 input: {bad} of its {array.size} values are not finite (NaN, infinity or "
            "beyond float32's range); expected pixels in [-1, 1]"
        )
    x = torch.from_numpy(array.astype(np.float32).reshape(list(shape)))
    return list(x.unbind(0))


def requested_outputs(names: Sequence[str]) -> list[Output]:
    """The outputs a request asks for (all when it names none); unknown names are refused."""
    wanted = list(names) or list(OUTPUT_NAMES)
    unknown = sorted(set(wanted) - set(OUTPUT_NAMES))
    if unknown:
        raise InvalidArgumentError(f"unknown outputs {unknown}; expected some of {OUTPUT_NAMES}")
    return [_BY_NAME[name] for name in wanted]


def filled_outputs(
    wanted: Sequence[Output], explanations: Sequence[Explanation], request_id: str = ""
) -> list[tuple[Output, list[int], bytes]]:
    """(output, shape, raw contents) of each wanted output. Encodes the counterfactual PNGs
    only when an image output is wanted: call it beside the batch thread."""
    fmt = "png" if any(o.images for o in wanted) else "none"
    results = [
        explanation_to_dict(e, request_id=request_id, image_format=fmt) for e in explanations
    ]
    return [(o, *o.fill(results)) for o in wanted]
