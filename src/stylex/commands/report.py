"""`stylex report`: one self-contained HTML page for a run (`stylex.pipelines.report`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

NAME = "report"
HELP = "write a self-contained HTML report of a run"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir")
    p.add_argument("--out", help="HTML file (default RUN/report.html)")
    p.add_argument("--top", type=int, default=5, help="attributes per class")
    p.add_argument("--num-examples", type=int, default=4)
    p.add_argument("--gif", action="store_true", help="also write animated GIFs")
    p.add_argument("--device", default="auto")
    p.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    from stylex.explain.context import load_context
    from stylex.pipelines.report import report_run

    out = report_run(
        load_context(args.run_dir, args.device), Path(args.out) if args.out else None,
        top=args.top, num_examples=args.num_examples, gifs=args.gif, progress=not args.no_progress,
    )  # fmt: skip
    print(json.dumps({"report": str(out)}))
    return 0
