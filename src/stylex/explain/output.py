"""Explanations to files: per image a JSON result, the counterfactual PNGs and a strip image."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from stylex.data import load_image
from stylex.data.images import to_uint8_image
from stylex.explain.catalog import AttributeCatalog
from stylex.explain.context import load_context
from stylex.explain.explainer import Explainer
from stylex.explain.explanation import Explanation
from stylex.explain.visuals import explanation_strip, save_png
from stylex.fileio import atomic_path, write_json


def _png(image: torch.Tensor, path: Path) -> None:
    from PIL import Image

    with atomic_path(path) as tmp:
        Image.fromarray(to_uint8_image(image)).save(tmp, format="PNG")


def explanation_to_json(exp: Explanation) -> dict[str, Any]:
    names = exp.class_names
    probs = lambda t: {n: round(float(v), 6) for n, v in zip(names, t, strict=True)}  # noqa: E731
    return {
        "predicted": names[exp.predicted],
        "target": names[exp.target],
        "probs": probs(exp.probs),
        "probs_reconstruction": probs(exp.probs_reconstruction),
        "attributes": [
            {
                "rank": rank,
                "layer": cf.attribute.layer,
                "channel": cf.attribute.channel,
                "index": cf.attribute.index,
                "direction": "max" if cf.attribute.direction == 1 else "min",
                "label": cf.attribute.label,
                "effect": round(cf.effect, 6),
                "probs": probs(cf.probs),
            }
            for rank, cf in enumerate(exp.counterfactuals, start=1)
        ],
    }


def explain_files(
    run_dir: str | Path,
    images: list[Path],
    out_dir: Path,
    *,
    top_k: int = 5,
    target: str | None = None,
    shift: float = 1.0,
    exhaustive: bool = False,
    device: str = "auto",
) -> list[dict[str, Any]]:
    """Explain image files; write OUT/<stem>/{explanation.json, reconstruction.png,
    counterfactual-<rank>.png, strip.png}. Returns the JSON results."""
    ctx = load_context(run_dir, device)
    catalog = AttributeCatalog.load(ctx.run_dir)
    explainer = Explainer(ctx.G, ctx.E, ctx.C, catalog)
    target_arg: int | str | None = target
    if target is not None and target.isdigit():
        target_arg = int(target)
    x = torch.stack([load_image(p, ctx.resolution) for p in images])  # DataError names the file
    results = []
    for path, exp in zip(
        images,
        explainer.explain(x, top_k=top_k, target=target_arg, shift=shift, exhaustive=exhaustive),
        strict=True,
    ):
        folder = out_dir / path.stem
        result = {"image": str(path), **explanation_to_json(exp)}
        _png(exp.reconstruction, folder / "reconstruction.png")
        for rank, cf in enumerate(exp.counterfactuals, start=1):
            _png(cf.image, folder / f"counterfactual-{rank}.png")
        save_png(explanation_strip(exp, scale=max(1, 128 // ctx.resolution)), folder / "strip.png")
        write_json(folder / "explanation.json", result)
        results.append({**result, "output": str(folder)})
    return results
