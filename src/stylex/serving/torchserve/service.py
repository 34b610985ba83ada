"""The work of the TorchServe handler: a loaded engine, one `explain_batch` per TorchServe
batch, and the JSON each request gets back.

A request that fails (bad image, bad option, or its own explanation) gets its error as its
answer; the others in the batch are explained together and succeed.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from stylex.data.decode import DEFAULT_MAX_IMAGE_PIXELS
from stylex.errors import ConfigError, StylexError
from stylex.explain.single.explanation import Explanation, explanation_to_dict
from stylex.explain.single.options import ExplainOptions
from stylex.runtime import OrtEngine
from stylex.runtime.engine import InferenceEngine
from stylex.serving.torchserve.requests import TorchServeRequest, decode_request

log = logging.getLogger(__name__)

Decoded = tuple[TorchServeRequest, ExplainOptions] | StylexError
Result = Explanation | Exception


def max_image_pixels_from_env(env: Mapping[str, str] | None = None) -> int:
    """STYLEX_MAX_IMAGE_PIXELS (as `stylex serve` reads it), else the default cap."""
    raw = (os.environ if env is None else env).get("STYLEX_MAX_IMAGE_PIXELS", "")
    if not raw:
        return DEFAULT_MAX_IMAGE_PIXELS
    if not raw.isdecimal() or int(raw) < 1:
        raise ConfigError(f"STYLEX_MAX_IMAGE_PIXELS={raw!r} is not a positive integer")
    return int(raw)


def device_for_gpu_id(gpu_id: int | str | None, available: Sequence[str] | None = None) -> str:
    """The engine device for the GPU TorchServe assigned (None on a CPU-only host)."""
    if gpu_id is None or str(gpu_id) == "":
        return "cpu"
    if available is None:
        import onnxruntime

        available = onnxruntime.get_available_providers()
    if "CUDAExecutionProvider" not in available:
        log.warning("TorchServe assigned GPU %s, but onnxruntime has no CUDA provider", gpu_id)
        return "cpu"
    return f"cuda:{int(gpu_id)}"


def explanation_response(exp: Explanation) -> dict[str, Any]:
    """The JSON of one explanation (`explanation_to_dict`), the reconstruction, each
    counterfactual and the joint one as base64 PNGs under `reconstruction_png` /
    `counterfactual_png`."""
    out = explanation_to_dict(exp, image_format="png", reconstruction=True)
    out["reconstruction_png"] = _base64(out.pop("reconstruction"))
    for part in [*out["attributes"], *([out["joint"]] if out["joint"] else [])]:
        part["counterfactual_png"] = _base64(part.pop("counterfactual"))
    return out


def _base64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def error_response(error: Exception) -> dict[str, Any]:
    """A failed request's answer; its HTTP status is the error class's own (`stylex.errors`),
    the one the HTTP transport sends for the same error."""
    if not isinstance(error, StylexError):  # a bug: logged, its text not sent to the caller
        log.error("explain failed", exc_info=error)
        error = StylexError(f"internal error ({type(error).__name__}); see the server log")
    return {"code": error.http_status, "type": error.grpc_status, "error": str(error)}


class TorchServeExplainer:
    """An inference engine behind TorchServe's decode / batch-explain / encode steps."""

    def __init__(
        self,
        engine: InferenceEngine,
        max_image_pixels: int | None = None,  # None: $STYLEX_MAX_IMAGE_PIXELS, else the default
    ) -> None:
        self.engine = engine
        self.max_image_pixels = max_image_pixels or max_image_pixels_from_env()

    @classmethod
    def load(
        cls,
        model_dir: str | Path,
        gpu_id: int | str | None = None,  # TorchServe's "gpu_id" system property
        warmup_batch_sizes: Sequence[int] = (1,),
    ) -> TorchServeExplainer:
        device = device_for_gpu_id(gpu_id)
        engine = OrtEngine.load(model_dir, device=device, warmup_batch_sizes=warmup_batch_sizes)
        log.info("stylex engine on %s (providers %s)", device, engine.providers)
        return cls(engine)

    def decode(self, items: Sequence[dict[str, Any]]) -> list[Decoded]:
        """Per request: its image and checked options, or the error that is its answer."""
        out: list[Decoded] = []
        for item in items:
            try:
                req = decode_request(item, self.engine.resolution, self.max_image_pixels)
                out.append((req, self.engine.options(**req.options)))
            except StylexError as e:
                out.append(e)
        return out

    def explain(self, batch: Sequence[Decoded]) -> list[Result]:
        """Explain the decoded requests together (one `explain_batch`); errors stay in place."""
        valid = [d for d in batch if not isinstance(d, StylexError)]
        explained = iter(
            self.engine.explain_batch([req.x for req, _ in valid], [opts for _, opts in valid])
        )
        return [d if isinstance(d, StylexError) else next(explained) for d in batch]

    def encode(self, results: Sequence[Result]) -> list[tuple[int, bytes]]:
        """Per request: (HTTP status, JSON body)."""
        out = []
        for res in results:
            if isinstance(res, Explanation):
                out.append((200, json.dumps(explanation_response(res)).encode()))
            elif isinstance(res, Exception):
                body = error_response(res)
                out.append((body["code"], json.dumps(body).encode()))
            else:
                raise TypeError(f"unexpected result {type(res).__name__}")
        return out
