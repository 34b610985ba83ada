"""Does the explanation show *this* image? Measures on `shapes`, with the generating factors as
the oracle, read off images by the factor probe (see probes.py).

- `reconstruction_faithfulness`: the probe reads the factors of each reconstruction x' and they
  are compared with the true factors of x (shape / stripes accuracy, hue circular error in
  turns, size / position / background mean absolute error). Beside each, the probe's own score
  on the real images: its ceiling, since a reconstruction cannot be read better than a real one.
- `per_image_success` (any data): what a user sees when they look at one explanation: does the
  top-1 counterfactual, and do the top-k attributes applied together, reach P(target) >= 0.5?
- `counterfactual_minimality` (the MNAC idea of the counterfactual literature): which factors a
  counterfactual changes versus the reconstruction it edits; the mean number of changed factors
  the label rule does not use, and the share of counterfactuals that change only rule factors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from stylex.errors import InvalidArgumentError
from stylex.explain.evaluation.probes import (
    CATEGORICAL,
    CIRCULAR,
    PROBE_FACTORS,
    FactorProbe,
    predict_factors,
)
from stylex.explain.single.explainer import Explains
from stylex.explain.single.options import CATALOG
from stylex.explain.vocabulary.attributes import apply_attributes

# A factor counts as changed when the probe's reading moves by more than this (factor units;
# hue in turns). Well above the probe's own noise between two renders of one object (its
# errors on real images are about half these) and well below what a visible edit does: the
# hue_red boundary is 1/6 turn away from the middle of each class, the size range is 0.4.
CHANGE_TOLERANCE = {"hue": 0.06, "size": 0.06, "pos_x": 0.06, "pos_y": 0.06, "bg": 0.08}


def _circular(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    d = (a.float() - b.float()).abs() % 1.0
    return torch.minimum(d, 1.0 - d)


def _agreement(read: Mapping[str, torch.Tensor], truth: Mapping[str, torch.Tensor]) -> dict:
    """Probe readings vs true factors: accuracy, circular or absolute error per factor."""
    out: dict[str, float] = {}
    for k in PROBE_FACTORS:
        r, t = read[k].cpu(), truth[k].cpu()
        if k in CATEGORICAL:
            out[f"{k}_acc"] = float((r == t.long()).float().mean())
        elif k in CIRCULAR:
            out[f"{k}_err_turns"] = float(_circular(r, t).mean())
        else:
            out[f"{k}_mae"] = float((r.float() - t.float()).abs().mean())
    return out


def _truth(factors: Mapping[str, np.ndarray | torch.Tensor], n: int) -> dict[str, torch.Tensor]:
    missing = [k for k in PROBE_FACTORS if k not in factors]
    if missing:
        raise InvalidArgumentError(f"true factors lack {missing}; expected {list(PROBE_FACTORS)}")
    out = {k: torch.as_tensor(np.asarray(factors[k])) for k in PROBE_FACTORS}
    bad = {k: int(v.shape[0]) for k, v in out.items() if v.shape[0] != n}
    if bad:
        raise InvalidArgumentError(f"true factors have lengths {bad}; expected {n} (one per image)")
    return out


@torch.no_grad()
def reconstruction_faithfulness(
    probe: FactorProbe,
    x: torch.Tensor,  # [N, 3, R, R] real images in [-1, 1]
    x_rec: torch.Tensor,  # [N, 3, R, R] their reconstructions G(E(x), C(x))
    factors: Mapping[str, np.ndarray | torch.Tensor],  # true factors of x, [N] each
) -> dict[str, Any]:
    """{"reconstruction": scores of the probe read on x' vs the truth of x, "probe_on_real":
    the same scores on x (the ceiling), "num_images"}. Scores: shape_acc, stripes_acc,
    hue_err_turns, size_mae, pos_x_mae, pos_y_mae, bg_mae."""
    if x.shape != x_rec.shape:
        raise InvalidArgumentError(
            f"x {list(x.shape)} and x_rec {list(x_rec.shape)} differ; expected paired images"
        )
    truth = _truth(factors, x.shape[0])
    return {
        "num_images": int(x.shape[0]),
        "reconstruction": _agreement(predict_factors(probe, x_rec), truth),
        "probe_on_real": _agreement(predict_factors(probe, x), truth),
    }


def changed_factors(
    before: Mapping[str, torch.Tensor],  # probe readings of the edited images' sources, [N] each
    after: Mapping[str, torch.Tensor],  # probe readings of the edited images, [N] each
    tolerance: Mapping[str, float] = CHANGE_TOLERANCE,
) -> dict[str, torch.Tensor]:
    """{factor: bool [N]}: did the edit change that factor (beyond `tolerance`)?"""
    out = {}
    for k in PROBE_FACTORS:
        b, a = before[k].cpu(), after[k].cpu()
        if k in CATEGORICAL:
            out[k] = b != a
        elif k in CIRCULAR:
            out[k] = _circular(b, a) > tolerance[k]
        else:
            out[k] = (b.float() - a.float()).abs() > tolerance[k]
    return out


@torch.no_grad()
def counterfactual_minimality(
    probe: FactorProbe,
    x_rec: torch.Tensor,  # [N, 3, R, R] reconstructions (what each counterfactual edits)
    x_cf: torch.Tensor,  # [N, 3, R, R] their counterfactuals
    rule_factors: Sequence[str],  # factors the label rule depends on
    tolerance: Mapping[str, float] = CHANGE_TOLERANCE,
) -> dict[str, Any]:
    """How minimal counterfactuals are, with the probe as the oracle; see `minimality`."""
    if x_rec.shape != x_cf.shape:
        raise InvalidArgumentError(
            f"x_rec {list(x_rec.shape)} and x_cf {list(x_cf.shape)} differ; expected pairs"
        )
    _check_rule_factors(rule_factors)
    before, after = predict_factors(probe, x_rec), predict_factors(probe, x_cf)
    return minimality(before, after, rule_factors, tolerance)


def _check_rule_factors(rule_factors: Sequence[str]) -> None:
    unknown = sorted(set(rule_factors) - set(PROBE_FACTORS))
    if unknown:
        raise InvalidArgumentError(
            f"rule factors {unknown} cannot be read by the probe; it reads {list(PROBE_FACTORS)}"
        )


def minimality(
    before: Mapping[str, torch.Tensor],  # factor readings of the reconstructions, [N] each
    after: Mapping[str, torch.Tensor],  # factor readings of their counterfactuals, [N] each
    rule_factors: Sequence[str],
    tolerance: Mapping[str, float] = CHANGE_TOLERANCE,
) -> dict[str, Any]:
    """mean_other_changed: mean number of non-rule factors changed per counterfactual (MNAC-like;
    0 is minimal); only_rule_share: share changing no non-rule factor (a counterfactual that
    changes nothing counts here too: `rule_changed_share` tells those apart); rule_changed_share:
    share changing at least one rule factor; changed_share: per factor, share changed."""
    _check_rule_factors(rule_factors)
    changed = changed_factors(before, after, tolerance)
    num = int(next(iter(changed.values())).shape[0])
    rule = [k for k in PROBE_FACTORS if k in rule_factors]
    other = [k for k in PROBE_FACTORS if k not in rule_factors]
    n_other = torch.stack([changed[k] for k in other]).sum(dim=0).float()  # [N]
    rule_hit = (
        torch.stack([changed[k] for k in rule]).any(dim=0)
        if rule
        else torch.zeros(num, dtype=torch.bool)
    )
    return {
        "num_counterfactuals": num,
        "rule_factors": rule,
        "mean_other_changed": float(n_other.mean()),
        "only_rule_share": float((n_other == 0).float().mean()),
        "rule_changed_share": float(rule_hit.float().mean()),
        "changed_share": {k: float(v.float().mean()) for k, v in changed.items()},
        "tolerance": dict(tolerance),
    }


SUCCESS_PROBABILITY = 0.5  # a counterfactual succeeds when P(target) reaches this


@torch.no_grad()
def per_image_success(
    engine: Explains,  # an inference engine (any backend)
    x: torch.Tensor,  # [N, 3, R, R] held-out images in [-1, 1]
    top_k: int = 5,
    shift: float = 1.0,
    batch_size: int = 32,
    mode: str = CATALOG,  # how the service searches: CATALOG or IMAGE
    num_candidates: int | None = None,  # IMAGE mode; None: the engine's default
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Explain each image as the service does (in `mode`, target = the runner-up class) and
    score what the user sees.

    Returns ({"top1", "joint": share reaching P(target) >= 0.5 with the top-1 counterfactual /
    all top-k applied jointly, "served_joint": with the explanation's joint counterfactual (the
    top attributes that work together), "mean_top1_gain": mean rise of P(target) by the top-1
    counterfactual, "top_k", "num_images", "mode"}, images {"reconstruction", "top1", "joint"}
    [N, 3, R, R] for the minimality and realism measures, and "top1_success" [N] bool).
    """
    top1, joint, served, gains = [], [], [], []
    images: dict[str, list[torch.Tensor]] = {"reconstruction": [], "top1": [], "joint": []}
    for start in range(0, x.shape[0], batch_size):
        xb = x[start : start + batch_size]
        exps = engine.explain(
            xb, top_k=top_k, shift=shift, mode=mode, num_candidates=num_candidates
        )
        for ex in exps:
            best = ex.counterfactuals[0]
            top1.append(float(best.probs[ex.target]) >= SUCCESS_PROBABILITY)
            gains.append(best.effect)
            conv, rgb = engine.encode_styles(ex.image.unsqueeze(0), ex.probs.unsqueeze(0))
            attrs = [cf.attribute for cf in ex.counterfactuals]
            conv = apply_attributes(conv, engine.catalog.stats, attrs, shift)
            x_joint, logits_joint = engine.synthesize_classify(conv, rgb)
            p_joint = torch.softmax(logits_joint.float(), dim=1)[0]
            joint.append(float(p_joint[ex.target]) >= SUCCESS_PROBABILITY)
            assert ex.joint is not None  # every explanation has a counterfactual here
            served.append(float(ex.joint.probs[ex.target]) >= SUCCESS_PROBABILITY)
            images["reconstruction"].append(ex.reconstruction)
            images["top1"].append(best.image)
            images["joint"].append(x_joint[0].cpu())
    scores = {
        "num_images": len(top1),
        "top_k": top_k,
        "top1": float(np.mean(top1)),
        "joint": float(np.mean(joint)),
        "served_joint": float(np.mean(served)),
        "mode": mode,
        "mean_top1_gain": float(np.mean(gains)),
        "threshold": SUCCESS_PROBABILITY,
    }
    out = {k: torch.stack(v) for k, v in images.items()}
    out["top1_success"] = torch.tensor(top1, dtype=torch.bool)
    return scores, out
