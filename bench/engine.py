"""Explain latency and throughput: torch eager vs ONNX Runtime, and CATALOG vs IMAGE mode.

For top_k = 5 at batch 1 and batch 8, times `engine.explain` (encode, styles, reconstruction,
one counterfactual per candidate attribute, the joint counterfactual, classification) on the
same images and prints p50 / p95 latency and images/s:
- with --run, torch eager vs ONNX Runtime in CATALOG mode and the ORT / eager ratio;
- on ONNX Runtime, CATALOG vs IMAGE mode (screen all 2 * S edits, evaluate the best
  num_candidates exactly) and the IMAGE / CATALOG ratio;
- then IMAGE mode against an exhaustive exact search (every edit evaluated, no screen) on
  --agreement-images held-out images: how often the top-5 sets are equal, how often the top-1
  is, and the mean share of the exhaustive top 5 that IMAGE mode finds; and on them the
  per-image success of both modes (`per_image_success`, as `stylex evaluate` reports it).

    python bench/engine.py                            # ORT: the modes and the agreement
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
from stylex.explain.evaluation.faithfulness import SUCCESS_PROBABILITY, per_image_success
from stylex.explain.single.options import CATALOG, IMAGE, ExplainOptions
from stylex.runtime import OrtEngine, TorchEngine
from stylex.runtime.model_dir import default_model_dir

HELD_OUT_SEED = 9090  # the shipped model trained on seed 0; timing uses 4242
SIGNIFICANT = 0.01  # a change of P(target) a reader can see


def measure(engine, x: torch.Tensor, batch: int, top_k: int, seconds: float, **mode) -> dict:
    latencies = []
    engine.explain(x[:batch], top_k=top_k, **mode)  # warm-up at this shape
    start = time.perf_counter()
    i = 0
    while time.perf_counter() - start < seconds or len(latencies) < 5:
        xb = x[(i * batch) % (x.shape[0] - batch + 1) :][:batch]
        t0 = time.perf_counter()
        engine.explain(xb, top_k=top_k, **mode)
        latencies.append(time.perf_counter() - t0)
        i += 1
    ms = np.array(latencies) * 1000
    return {
        "p50_ms": float(np.percentile(ms, 50)),
        "p95_ms": float(np.percentile(ms, 95)),
        "img_s": batch / statistics.median(latencies),
        "n": len(latencies),
    }


def agreement(engine, x: torch.Tensor, top_k: int, num_candidates: int) -> dict:
    """IMAGE mode vs the exhaustive exact search (all 2 * S edits evaluated) on each image:
    the same top-k set (the strict goal), the same top-1, the share of the exhaustive top k
    found, and two looser views, since most of an image's top k barely move P(target) (on the
    shipped model the median image has one edit of its exhaustive top 5 that moves it by 0.01):
    every rank's effect within SIGNIFICANT of the exhaustive's, and every exhaustive top-k edit
    that moves P(target) by at least SIGNIFICANT found."""
    num_edits = 2 * engine.catalog.stats.s_min.numel()
    fast = ExplainOptions(top_k=top_k, mode=IMAGE, num_candidates=num_candidates)
    full = ExplainOptions(top_k=top_k, exhaustive=True)  # every one of the num_edits edits
    same_set = same_top1 = close = significant_found = 0
    recall, significant = [], []
    for i in range(x.shape[0]):
        (a,) = engine.explain_batch([x[i]], fast)
        (b,) = engine.explain_batch([x[i]], full)
        keys_a = [cf.attribute.key for cf in a.counterfactuals]
        keys_b = [cf.attribute.key for cf in b.counterfactuals]
        same_set += set(keys_a) == set(keys_b)
        same_top1 += keys_a[0] == keys_b[0]
        recall.append(len(set(keys_a) & set(keys_b)) / len(keys_b))
        close += all(
            abs(ca.effect - cb.effect) <= SIGNIFICANT
            for ca, cb in zip(a.counterfactuals, b.counterfactuals, strict=True)
        )
        needed = {cf.attribute.key for cf in b.counterfactuals if cf.effect >= SIGNIFICANT}
        significant.append(len(needed))
        significant_found += needed <= set(keys_a)
    n = x.shape[0]
    return {"images": n, "same_top_k_set": same_set / n, "same_top1": same_top1 / n,
            "mean_recall": float(np.mean(recall)), "num_edits": num_edits,
            "close": close / n, "significant_found": significant_found / n,
            "median_significant": float(np.median(significant))}  # fmt: skip


def compare_modes(ort, x: torch.Tensor, args) -> None:
    """ORT: CATALOG vs IMAGE p50 side by side, then IMAGE vs the exhaustive search."""
    m = args.num_candidates or ort.default_candidates
    print(f"\nONNX Runtime, CATALOG vs IMAGE mode (num_candidates {m}); top_k {args.top_k}")
    print(f"{'mode':<8}{'batch':>6}{'p50 ms':>10}{'p95 ms':>10}{'img/s':>10}")
    torch.set_num_threads(1)  # see compare_engines: torch glue must not steal ORT's cores
    for batch in (1, 8):
        rows = {}
        for mode in (CATALOG, IMAGE):
            r = measure(ort, x, batch, args.top_k, args.seconds, mode=mode, num_candidates=m)
            rows[mode] = r
            print(f"{mode:<8}{batch:>6}{r['p50_ms']:>10.2f}{r['p95_ms']:>10.2f}{r['img_s']:>10.1f}")
        ratio = rows[IMAGE]["p50_ms"] / rows[CATALOG]["p50_ms"]
        print(f"{'':<8}{batch:>6}  IMAGE p50 is {ratio:.2f}x CATALOG p50")
    if args.agreement_images:
        ds = build_dataset("shapes", ort.resolution, num_images=args.agreement_images,
                           seed=HELD_OUT_SEED)  # fmt: skip
        held_out = torch.stack([ds[i][0] for i in range(len(ds))])
        t0 = time.perf_counter()
        a = agreement(ort, held_out, args.top_k, m)
        seconds = time.perf_counter() - t0
        print(
            f"\nIMAGE mode vs exhaustive exact search ({a['num_edits']} edits per image) on "
            f"{a['images']} held-out images (seed {HELD_OUT_SEED}), {seconds:.0f} s:"
            f"\n  same top-{args.top_k} set {a['same_top_k_set']:.1%}, same top-1 "
            f"{a['same_top1']:.1%}, mean share of the exhaustive top-{args.top_k} found "
            f"{a['mean_recall']:.1%}"
            f"\n  every rank's effect within {SIGNIFICANT} of the exhaustive's {a['close']:.1%}, "
            f"every exhaustive top-{args.top_k} edit moving P(target) by >= {SIGNIFICANT} found "
            f"{a['significant_found']:.1%} (median such edits per image: "
            f"{a['median_significant']:.0f})"
        )
        print(
            f"per-image success on them (P(target) >= {SUCCESS_PROBABILITY}), top_k {args.top_k}:"
        )
        for mode in (CATALOG, IMAGE):
            scores, _ = per_image_success(ort, held_out, top_k=args.top_k, batch_size=8,
                                          mode=mode, num_candidates=m)  # fmt: skip
            print(f"  {mode:<8} top-1 {scores['top1']:.1%}, all top-{args.top_k} jointly "
                  f"{scores['joint']:.1%}, served joint {scores['served_joint']:.1%}, mean "
                  f"top-1 gain {scores['mean_top1_gain']:.3f}")  # fmt: skip


def compare_engines(ort, eager, x: torch.Tensor, args, torch_threads: int) -> None:
    """CATALOG mode: torch eager vs ONNX Runtime."""
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--model", default=str(default_model_dir()), help="exported model directory"
    )
    parser.add_argument("--run", help="the training run the model came from (eager vs ORT)")
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
    parser.add_argument("--num-candidates", type=int, help="IMAGE mode (default: the model's)")
    parser.add_argument(
        "--agreement-images", type=int, default=100,
        help="held-out images for IMAGE vs exhaustive (0: skip)",
    )  # fmt: skip
    args = parser.parse_args()
    model_dir = Path(args.model)
    threads = args.threads or None
    if threads:
        torch.set_num_threads(threads)
    torch_threads = torch.get_num_threads()
    ort = OrtEngine.load(model_dir, device=args.ort_device or args.device, intra_op_threads=threads,
                         warmup_batch_sizes=(1, 8), precision=args.precision)  # fmt: skip
    ds = build_dataset("shapes", ort.resolution, num_images=64, seed=4242)
    x = torch.stack([ds[i][0] for i in range(len(ds))])
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "CPU"
    print(f"model {model_dir} on {name}; ORT providers {ort.providers}, {ort.precision}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; top_k {args.top_k}")
    if args.run:
        compare_engines(ort, TorchEngine.from_run(Path(args.run), device=args.device), x, args,
                        torch_threads)  # fmt: skip
    compare_modes(ort, x, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
