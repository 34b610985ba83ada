"""TorchServe custom handler for StylEx explanations: a thin adapter over
`stylex.serving.torchserve` (decoding, batched explain and JSON live there).

Per request: raw PNG/JPEG bytes, a base64 string, or JSON {"image": base64, "top_k": int,
"target": class, "mode": "catalog" | "image", "num_candidates": int}. Response: JSON with the
predicted class, probabilities, ranked attributes, the joint counterfactual and base64 PNG
counterfactuals. A bad request gets its own 4xx status; the rest of the batch succeeds.
"""

from __future__ import annotations

import logging
from typing import Any

from stylex.serving.torchserve import TorchServeExplainer

log = logging.getLogger(__name__)


class StylexHandler:
    def __init__(self) -> None:
        self.explainer: TorchServeExplainer | None = None
        self.context: Any = None
        self.initialized = False

    def initialize(self, context: Any) -> None:
        """Load the ONNX Runtime engine from the unpacked archive, on TorchServe's GPU if any."""
        props = context.system_properties
        batch_size = int(props.get("batch_size") or 1)
        self.explainer = TorchServeExplainer.load(
            props["model_dir"],
            gpu_id=props.get("gpu_id"),
            warmup_batch_sizes=sorted({1, batch_size}),
        )
        self.initialized = True

    def preprocess(self, data: list[dict[str, Any]]) -> list[Any]:
        return self.explainer.decode(data)

    def inference(self, batch: list[Any]) -> list[Any]:
        return self.explainer.explain(batch)

    def postprocess(self, results: list[Any]) -> list[bytes]:
        out = []
        for idx, (status, body) in enumerate(self.explainer.encode(results)):
            if status != 200:
                phrase = "Bad Request" if 400 <= status < 500 else "Error"
                self.context.set_response_status(status, phrase, idx)
            self.context.set_response_content_type(idx, "application/json")
            out.append(body)
        return out

    def handle(self, data: list[dict[str, Any]], context: Any) -> list[bytes]:
        self.context = context
        return self.postprocess(self.inference(self.preprocess(data)))
