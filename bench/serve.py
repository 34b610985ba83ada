"""Served throughput and latency vs the in-process engine, side by side in one run.

Starts `stylex serve` twice on loopback (dynamic batching on: --max-batch-size 8; off:
--max-batch-size 1), drives each with 1, 8 and 32 concurrent clients (one gRPC channel per
client thread) for a fixed time, and measures the in-process OrtEngine on the same images.
Prints images/s, p50 and p99 latency, and the two ratios the service is judged by:
served @8 / in-process, and batched / unbatched @32.

With --http, one server (batching on) with `--http-port` instead: the same clients drive
gRPC `Explain` and HTTP `POST /v1/explain` (one keep-alive connection per client thread)
in alternating rounds, and it prints each transport's figures and the HTTP / gRPC ratio of
images/s per concurrency (the HTTP stack's overhead; both reach the same batcher).

    python bench/serve.py                       # the shipped model, 10 s per measurement
    python bench/serve.py --model DIR --seconds 20
    python bench/serve.py --http --rounds 3     # HTTP vs gRPC, medians of 3 rounds
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch

from stylex.data import build_dataset
from stylex.data.images import encode_image
from stylex.demo import start_server as start_stylex_server
from stylex.demo import start_server_with_http, stop_server
from stylex.runtime import OrtEngine
from stylex.runtime.model_dir import default_model_dir
from stylex.serving.client import ExplainClient


def sample_pngs(resolution: int, n: int) -> list[bytes]:
    ds = build_dataset("shapes", resolution, num_images=n, seed=99)
    return [encode_image(ds[i][0], "png") for i in range(n)]


class _GrpcCaller:
    def __init__(self, address: str, top_k: int) -> None:
        self.client = ExplainClient(address, timeout=60.0)
        self.top_k = top_k

    def __call__(self, image: bytes) -> None:
        self.client.explain(image, top_k=self.top_k, image_format="none")

    def close(self) -> None:
        self.client.close()


class _HttpCaller:
    """POST /v1/explain on one keep-alive connection."""

    def __init__(self, address: str, top_k: int) -> None:
        host, port = address.rsplit(":", 1)
        self.conn = http.client.HTTPConnection(host, int(port), timeout=60.0)
        self.path = f"/v1/explain?top_k={top_k}&image_format=none"

    def __call__(self, image: bytes) -> None:
        self.conn.request("POST", self.path, body=image, headers={"Content-Type": "image/png"})
        resp = self.conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"HTTP {resp.status}: {body[:200]!r}")

    def close(self) -> None:
        self.conn.close()


def drive(
    address: str, images: list[bytes], concurrency: int, seconds: float, top_k: int,
    transport: str = "grpc",
):  # fmt: skip
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds
    caller = _HttpCaller if transport == "http" else _GrpcCaller

    def worker(seed: int) -> None:
        call = caller(address, top_k)
        try:
            i = seed
            while time.monotonic() < stop_at:
                t0 = time.perf_counter()
                try:
                    call(images[i % len(images)])
                except Exception:
                    with lock:
                        errors[0] += 1
                    continue
                with lock:
                    latencies.append(time.perf_counter() - t0)
                i += 1
        finally:
            call.close()

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(s,)) for s in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    ms = np.array(latencies) * 1000 if latencies else np.array([np.nan])
    return {
        "img_s": len(latencies) / wall,
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "errors": errors[0],
    }


def start_server(model: Path, max_batch: int, threads: int | None) -> tuple[subprocess.Popen, str]:
    flags = ["--max-batch-size", str(max_batch), "--max-queue", "256"]
    if threads:
        flags += ["--threads", str(threads)]
    return start_stylex_server(model, flags, quiet=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=str(default_model_dir()))
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--threads", type=int, default=0, help="engine threads (0 = default)")
    parser.add_argument("--http", action="store_true", help="HTTP /v1/explain vs gRPC Explain")
    parser.add_argument("--rounds", type=int, default=3, help="--http: alternating rounds")
    args = parser.parse_args()
    model = Path(args.model)
    if args.http:
        return http_vs_grpc(model, args)
    engine = OrtEngine.load(model, device="cpu", intra_op_threads=args.threads or None)
    res = int(engine.model.manifest["resolution"])
    images = sample_pngs(res, 32)

    # In-process: the same engine call the server makes, batches of 8 decoded images.
    from stylex.data.decode import decode_image_bytes

    torch.set_num_threads(1)
    x = torch.stack([decode_image_bytes(b, res) for b in images])
    engine.explain(x[:8], top_k=args.top_k)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < args.seconds:
        engine.explain(x[(n * 8) % 32 :][:8], top_k=args.top_k)
        n += 1
    in_process = n * 8 / (time.perf_counter() - t0)
    del engine

    print(f"model {model}; CPU; top_k {args.top_k}; {args.seconds:.0f} s per row")
    print(f"in-process OrtEngine, batch 8: {in_process:.1f} img/s")
    print(f"{'batching':<10}{'clients':>8}{'img/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
    table = {}
    for label, max_batch in (("on", 8), ("off", 1)):
        proc, address = start_server(model, max_batch, args.threads or None)
        try:
            for c in args.concurrency:
                r = drive(address, images, c, args.seconds, args.top_k)
                table[(label, c)] = r
                print(f"{label:<10}{c:>8}{r['img_s']:>9.1f}{r['p50_ms']:>9.1f}"
                      f"{r['p99_ms']:>9.1f}{r['errors']:>8}")  # fmt: skip
        finally:
            stop_server(proc, grace_s=60)
    if ("on", 8) in table:
        print(f"served @8 / in-process: {table[('on', 8)]['img_s'] / in_process:.2f}")
    if ("on", 32) in table and ("off", 32) in table:
        ratio = table[("on", 32)]["img_s"] / max(table[("off", 32)]["img_s"], 1e-9)
        print(f"batched / unbatched @32: {ratio:.2f}")
    return 0


def http_vs_grpc(model: Path, args: argparse.Namespace) -> int:
    """One server with --http-port; gRPC and HTTP clients in alternating rounds."""
    images = sample_pngs(32, 32)
    flags = ["--max-batch-size", "8", "--max-queue", "256"]
    if args.threads:
        flags += ["--threads", str(args.threads)]
    proc, grpc_address, http_address = start_server_with_http(model, flags, quiet=True)
    runs: dict[tuple[str, int], list[dict]] = {}
    try:
        for c in args.concurrency:  # warm both paths once
            drive(grpc_address, images, c, 1.0, args.top_k)
            drive(http_address, images, c, 1.0, args.top_k, "http")
        for _ in range(args.rounds):
            for c in args.concurrency:
                for transport, address in (("grpc", grpc_address), ("http", http_address)):
                    r = drive(address, images, c, args.seconds, args.top_k, transport)
                    runs.setdefault((transport, c), []).append(r)
    finally:
        stop_server(proc, grace_s=60)
    print(f"model {model}; CPU; top_k {args.top_k}; {args.seconds:.0f} s per row; "
          f"medians of {args.rounds} alternating rounds")  # fmt: skip
    print(f"{'transport':<10}{'clients':>8}{'img/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
    median = {
        key: {m: statistics.median(r[m] for r in rs) for m in ("img_s", "p50_ms", "p99_ms")}
        | {"errors": sum(r["errors"] for r in rs)}
        for key, rs in runs.items()
    }
    for c in args.concurrency:
        for transport in ("grpc", "http"):
            r = median[(transport, c)]
            print(f"{transport:<10}{c:>8}{r['img_s']:>9.1f}{r['p50_ms']:>9.1f}"
                  f"{r['p99_ms']:>9.1f}{r['errors']:>8}")  # fmt: skip
    for c in args.concurrency:
        ratio = median[("http", c)]["img_s"] / max(median[("grpc", c)]["img_s"], 1e-9)
        print(f"HTTP / gRPC images/s @{c}: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
