"""`stylex explain`: explain image files, in process with a run or on a `stylex serve` server."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from stylex.errors import ConfigError
from stylex.explain.single.options import MODES

NAME = "explain"
HELP = "explain images with a run's attributes"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("images", nargs="+", help="image files")
    p.add_argument("--run-dir", help="trained run with attributes.json (unless --server)")
    p.add_argument("--server", metavar="HOST:PORT", help="explain on a `stylex serve` server")
    p.add_argument("--out", default="explanations", help="output folder")
    add_option_arguments(p)
    p.add_argument("--exhaustive", action="store_true", help="search all coordinates per image")
    p.add_argument("--device", default="auto")


def add_option_arguments(p: argparse.ArgumentParser) -> None:
    """The explain options `stylex explain` and `stylex batch` share (see `option_values`)."""
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--target", help="class to move toward (name or index; default runner-up)")
    p.add_argument("--shift", type=float, default=1.0)
    p.add_argument(
        "--mode", choices=MODES,
        help="catalog: the catalog's attributes; image: search this image's StyleSpace "
        "(default: the model's, catalog unless its manifest says otherwise)",
    )  # fmt: skip
    p.add_argument(
        "--num-candidates", type=int,
        help="image mode: screened edits evaluated exactly (default: the model's)",
    )  # fmt: skip


def option_values(args: argparse.Namespace) -> dict[str, Any]:
    """The values of `add_option_arguments`' flags (None: not given, the model's default)."""
    return {"top_k": args.top_k, "target": args.target, "shift": args.shift,
            "mode": args.mode, "num_candidates": args.num_candidates}  # fmt: skip


def run(args: argparse.Namespace) -> int:
    if args.server:
        from stylex.serving.client import explain_files_remote

        values = option_values(args)
        values["num_candidates"] = values["num_candidates"] or 0  # the wire's "unset"
        results = explain_files_remote(
            args.server, [Path(p) for p in args.images], Path(args.out), **values
        )
        print(json.dumps(results, indent=2))
        return 0
    if not args.run_dir:
        raise ConfigError("explain needs --run-dir (a local run) or --server HOST:PORT")
    results = explain_files(
        args.run_dir, [Path(p) for p in args.images], Path(args.out), **option_values(args),
        exhaustive=args.exhaustive, device=args.device,
    )  # fmt: skip
    print(json.dumps(results, indent=2))
    return 0


def explain_files(
    run_dir: str | Path,
    images: list[Path],
    out_dir: Path,
    *,
    top_k: int = 5,
    target: str | None = None,
    shift: float = 1.0,
    exhaustive: bool = False,
    mode: str | None = None,  # "catalog" | "image"; None: the engine's default
    num_candidates: int | None = None,  # IMAGE mode; None: the engine's default
    device: str = "auto",
) -> list[dict[str, Any]]:
    """Explain image files with a run's torch engine; write OUT/<stem>/{explanation.json,
    reconstruction.png, counterfactual-<rank>.png, strip.png}. Returns the JSON results."""
    import torch

    from stylex.data import load_image
    from stylex.explain.evaluation.visuals import explanation_strip, save_png
    from stylex.explain.single.explanation import explanation_to_dict
    from stylex.explain.single.output import write_explanation_files
    from stylex.runtime import TorchEngine

    engine = TorchEngine.from_run(run_dir, device)
    x = torch.stack([load_image(p, engine.resolution) for p in images])  # DataError names it
    opts = engine.options(
        top_k=top_k, target=target, shift=shift, exhaustive=exhaustive, mode=mode,
        num_candidates=num_candidates,
    )  # fmt: skip
    answers = engine.explain_batch(list(x), opts)
    exps = [a for a in answers if not isinstance(a, Exception)]
    failed = next((a for a in answers if isinstance(a, Exception)), None)
    if failed is not None:
        raise failed
    results = []
    for path, exp in zip(images, exps, strict=True):
        folder = out_dir / path.stem
        layout = explanation_to_dict(exp, image_format="png", reconstruction=True)
        result = write_explanation_files(folder, layout, str(path))
        strip = explanation_strip(exp, scale=max(1, 128 // engine.resolution))
        save_png(strip, folder / "strip.png")
        results.append({**result, "output": str(folder)})
    return results
