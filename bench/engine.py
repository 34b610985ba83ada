"""Explain latency and throughput: torch eager vs ONNX Runtime, side by side in one run.

For top_k = 5 at batch 1 and batch 8, times `engine.explain` (encode, styles, reconstruction,
one counterfactual per catalog attribute of the target class, classification) on the same
images with both engines, and prints p50 / p95 latency, images/s and the ORT / eager ratio.

    python bench/engine.py --run RUN                  # RUN = the run the shipped model came from
    python bench/engine.py --run RUN --model model_store/x/1 --device cuda
    python bench/engine.py --run RUN --device cuda --ort-device cpu   # no onnxruntime-gpu
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from stylex.data import build_dataset
from stylex.runtime import OrtEngine, TorchEngine
from stylex.runtime.model_dir import default_model_dir


def measure(engine, x: torch.Tensor, batch: int, top_k: int, seconds: float) -> dict:
    latencies = []
    engine.explain(x[:batch], top_k=top_k)  # warm-up at this shape
    start = time.perf_counter()
    i = 0
    while time.perf_counter() - start < seconds or len(latencies) < 5:
        xb = x[(i * batch) % (x.shape[0] - batch + 1) :][:batch]
        t0 = time.perf_counter()
        engine.explain(xb, top_k=top_k)
        latencies.append(time.perf_counter() - t0)
        i += 1
    ms = np.array(latencies) * 1000
    return {
        "p50_ms": float(np.percentile(ms, 50)),
        "p95_ms": float(np.percentile(ms, 95)),
        "img_s": batch / statistics.median(latencies),
        "n": len(latencies),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--model", default=str(default_model_dir()), help="exported model directory"
    )
    parser.add_argument("--run", required=True, help="the training run the model came from")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--ort-device",
        help="device of the ONNX Runtime engine (default: --device); "
        "cpu compares torch on a GPU with ORT on the CPU where no CUDA provider is installed",
    )
    parser.add_argument("--precision", default="fp32", help="ORT graphs: fp32 | fp16 (variant)")
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=8.0, help="per measurement")
    parser.add_argument("--threads", type=int, default=0, help="0 = engine defaults")
    args = parser.parse_args()
    model_dir = Path(args.model)
    threads = args.threads or None
    if threads:
        torch.set_num_threads(threads)
    torch_threads = torch.get_num_threads()
    ort = OrtEngine.load(model_dir, device=args.ort_device or args.device, intra_op_threads=threads,
                         warmup_batch_sizes=(1, 8), precision=args.precision)  # fmt: skip
    eager = TorchEngine.from_run(Path(args.run), device=args.device)
    res = ort.resolution if hasattr(ort, "resolution") else eager.G.cfg.resolution
    ds = build_dataset("shapes", res, num_images=64, seed=4242)
    x = torch.stack([ds[i][0] for i in range(len(ds))])
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "CPU"
    print(f"model {model_dir} on {name}; ORT providers {ort.providers}, {ort.precision}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; top_k {args.top_k}")
    print(f"{'engine':<8}{'batch':>6}{'p50 ms':>10}{'p95 ms':>10}{'img/s':>10}")
    for batch in (1, 8):
        rows = {}
        for label, engine in (("eager", eager), ("ort", ort)):
            # The ORT path uses torch only for small glue ops; with torch's OpenMP pool at its
            # default size, its spinning threads steal the cores ORT's sessions need (ORT ran
            # 0.7x eager that way). One torch thread there; eager keeps its default.
            torch.set_num_threads(1 if label == "ort" else torch_threads)
            r = measure(engine, x, batch, args.top_k, args.seconds)
            rows[label] = r
            print(
                f"{label:<8}{batch:>6}{r['p50_ms']:>10.2f}{r['p95_ms']:>10.2f}{r['img_s']:>10.1f}"
            )
        ratio = rows["eager"]["p50_ms"] / rows["ort"]["p50_ms"]
        print(f"{'':<8}{batch:>6}  ORT is {ratio:.2f}x eager at p50")
    return 0


if __name__ == "__main__":
    sys.exit(main())
