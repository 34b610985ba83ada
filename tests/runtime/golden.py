"""The shipped model's golden answers: fixed inputs, and what every path must say about them.

    python -m tests.runtime.golden      # rewrite tests/runtime/golden.json from ONNX Runtime

Rewrite it only when the shipped model changes on purpose (a new version), and read the diff:
it is the change users will see. The test (`test_golden.py`) refuses a golden file written for
other model bytes, so a model swapped without a look at its answers fails there.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from stylex.data import build_dataset
from stylex.data.decode import decode_image_bytes
from stylex.data.images import to_uint8_image
from stylex.explain.single.explanation import explanation_to_dict
from stylex.explain.vocabulary.catalog import AttributeCatalog
from stylex.runtime.model_dir import shipped_model_dir

GOLDEN = Path(__file__).with_name("golden.json")
NUM_IMAGES = 6
SEED = 4242
# The requests, each as gRPC clients send it: the model's CATALOG default and IMAGE mode.
REQUESTS: dict[str, dict[str, Any]] = {
    "catalog": {"top_k": 3, "mode": "catalog"},
    "image": {"top_k": 3, "mode": "image", "num_candidates": 16},
}
KEPT = ("mode", "predicted", "target", "probs", "probs_reconstruction")


def model_digest(model_dir: Path | None = None) -> str:
    """sha256 of the model's manifest, which names the sha256 of every file it loads."""
    path = (model_dir or shipped_model_dir()) / "manifest.json"
    return hashlib.sha256(path.read_bytes()).hexdigest()


def input_pngs() -> list[bytes]:
    """The fixed inputs as PNG files, the form a client sends: built-in aligned shapes."""
    import io

    from PIL import Image

    out = []
    for x, _ in build_dataset("shapes", 32, num_images=NUM_IMAGES, seed=SEED):
        buf = io.BytesIO()
        Image.fromarray(to_uint8_image(x)).save(buf, format="PNG")
        out.append(buf.getvalue())
    return out


def input_tensors(resolution: int = 32) -> torch.Tensor:
    """The inputs decoded the way the server decodes them."""
    return torch.stack([decode_image_bytes(png, resolution) for png in input_pngs()])


def summary(result: dict[str, Any]) -> dict[str, Any]:
    """What the golden file keeps of one result (`explanation_to_dict`'s layout): decision,
    ranked attributes with effects and probabilities, and the joint counterfactual."""
    out = {key: result[key] for key in KEPT}
    out["attributes"] = [
        {k: a[k] for k in ("layer", "channel", "index", "direction", "effect", "probs")}
        for a in result["attributes"]
    ]
    joint = result["joint"]
    out["joint"] = joint and {k: joint[k] for k in ("ranks", "effect", "probs", "flips")}
    return out


def explain_summaries(engine, images: torch.Tensor) -> dict[str, list[dict[str, Any]]]:
    """Per request kind, the summary of each image's explanation by `engine`."""
    return {
        kind: [summary(explanation_to_dict(e)) for e in engine.explain(images, **request)]
        for kind, request in REQUESTS.items()
    }


class InterpretedEngine:
    """The model directory's four ONNX graphs run by stylex's torch interpreter
    (`stylex.classifiers.onnx_torch`), not by ONNX Runtime: a second, independent executor of
    the same bytes, behind the same `explain_batch`."""

    def __init__(self, model_dir: Path) -> None:
        import onnx

        from stylex.classifiers.onnx_torch import OnnxModule
        from stylex.runtime import read_model_dir

        model = read_model_dir(model_dir)
        self.catalog: AttributeCatalog = model.catalog
        self.prior = model.screen
        self.resolution = model.resolution
        self.graphs = {
            name: OnnxModule(onnx.load_from_string(data), source=name).eval()
            for name, data in model.graphs.items()
        }

    @torch.no_grad()
    def classify(self, x: torch.Tensor) -> torch.Tensor:
        return self.graphs["classifier"](x)

    @torch.no_grad()
    def encode_styles(self, x: torch.Tensor, p: torch.Tensor):
        return self.graphs["style"](self.graphs["encoder"](x), p)

    @torch.no_grad()
    def synthesize_classify(self, conv: torch.Tensor, rgb: torch.Tensor):
        images = self.graphs["synthesis"](conv, rgb)
        return images, self.graphs["classifier"](images)

    def gradient(self, conv: torch.Tensor, rgb: torch.Tensor, targets: torch.Tensor):
        from stylex.explain.search.effects import log_prob_gradient

        def logits(c, r):
            return self.graphs["classifier"](self.graphs["synthesis"](c, r))

        return log_prob_gradient(logits, conv, rgb, targets)

    def explain(self, x: torch.Tensor, *, top_k: int, mode: str, num_candidates: int = 1):
        from stylex.explain.single.explainer import explain_batch
        from stylex.explain.single.options import ExplainOptions

        opts = ExplainOptions(top_k=top_k, mode=mode, num_candidates=num_candidates)
        out = explain_batch(self, self.catalog, list(x), opts, resolution=self.resolution,
                            gradient=self.gradient, prior=self.prior)  # fmt: skip
        for item in out:
            if isinstance(item, Exception):
                raise item
        return out


def main() -> None:
    from stylex.runtime import OrtEngine

    engine = OrtEngine.load(shipped_model_dir(), device="cpu", intra_op_threads=1)
    doc = {
        "model": {
            "path": "/".join(shipped_model_dir().parts[-3:]),
            "manifest_sha256": model_digest(),
        },
        "inputs": {"data": "shapes", "resolution": 32, "num_images": NUM_IMAGES, "seed": SEED},
        "requests": REQUESTS,
        "results": explain_summaries(engine, input_tensors(engine.resolution)),
    }
    tmp = GOLDEN.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    tmp.replace(GOLDEN)
    print(f"wrote {GOLDEN}")


if __name__ == "__main__":
    main()
