"""The transport-neutral work of the TorchServe handler: a loaded engine, batched explain with
per-request errors, and the JSON each request gets back.

A request that fails (bad image, bad option) becomes a StylexError in its own slot; the others
in the batch are explained together and succeed.
"""

from __future__ import annotations

import base64
import io
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from stylex.data.images import to_uint8_image
from stylex.errors import StylexError
from stylex.explain.explanation import Explanation
from stylex.explain.output import explanation_to_json
from stylex.runtime import OrtEngine
from stylex.runtime.engine import InferenceEngine
from stylex.serving.torchserve.requests import ExplainRequest, decode_request

log = logging.getLogger(__name__)

# gRPC status of a StylexError -> the HTTP status TorchServe sends for that request.
HTTP_STATUS = {
    "INVALID_ARGUMENT": 400,
    "RESOURCE_EXHAUSTED": 413,
    "UNAVAILABLE": 503,
    "INTERNAL": 500,
}
Result = ExplainRequest | Explanation | StylexError


def http_status(error: StylexError) -> int:
    return HTTP_STATUS.get(error.grpc_status, 500)


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


def png_base64(x: torch.Tensor) -> str:
    """x [3, R, R] in [-1, 1] -> base64 of a PNG."""
    buf = io.BytesIO()
    Image.fromarray(to_uint8_image(x)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def explanation_response(exp: Explanation) -> dict[str, Any]:
    """The JSON of one explanation, with base64 PNGs of the reconstruction and counterfactuals."""
    out = explanation_to_json(exp)
    out["reconstruction_png"] = png_base64(exp.reconstruction)
    for attr, cf in zip(out["attributes"], exp.counterfactuals, strict=True):
        attr["counterfactual_png"] = png_base64(cf.image)
    return out


def error_response(error: StylexError) -> dict[str, Any]:
    return {"code": http_status(error), "type": error.grpc_status, "error": str(error)}


class TorchServeExplainer:
    """An inference engine behind TorchServe's decode / batch-explain / encode steps."""

    def __init__(self, engine: InferenceEngine) -> None:
        self.engine = engine

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

    def decode(self, items: Sequence[dict[str, Any]]) -> list[ExplainRequest | StylexError]:
        out: list[ExplainRequest | StylexError] = []
        for item in items:
            try:
                req = decode_request(item, self.engine.resolution)
                if req.target is not None:  # a bad class fails this request, not the batch
                    req = ExplainRequest(
                        req.x, req.top_k, self.engine.catalog.class_name(req.target)
                    )
                out.append(req)
            except StylexError as e:
                out.append(e)
        return out

    def explain(self, batch: Sequence[ExplainRequest | StylexError]) -> list[Result]:
        """Explain the valid requests together: one engine call per distinct target (usually
        one), at the largest top_k asked for, each result cut to its own top_k."""
        results: list[Result] = list(batch)
        groups: dict[int | str | None, list[int]] = {}
        for i, req in enumerate(batch):
            if isinstance(req, ExplainRequest):
                groups.setdefault(req.target, []).append(i)
        for target, idx in groups.items():
            reqs = [batch[i] for i in idx]
            assert all(isinstance(r, ExplainRequest) for r in reqs)
            x = torch.stack([r.x for r in reqs])  # [N, 3, R, R]
            top_k = max(r.top_k for r in reqs)
            try:
                exps = self.engine.explain(x, top_k=top_k, target=target)
            except StylexError as e:
                exps = [e] * len(reqs)
            except Exception as e:  # the whole group fails, the worker keeps serving
                log.exception("explain failed")
                exps = [StylexError(f"explain failed: {type(e).__name__}: {e}")] * len(reqs)
            for i, r, exp in zip(idx, reqs, exps, strict=True):
                if isinstance(exp, Explanation):
                    exp.counterfactuals = exp.counterfactuals[: r.top_k]
                results[i] = exp
        return results

    def encode(self, results: Sequence[Result]) -> list[tuple[int, bytes]]:
        """Per request: (HTTP status, JSON body)."""
        out = []
        for res in results:
            if isinstance(res, Explanation):
                out.append((200, json.dumps(explanation_response(res)).encode()))
            elif isinstance(res, StylexError):
                out.append((http_status(res), json.dumps(error_response(res)).encode()))
            else:
                raise TypeError(f"unexpected result {type(res).__name__}")
        return out
