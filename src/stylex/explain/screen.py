"""The screen prior: which StyleSpace edits tend to be an image's best, per target class.

IMAGE mode ranks all 2 * S edits of an image by a first-order prediction (one gradient) and
evaluates the best exactly. The prediction misses edits whose effect is not monotone along the
edit (a small step lowers P(target), the full step raises it): measured on the shipped model,
the gradient alone puts an exact top-5 edit that moves P(target) by >= 0.01 outside its top 32
on 24 % of held-out images. The prior fills half of the exact evaluations with the edits that
were most often among an image's exact top `top` over many images of the class' non-members,
measured once (by AttFind, or by `stylex screen` on an exported model), so the two halves catch
what the other misses (docs/explain-path.md has the figures).

    screen_order(effects, base_logits, predicted)  -> class -> [(k, d)], most often best first
    exact_effects(backend, conv, rgb, stats)       -> the effects tensor of every edit, exactly
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from stylex.explain.attributes import StyleStats

DEFAULT_TOP = 5  # an edit gets a vote from each image whose exact top-`top` holds it
DEFAULT_KEEP = 128  # edits kept per class, more than any sensible num_candidates / 2

SynthesizeClassify = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def screen_order(
    effects: torch.Tensor,  # [N, 2, S, C] logit changes of each edit (AttFind's tensor)
    base_logits: torch.Tensor,  # [N, C] logits of each image's reconstruction
    predicted: torch.Tensor,  # [N] the classifier's class of each image
    *,
    top: int = DEFAULT_TOP,
    keep: int = DEFAULT_KEEP,
) -> dict[int, list[tuple[int, int]]]:
    """Per class c, the edits (k, d) ranked by how many images not predicted as c have them in
    their exact top `top` by the rise of log P(c), ties by the mean positive rise. Only edits
    with a vote or a positive mean rise are kept, at most `keep`. Flat index j = d * S + k."""
    if effects.ndim != 4 or effects.shape[1] != 2 or base_logits.shape != (
        effects.shape[0], effects.shape[3]
    ):  # fmt: skip
        raise ValueError(
            f"effects {list(effects.shape)} and base logits {list(base_logits.shape)}: expected "
            "[N, 2, S, C] and [N, C]"
        )
    num_images, _, num_coords, num_classes = effects.shape
    base = base_logits.double()
    out: dict[int, list[tuple[int, int]]] = {}
    for c in range(num_classes):
        rows = predicted != c
        if not bool(rows.any()):  # every image is c already: rank over all of them
            rows = torch.ones(num_images, dtype=torch.bool)
        eff = effects[rows].double()  # [n, 2, S, C]
        b = base[rows]
        log_p = torch.log_softmax(b[:, None, None, :] + eff, dim=3)[..., c]
        gains = (log_p - torch.log_softmax(b, dim=1)[:, c, None, None]).reshape(-1, 2 * num_coords)
        votes = torch.zeros(2 * num_coords, dtype=torch.float64)
        best = gains.topk(min(top, gains.shape[1]), dim=1).indices
        votes.index_add_(0, best.flatten(), torch.ones(best.numel(), dtype=torch.float64))
        mean_rise = gains.clamp_min(0).mean(dim=0)
        order = np.lexsort((-mean_rise.numpy(), -votes.numpy()))  # votes first, then the rise
        picked = [int(j) for j in order if votes[j] > 0 or mean_rise[j] > 0][:keep]
        out[c] = [(j % num_coords, j // num_coords) for j in picked]
    return out


@torch.no_grad()
def exact_effects(
    synthesize_classify: SynthesizeClassify,  # (conv, rgb) -> (images, logits)
    conv: torch.Tensor,  # [N, S] styles of the images' reconstructions
    rgb: torch.Tensor,  # [N, T]
    stats: StyleStats,
    shift: float = 1.0,
    batch_size: int = 128,  # edits per synthesis + classifier call
    progress: Callable[[int], None] | None = None,  # called with each image done
) -> tuple[torch.Tensor, torch.Tensor]:
    """Every edit of every image applied and classified: (effects [N, 2, S, C] logit changes,
    base logits [N, C] of the reconstructions). Any backend's primitives will do, so an
    exported model gets the tensor AttFind computes on a run."""
    targets = stats.targets().to(conv.dtype)  # [2, S]
    num_images, num_coords = conv.shape
    _, base = synthesize_classify(conv, rgb)
    base = base.float()
    effects = torch.zeros(num_images, 2, num_coords, base.shape[1])
    d = torch.arange(2).repeat_interleave(num_coords)
    k = torch.arange(num_coords).repeat(2)
    for i in range(num_images):
        edited = conv[i : i + 1].repeat(2 * num_coords, 1)
        edited[torch.arange(2 * num_coords), k] += shift * (targets[d, k] - edited[0, k])
        flat = effects[i].view(2 * num_coords, -1)
        for start in range(0, 2 * num_coords, batch_size):
            chunk = edited[start : start + batch_size]
            _, logits = synthesize_classify(chunk, rgb[i : i + 1].expand(chunk.shape[0], -1))
            flat[start : start + chunk.shape[0]] = logits.float() - base[i]
        if progress is not None:
            progress(i + 1)
    return effects, base
