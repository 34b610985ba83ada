"""One TorchServe request -> an image tensor and its options.

TorchServe hands the handler one dict per request: the REST body under "body" (or "data"),
already parsed when it was JSON, a str when it was text; gRPC `input` map entries under their
own names, as bytes. Accepted forms:

    raw PNG/JPEG bytes                      (REST body or gRPC input "data")
    a base64 string of those bytes
    JSON {"image": base64, "top_k": int, "target": class name or index}
    gRPC / multipart fields "top_k" and "target" next to the image
"""

from __future__ import annotations

import base64
import binascii
import io
import json
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image

from stylex.data.images import IMAGE_SUFFIXES, image_to_tensor
from stylex.errors import InvalidArgumentError, ResourceExhaustedError
from stylex.explain.explainer import check_top_k

DEFAULT_TOP_K = 5
MAX_IMAGE_BYTES = 16 * 1024 * 1024  # a photo; larger payloads are refused before decoding
_IMAGE_KEYS = ("data", "body", "image")


@dataclass(frozen=True)
class ExplainRequest:
    x: torch.Tensor  # [3, R, R] in [-1, 1]
    top_k: int = DEFAULT_TOP_K
    target: int | str | None = None  # None: the runner-up class


def decode_image_bytes(data: bytes, resolution: int) -> torch.Tensor:
    """Image file bytes -> x [3, R, R] in [-1, 1], resized and cropped as `load_image` does."""
    if len(data) > MAX_IMAGE_BYTES:
        raise ResourceExhaustedError(
            f"image of {len(data)} bytes is larger than the limit of {MAX_IMAGE_BYTES} bytes"
        )
    try:
        with Image.open(io.BytesIO(data)) as im:
            return image_to_tensor(im, resolution)
    # Pillow signals a bad file with many exception types; each means the same thing here.
    except Exception as e:
        raise InvalidArgumentError(
            f"cannot decode the image ({len(data)} bytes; {type(e).__name__}: {e}); "
            f"expected PNG or JPEG bytes (or another format Pillow opens: "
            f"{', '.join(IMAGE_SUFFIXES)})"
        ) from None


def decode_request(item: dict[str, Any], resolution: int) -> ExplainRequest:
    """One TorchServe request dict -> ExplainRequest; InvalidArgumentError names what is wrong."""
    fields = {k: v for k, v in item.items() if k in (*_IMAGE_KEYS, "top_k", "target")}
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
    return ExplainRequest(
        x=decode_image_bytes(bytes(payload), resolution),
        top_k=_top_k(fields.get("top_k")),
        target=_target(fields.get("target")),
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


def _top_k(value: Any) -> int:
    value = _text(value)
    if value is None or value == "":
        return DEFAULT_TOP_K
    try:
        if isinstance(value, bool) or isinstance(value, float):
            raise ValueError
        top_k = int(value)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"top_k {value!r} is not an integer") from None
    return check_top_k(top_k)


def _target(value: Any) -> int | str | None:
    value = _text(value)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise InvalidArgumentError(f"target {value!r}: expected a class name or index")
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return value
