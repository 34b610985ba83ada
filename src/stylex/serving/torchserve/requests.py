"""One TorchServe request -> an image tensor and its option values (TorchServe's wire format;
decoding and option checks are the data plane's: `stylex.data.images`,
`stylex.explain.single.options`).

TorchServe hands the handler one dict per request: the REST body under "body" (or "data"),
already parsed when it was JSON, a str when it was text; gRPC `input` map entries under their
own names, as bytes. Accepted forms:

    raw PNG/JPEG bytes                      (REST body or gRPC input "data")
    a base64 string of those bytes
    JSON {"image": base64, "top_k": int, "target": class name or index,
          "mode": "catalog" | "image", "num_candidates": int}
    gRPC / multipart fields "top_k", "target", "mode" and "num_candidates" next to the image
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

import torch

from stylex.data.decode import DEFAULT_MAX_IMAGE_PIXELS, decode_image_bytes
from stylex.errors import InvalidArgumentError

_IMAGE_KEYS = ("data", "body", "image")
_OPTION_KEYS = ("top_k", "target", "mode", "num_candidates")


@dataclass(frozen=True)
class TorchServeRequest:
    x: torch.Tensor  # [3, R, R] in [-1, 1]
    options: dict[str, Any]  # _OPTION_KEYS as sent (checked by `InferenceEngine.options`)


def decode_request(
    item: dict[str, Any], resolution: int, max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
) -> TorchServeRequest:
    """One TorchServe request dict -> the image and its option values; InvalidArgumentError
    names what is wrong."""
    fields = {k: v for k, v in item.items() if k in (*_IMAGE_KEYS, *_OPTION_KEYS)}
    payload = next((item[k] for k in _IMAGE_KEYS if item.get(k) is not None), None)
    if payload is None:
        raise InvalidArgumentError(
            f"request has no image: expected one of the fields {list(_IMAGE_KEYS)}, "
            f"got {sorted(item)}"
        )
    if isinstance(payload, (bytes, bytearray)) and bytes(payload[:1]) == b"{":
        payload = _json_object(bytes(payload))
    if isinstance(payload, str) and payload.lstrip().startswith("{"):
        payload = _json_object(payload.encode())
    if isinstance(payload, dict):
        fields = {**fields, **payload}
        if "image" not in payload:
            raise InvalidArgumentError(
                f"JSON request has no 'image' field (base64 PNG/JPEG); got {sorted(payload)}"
            )
        payload = payload["image"]
    if isinstance(payload, str):
        payload = _base64(payload)
    if not isinstance(payload, (bytes, bytearray)):
        raise InvalidArgumentError(
            f"image is a {type(payload).__name__}; expected image bytes or a base64 string"
        )
    return TorchServeRequest(
        x=decode_image_bytes(bytes(payload), resolution, max_image_pixels),
        options={k: _text(fields.get(k)) for k in _OPTION_KEYS},
    )


def _json_object(data: bytes) -> dict[str, Any]:
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InvalidArgumentError(f"request body is not valid JSON: {e}") from None
    if not isinstance(obj, dict):
        raise InvalidArgumentError(f"JSON request is a {type(obj).__name__}; expected an object")
    return obj


def _base64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as e:
        raise InvalidArgumentError(f"image string is not valid base64: {e}") from None


def _text(value: Any) -> Any:
    return (
        bytes(value).decode("utf-8", "replace") if isinstance(value, (bytes, bytearray)) else value
    )
