"""The optional fp16 variant of a model directory, for GPUs.

The encoder, style and synthesis graphs get float16 weights and arithmetic; their inputs and
outputs stay float32, so an engine feeds both variants the same way. The classifier is never
converted: it is the decision being explained, and its fp32 graph is the reference.

A variant is kept only if it passes an acceptance check: on held-out images, the fp16 engine
must pick the same top-k attributes for every image as the fp32 engine, up to near ties: an
image whose sets differ only by attributes whose fp32 effects lie within TIE_TOLERANCE of the
k-th one's (edits that move P(target) equally, often not at all, whose order rounding decides)
counts as a near tie, not as a difference. The check records the
ONNX Runtime provider it ran on. On the CPU provider, ONNX Runtime computes most float16
operators in float32 behind inserted casts, so a CPU check measures the rounding of weights and
of the tensors between operators, not a GPU's float16 arithmetic: rerun it on the GPU you deploy
to (`stylex export --fp16 --fp16-device cuda`).
"""

from __future__ import annotations

from typing import Any

import onnx
import torch

from stylex.errors import InvalidArgumentError

FP16_GRAPHS = ("encoder", "style", "synthesis")
CHECK_TOP_K = 5
CHECK_SEED_OFFSET = 4000  # held-out images: AttFind uses 1000, evaluation 2000
TIE_TOLERANCE = 1e-3  # in P(target): effects closer than this to the k-th one's are a tie


def fp16_file(file: str) -> str:
    """encoder.onnx -> encoder.fp16.onnx"""
    stem, dot, ext = file.rpartition(".")
    return f"{stem}.fp16{dot}{ext}"


def convert_to_fp16(model_bytes: bytes) -> bytes:
    """A float32 graph -> the same graph with float16 weights and float32 inputs/outputs."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx.load_from_string(model_bytes)
    half = convert_float_to_float16(model, keep_io_types=True, disable_shape_infer=False)
    _topological_sort(half.graph)  # the converter appends its input casts at the end
    onnx.checker.check_model(half, full_check=True)
    return half.SerializeToString()


def _topological_sort(graph: onnx.GraphProto) -> None:
    known = {v.name for v in graph.input} | {t.name for t in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        ready = [n for n in pending if all(i in known for i in n.input)]
        if not ready:
            missing = sorted({i for n in pending for i in n.input if i not in known})[:5]
            raise InvalidArgumentError(f"fp16 graph has unresolved inputs {missing}")
        for node in ready:
            known.update(node.output)
        ordered.extend(ready)
        ready_ids = {id(n) for n in ready}
        pending = [n for n in pending if id(n) not in ready_ids]
    del graph.node[:]
    graph.node.extend(ordered)


@torch.no_grad()
def compare_explanations(
    reference, candidate, images: torch.Tensor, top_k: int, tie_tolerance: float = TIE_TOLERANCE
) -> dict[str, Any]:
    """How far the candidate engine's explanations are from the reference engine's."""
    # Twice top_k, to know the fp32 effect of an attribute the candidate ranks into its top k.
    ref = reference.explain(images, top_k=2 * top_k)
    got = candidate.explain(images, top_k=2 * top_k)
    same_set = same_order = near_ties = 0
    prob_diff = 0.0
    for a, b in zip(ref, got, strict=True):
        top_a, top_b = a.counterfactuals[:top_k], b.counterfactuals[:top_k]
        keys_a = [c.attribute.key for c in top_a]
        keys_b = [c.attribute.key for c in top_b]
        same_set += set(keys_a) == set(keys_b)
        same_order += keys_a == keys_b
        if set(keys_a) != set(keys_b):
            near_ties += _near_tie(a.counterfactuals, top_k, set(keys_a) ^ set(keys_b),
                                   tie_tolerance)  # fmt: skip
        rec_diff = (a.probs_reconstruction - b.probs_reconstruction).abs().max()
        prob_diff = max(prob_diff, float(rec_diff))
        by_key = {c.attribute.key: c for c in b.counterfactuals}
        for c in top_a:
            if c.attribute.key in by_key:
                diff = (c.probs - by_key[c.attribute.key].probs).abs().max()
                prob_diff = max(prob_diff, float(diff))
    n = len(ref)
    return {
        "images": n,
        "top_k": top_k,
        "same_top_k_set": round(same_set / n, 4),
        "same_top_k_order": round(same_order / n, 4),
        "near_tie_images": near_ties,
        "tie_tolerance": tie_tolerance,
        "max_abs_prob_diff": round(prob_diff, 6),
        "accepted": same_set + near_ties == n,
    }


def _near_tie(ranked, top_k: int, swapped: set, tolerance: float) -> bool:
    """Whether every attribute in `swapped` has a reference effect within `tolerance` of the
    k-th one's (an attribute beyond the reference's list is too far down to be a tie)."""
    effects = {c.attribute.key: c.effect for c in ranked}
    if len(ranked) < top_k:
        return False
    kth = ranked[top_k - 1].effect
    return all(key in effects and abs(effects[key] - kth) <= tolerance for key in swapped)
