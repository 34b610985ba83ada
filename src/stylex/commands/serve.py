"""`stylex serve`: serve explanations over gRPC (stylex.v1 + OIP v2), and over HTTP (OIP v2
REST + /v1/explain) with --http-port."""

from __future__ import annotations

import argparse

NAME = "serve"
HELP = "serve explanations over gRPC (stylex.v1 + OIP v2) and HTTP (OIP REST, /v1/explain)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", dest="model_dir", help="model directory (default: shipped shapes32)")
    p.add_argument("--address", help="HOST:PORT to listen on (default 127.0.0.1:50051)")
    p.add_argument(
        "--port-file",
        help="once listening, write HOST:PORT (the bound port; with --address HOST:0) here",
    )
    p.add_argument(
        "--http-port", type=int,
        help="also serve HTTP (OIP v2 REST, /v1/explain) on this port of --address's host; "
        "0 = any free port (the port file's second line names it); default off",
    )  # fmt: skip
    p.add_argument("--metrics-port", type=int, help="Prometheus port (default 9090; 0 = off)")
    p.add_argument("--max-batch-size", type=int, help="images per engine call (default 8)")
    p.add_argument("--max-delay-ms", type=float, help="wait to fill a batch (default 5)")
    p.add_argument("--max-queue", type=int, help="queued requests before RESOURCE_EXHAUSTED")
    p.add_argument("--device", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--threads", type=int, help="ONNX Runtime intra-op threads (0 = CPU limit)")
    p.add_argument("--precision", choices=["fp32", "fp16"], help="graphs to serve (default fp32)")
    p.add_argument("--grace-s", type=float, help="seconds in-flight RPCs get on SIGTERM")
    p.add_argument("--drain-delay-s", type=float, help="NOT_SERVING this long before refusing")
    p.add_argument("--tls-cert", help="PEM certificate chain (with --tls-key)")
    p.add_argument("--tls-key", help="PEM private key")
    p.add_argument(
        "--max-image-pixels", type=int,
        help="decoded pixels of one image, read from its header (default 4096 x 4096)",
    )  # fmt: skip
    p.add_argument(
        "--decode-budget-pixels", type=int,
        help="pixels decoding at once, all requests together (default two images at the cap)",
    )  # fmt: skip
    p.add_argument(
        "--decode-wait-s", type=float,
        help="longest wait for decode budget without a deadline (default 5)",
    )  # fmt: skip
    p.add_argument(
        "--default-mode", choices=["catalog", "image"],
        help="search mode of requests that do not say (default: the model's, else catalog)",
    )  # fmt: skip
    p.add_argument(
        "--num-candidates", type=int,
        help="image mode: edits evaluated exactly when a request does not say (default 32)",
    )  # fmt: skip
    p.add_argument(
        "--max-candidates", type=int, help="image mode: the most a request may ask for (256)"
    )


def run(args: argparse.Namespace) -> int:
    """Flags override STYLEX_* environment variables (see stylex.serving.config)."""
    import asyncio
    import logging

    from stylex.serving.config import ServeConfig
    from stylex.serving.server import serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    keys = (
        "model_dir", "address", "port_file", "http_port", "metrics_port", "max_batch_size",
        "max_delay_ms", "max_queue", "device", "threads", "precision", "grace_s",
        "drain_delay_s", "tls_cert", "tls_key", "max_image_pixels", "decode_budget_pixels",
        "decode_wait_s", "default_mode", "num_candidates", "max_candidates",
    )  # fmt: skip
    config = ServeConfig.from_env(**{k: getattr(args, k) for k in keys})
    asyncio.run(serve(config))
    return 0
