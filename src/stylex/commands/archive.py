"""`stylex archive`: build a TorchServe .mar from an exported model directory."""

from __future__ import annotations

import argparse

NAME = "archive"
HELP = "build a TorchServe .mar from an exported model directory"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model_dir", help="model directory written by `stylex export`")
    p.add_argument(
        "--out", default="model_store", help="writes OUT/NAME.mar, OUT/config.properties"
    )
    p.add_argument("--name", required=True, help="TorchServe model name")
    p.add_argument("--batch-size", type=int, default=8, help="requests per handler call")
    p.add_argument("--max-batch-delay", type=int, default=50, help="ms to wait to fill a batch")
    p.add_argument("--handler", help="handler file (default: handlers/stylex_handler.py)")


def run(args: argparse.Namespace) -> int:
    """Build NAME.mar for TorchServe from an exported model directory."""
    from stylex.serving.torchserve.archive import ArchiveSettings, build_archive

    settings = ArchiveSettings(batch_size=args.batch_size, max_batch_delay_ms=args.max_batch_delay)
    mar = build_archive(
        args.model_dir, args.out, args.name, handler=args.handler, settings=settings
    )
    print(f"archive: {mar}")
    print(f"config:  {mar.parent / 'config.properties'}")
    return 0
