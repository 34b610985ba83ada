"""Explanations to files: per image a JSON result, the counterfactual PNGs and a strip image."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from stylex.data import load_image
from stylex.data.images import write_png
from stylex.explain.explanation import explanation_to_dict
from stylex.explain.visuals import explanation_strip, save_png
from stylex.fileio import write_json


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
    from stylex.runtime import TorchEngine

    engine = TorchEngine.from_run(run_dir, device)
    x = torch.stack([load_image(p, engine.resolution) for p in images])  # DataError names it
    results = []
    exps = engine.explain(x, top_k=top_k, target=target, shift=shift, exhaustive=exhaustive)
    for path, exp in zip(images, exps, strict=True):
        folder = out_dir / path.stem
        result = {"image": str(path), **explanation_to_dict(exp)}
        write_png(exp.reconstruction, folder / "reconstruction.png")
        for rank, cf in enumerate(exp.counterfactuals, start=1):
            write_png(cf.image, folder / f"counterfactual-{rank}.png")
        strip = explanation_strip(exp, scale=max(1, 128 // engine.resolution))
        save_png(strip, folder / "strip.png")
        write_json(folder / "explanation.json", result)
        results.append({**result, "output": str(folder)})
    return results
