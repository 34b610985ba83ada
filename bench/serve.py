"""Served throughput and latency vs the in-process engine, side by side in one run.

Starts `stylex serve` twice on loopback (dynamic batching on: --max-batch-size 8; off:
--max-batch-size 1), drives each with 1, 8 and 32 concurrent clients (one gRPC channel per
client thread) for a fixed time, and measures the in-process OrtEngine on the same images.
Prints images/s, p50 and p99 latency, and the two ratios the service is judged by:
served @8 / in-process, and batched / unbatched @32.

    python bench/serve.py                       # the shipped model, 10 s per measurement
    python bench/serve.py --model DIR --seconds 20
"""

from __future__ import annotations

import argparse
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
from stylex.demo import stop_server
from stylex.runtime import OrtEngine
from stylex.runtime.model_dir import default_model_dir
from stylex.serving.client import ExplainClient


def sample_pngs(resolution: int, n: int) -> list[bytes]:
    ds = build_dataset("shapes", resolution, num_images=n, seed=99)
    return [encode_image(ds[i][0], "png") for i in range(n)]


def drive(address: str, images: list[bytes], concurrency: int, seconds: float, top_k: int):
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def worker(seed: int) -> None:
        with ExplainClient(address, timeout=60.0) as client:
            i = seed
            while time.monotonic() < stop_at:
                t0 = time.perf_counter()
                try:
                    client.explain(images[i % len(images)], top_k=top_k, image_format="none")
                except Exception:
                    with lock:
                        errors[0] += 1
                    continue
                with lock:
                    latencies.append(time.perf_counter() - t0)
                i += 1

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
    args = parser.parse_args()
    model = Path(args.model)
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


if __name__ == "__main__":
    sys.exit(main())
