"""One self-contained HTML page for a run (`stylex report`): attributes per class with their
[original | counterfactual] grids, the metrics table, the run's sample images; optional GIFs.
The page is rendered by `stylex.explain.evaluation.report`, the grids by
`stylex.explain.evaluation.visuals`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from stylex.rundir import RunPaths

if TYPE_CHECKING:
    from stylex.explain.context import RunContext
    from stylex.models import Styles


def _styles(ctx: RunContext, num_images: int) -> Styles:
    """Styles of the AttFind images when they were kept, else of freshly encoded ones."""
    from safetensors.torch import load_file

    from stylex.explain.context import ATTFIND_SEED_OFFSET, encode_images, stack_images
    from stylex.models import Styles

    path = RunPaths(ctx.run_dir).encoded
    if path.is_file():
        enc = load_file(str(path))
    else:
        enc = encode_images(ctx, stack_images(ctx.dataset(None, num_images, ATTFIND_SEED_OFFSET)))
    n = min(num_images, enc["conv"].shape[0])
    return Styles(enc["conv"][:n].to(ctx.device), enc["rgb"][:n].to(ctx.device))


def report_run(
    ctx: RunContext,
    out: Path | None = None,
    *,
    top: int = 5,  # attributes shown per class
    num_examples: int = 4,  # [original | counterfactual] pairs per attribute
    num_images: int = 64,  # candidate images for the examples
    shift: float = 1.0,
    gifs: bool = False,  # also write one animated GIF per attribute next to the report
    progress: bool = True,
) -> Path:
    """Write the report (default RUN/report.html) and return its path."""
    import torch
    from PIL import Image

    from stylex.explain.evaluation.report import write_report
    from stylex.explain.evaluation.visuals import attribute_gif, attribute_grid
    from stylex.explain.vocabulary.catalog import AttributeCatalog
    from stylex.models import Styles

    catalog = AttributeCatalog.load(ctx.run_dir)
    out = out or RunPaths(ctx.run_dir).report
    scale = max(1, 96 // ctx.resolution)
    grids = {}
    with torch.no_grad():
        styles = _styles(ctx, num_images)
        for c, name in enumerate(catalog.class_names):
            rows = []
            for rank, attr in enumerate(catalog.for_class(c)[:top], start=1):
                grid = attribute_grid(
                    ctx.G, ctx.C, styles, catalog.stats, attr, c, name, shift=shift,
                    num_examples=num_examples, scale=scale,
                )  # fmt: skip
                rows.append((attr, grid))
                if gifs:
                    gif = out.parent / f"{out.stem}-gifs" / f"{name}-{rank}.gif"
                    one = Styles(styles.conv[:1], styles.rgb[:1])
                    attribute_gif(ctx.G, one, catalog.stats, attr, gif, scale=scale, shift=shift)
            grids[name] = rows
            if progress:
                print(f"report: class {name}: {len(rows)} attribute grids")
    metrics_path = RunPaths(ctx.run_dir).metrics
    metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else None
    if metrics is not None:
        shown = ("fidelity", "faithfulness", "per_image_success", "per_image_success_image",
                 "minimality", "flip_rate", "alignment")  # fmt: skip
        metrics = {k: metrics[k] for k in shown if k in metrics}
        for kind in metrics.get("minimality", {}).values():
            kind.pop("tolerance", None)  # settings, not results; kept in metrics.json
        if "alignment" in metrics:
            metrics["alignment"] = {"share": metrics["alignment"]["share"]}
    samples = sorted(RunPaths(ctx.run_dir).samples.glob("*.png"))[-1:]
    cfg = ctx.run.config
    run_info = {
        "run": str(ctx.run_dir),
        "resolution": ctx.resolution,
        "classes": ", ".join(catalog.class_names),
        "training steps": ctx.run.step,
        "data": json.dumps({k: cfg.get("data", {}).get(k) for k in ("kind", "spec", "rule")}),
        "classifier": cfg.get("classifier", {}).get("source", ""),
        "StyleSpace coordinates": ctx.G.layout.num_conv,
    }
    return write_report(
        out, catalog=catalog, grids=grids, metrics=metrics,
        samples=[Image.open(p) for p in samples], title=f"StylEx report: {ctx.run_dir.name}",
        run_info=run_info,
    )  # fmt: skip
