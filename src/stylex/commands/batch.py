"""`stylex batch`: explain a folder, glob or manifest; one shard of it, resumable."""

from __future__ import annotations

import argparse
import json

from stylex.commands.explain import add_option_arguments, option_values

NAME = "batch"
HELP = "explain a folder, glob or manifest; sharded, resumable"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "input", help="image folder, quoted glob, or manifest (.txt / .jsonl); or a URL of one "
        "(s3://bucket/prefix/, needs stylex[s3])",
    )  # fmt: skip
    p.add_argument(
        "--out", required=True,
        help="output folder or URL (results JSONL, PNGs, summary)",
    )  # fmt: skip
    p.add_argument("--model", help="model or run directory (default: the shipped model)")
    add_option_arguments(p)
    p.add_argument("--batch-size", type=int, default=32, help="images per engine call")
    p.add_argument("--shard-index", type=int, help="default: $JOB_COMPLETION_INDEX, else 0")
    p.add_argument("--num-shards", type=int, help="default: $STYLEX_NUM_SHARDS, else 1")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--no-images", action="store_true", help="JSONL only, no PNGs")
    p.add_argument(
        "--retry-errors", action="store_true",
        help="explain again the items whose last result is an error (a new line each)",
    )  # fmt: skip
    p.add_argument("--no-progress", action="store_true")
    p.add_argument(
        "--max-image-pixels", type=int,
        help="larger images are refused from their header, unread (default 4096 x 4096)",
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    """Explain a folder, glob or manifest; one shard of it, resumable."""
    from stylex.batch import list_inputs, load_engine, resolve_shard, run_batch_job, shard

    index, num_shards = resolve_shard(args.shard_index, args.num_shards)
    items = shard(list_inputs(args.input), index, num_shards)
    from stylex.runtime.model_dir import default_model_dir

    engine = load_engine(args.model or default_model_dir(), args.device, args.batch_size)
    summary = run_batch_job(
        engine, items, args.out, shard_index=index, num_shards=num_shards, **option_values(args),
        batch_size=args.batch_size, images=not args.no_images, progress=not args.no_progress,
        retry_errors=args.retry_errors, max_image_pixels=args.max_image_pixels,
    )  # fmt: skip
    print(json.dumps(summary.to_dict(), indent=2))
    return 0
