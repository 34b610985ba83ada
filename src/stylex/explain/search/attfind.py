"""AttFind: choose the StyleSpace attributes that move a classifier toward each class.

Pure tensor code over a precomputed effects tensor (no networks here; the effects are measured
with the generator and classifier elsewhere):

    effects [N, 2, S, C]: effects[i, d, k, c] = logits_c(C(G(s_i with coordinate k moved toward
    S_min (d = 0) or S_max (d = 1)))) - logits_c(C(G(s_i)))

The steps follow the paper's official procedure: zero the effects of unstable images, greedily
pick (d, k) pairs per target class over the images not classified as that class, and for a
binary classifier merge the two per-class lists into one "class 1 -> class 0" ranking.

A selection is a tuple (index k, direction d, score); `Attribute.at` turns it into an Attribute.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from stylex.errors import InvalidArgumentError

Selection = tuple[int, int, float]  # (StyleSpace conv index k, direction d, score)

# When an image stops counting in the greedy selection:
EFFECT = "effect"  # its accumulated target-logit gain reaches max_image_effect (official code)
FLIP = "flip"  # the summed effects of the picks so far flip it to the target class
ACTIVE_UNTIL = (EFFECT, FLIP)


@dataclass
class AttFindResult:
    """What `find_attributes` found: per class c, the attributes that move images toward c."""

    per_class: dict[int, list[Selection]]  # class -> [(k, d, score)], best first
    unstable: torch.Tensor  # [N] bool: images whose effects were zeroed as unstable

    @property
    def num_unstable(self) -> int:
        return int(self.unstable.sum().item())


def _check_effects(effects: torch.Tensor) -> None:
    if effects.ndim != 4 or effects.shape[1] != 2:
        raise InvalidArgumentError(
            f"effects must have shape [N, 2, S, C], got {list(effects.shape)}"
        )


def filter_unstable(
    effects: torch.Tensor,  # [N, 2, S, C]
    *,
    threshold: float = 2.0,  # |logit change| above which an entry counts as large
    max_count: int = 750,  # an image with more large entries than this is unstable
) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero every effect of the images that too many coordinates move strongly.

    Such images sit near a decision boundary or a generator artefact, so almost any change flips
    them; left in, they would dominate the greedy means. Returns (a zeroed copy of `effects`,
    a bool mask [N] of the unstable images); the input is not modified.
    """
    _check_effects(effects)
    counts = (effects.abs() > threshold).flatten(1).sum(dim=1)  # [N]
    unstable = counts > max_count
    out = effects.clone()
    out[unstable] = 0
    return out, unstable


def select_for_class(
    effects: torch.Tensor,  # [N, 2, S, C]
    target: int,  # class the attributes should move images toward
    image_mask: torch.Tensor,  # [N] bool: images to select on (those not classified as target)
    *,
    num_attributes: int = 8,  # K, the most attributes to return
    max_image_effect: float = 1.0,  # EFFECT: an image whose accumulated gain reaches this stops
    active_until: str = EFFECT,  # when an image stops counting: EFFECT or FLIP
    base_logits: torch.Tensor | None = None,  # [N, C] the images' own logits; FLIP needs them
) -> list[Selection]:
    """Greedy AttFind selection for one target class; returns [(k, d, mean gain)] in pick order.

    Each step picks the (d, k) with the largest mean positive logit gain for `target` over the
    images still "active", so later picks explain images the earlier ones did not. Active means
    (EFFECT, the official rule) an accumulated gain from earlier picks below `max_image_effect`,
    or (FLIP) base logits plus the summed effects of the earlier picks, on every class, not yet
    classified as `target`: an image one strong coordinate moves by a logit but does not flip
    keeps asking for more, which a decision that needs two factors changed at once requires.
    Only the picked (d, k) is retired; the other direction of k stays eligible. The score is the
    mean over the active images at the time of the pick. Stops early, returning fewer than K,
    when no image is active any more (the official code would take the argmax of NaN there) or
    when no remaining pair has a positive mean gain. Ties go to the lowest flat index
    j = d * S + k.
    """
    _check_effects(effects)
    num_images, _, num_coords, num_classes = effects.shape
    if not 0 <= target < num_classes:
        raise InvalidArgumentError(f"target class {target} is outside [0, {num_classes})")
    if image_mask.shape != (num_images,) or image_mask.dtype != torch.bool:
        raise InvalidArgumentError(
            f"image_mask must be a bool tensor of shape [{num_images}], "
            f"got {image_mask.dtype} {list(image_mask.shape)}"
        )
    if active_until not in ACTIVE_UNTIL:
        raise InvalidArgumentError(f"active_until {active_until!r} not in {ACTIVE_UNTIL}")
    if active_until == FLIP and (
        base_logits is None or base_logits.shape != (num_images, num_classes)
    ):
        got = None if base_logits is None else list(base_logits.shape)
        raise InvalidArgumentError(
            f"active_until={FLIP!r} needs base_logits of shape [{num_images}, {num_classes}], "
            f"got {got}"
        )

    mask = image_mask.to(effects.device)
    # float64 so that tied columns stay exactly tied and long sums do not drift.
    picked = effects[mask].to(torch.float64)  # [n, 2, S, C]
    gains = picked[..., target].clamp_min(0).reshape(picked.shape[0], 2 * num_coords)  # j = d*S+k
    accumulated = torch.zeros(gains.shape[0], dtype=torch.float64, device=gains.device)
    edited = None  # FLIP: [n, C] base logits plus the picks' effects
    if active_until == FLIP:
        assert base_logits is not None
        edited = base_logits.to(device=effects.device, dtype=torch.float64)[mask]
        picked = picked.reshape(picked.shape[0], 2 * num_coords, num_classes)

    chosen: list[Selection] = []
    while len(chosen) < num_attributes:
        if edited is None:
            active = accumulated < max_image_effect
        else:
            active = edited.argmax(dim=1) != target
        if not bool(active.any()):
            break
        means = gains[active].mean(dim=0)  # [2S]
        best = means.max()
        if best.item() <= 0:
            break
        # First index attaining the max: explicit rather than relying on argmax tie behaviour.
        j = int(torch.nonzero(means == best)[0, 0].item())
        chosen.append((j % num_coords, j // num_coords, float(best.item())))
        accumulated += gains[:, j]
        if edited is not None:
            edited += picked[:, j]
        gains[:, j] = 0
    return chosen


def _mean_effect(effects: torch.Tensor, k: int, d: int, c: int) -> float:
    return float(effects[:, d, k, c].to(torch.float64).mean().item())


def combine_binary(
    effects: torch.Tensor,  # [N, 2, S, 2]
    list_c0: list[Selection],  # selection toward class 0
    list_c1: list[Selection],  # selection toward class 1
) -> list[Selection]:
    """Merge the two per-class lists of a binary classifier into one "class 1 -> class 0" ranking.

    An attribute that raises class 1 when moved one way is read as lowering it (toward class 0)
    when moved the other way, so the class 1 list is flipped (d -> 1 - d); its coordinates that
    the class 0 list already has are dropped. Every entry is scored by
    mean_i effects[i, d, k, 0] + mean_i effects[i, 1 - d, k, 1] over all images, and the list is
    sorted by that score, best first (ties keep class 0 entries first, then pick order).
    Returns [(k, d, score)] with d the direction toward class 0.
    """
    _check_effects(effects)
    if effects.shape[3] != 2:
        raise InvalidArgumentError(
            f"combine_binary needs effects for 2 classes, got {effects.shape[3]}"
        )
    coords_c0 = {k for k, _, _ in list_c0}
    merged = [(k, d) for k, d, _ in list_c0]
    merged += [(k, 1 - d) for k, d, _ in list_c1 if k not in coords_c0]
    scored = [
        (k, d, _mean_effect(effects, k, d, 0) + _mean_effect(effects, k, 1 - d, 1))
        for k, d in merged
    ]
    # sorted() is stable, so equal scores keep their merged order.
    return sorted(scored, key=lambda item: -item[2])


def find_attributes(
    effects: torch.Tensor,  # [N, 2, S, C]
    predicted: torch.Tensor,  # [N] long: the classifier's argmax on each original image
    *,
    num_classes: int,
    num_attributes: int = 8,  # K per class
    max_image_effect: float = 1.0,
    unstable_threshold: float = 2.0,
    unstable_max_count: int = 750,
    active_until: str = EFFECT,  # see select_for_class
    base_logits: torch.Tensor | None = None,  # [N, C]; FLIP needs them
) -> AttFindResult:
    """Run AttFind on a precomputed effects tensor.

    Unstable images are zeroed first (they still count in the binary ranking's means over all
    images, with zero effect, as in the official code). Per class c the selection runs on the
    images predicted as another class. For two classes, class 0 gets the combined
    "class 1 -> class 0" ranking cut to `num_attributes`, and class 1 the same coordinates in the
    same order with the directions reversed, each scored by its mean class 1 logit gain over all
    images. For more classes each class gets its own one-vs-rest selection. `active_until`
    (EFFECT, the official rule, or FLIP) says when an image stops counting in the selections.
    """
    _check_effects(effects)
    num_images = effects.shape[0]
    if num_classes < 2 or effects.shape[3] != num_classes:
        raise InvalidArgumentError(
            f"num_classes={num_classes} must be >= 2 and match effects' last dimension "
            f"({effects.shape[3]})"
        )
    if predicted.shape != (num_images,):
        raise InvalidArgumentError(
            f"predicted must have shape [{num_images}], got {list(predicted.shape)}"
        )

    effects, unstable = filter_unstable(
        effects, threshold=unstable_threshold, max_count=unstable_max_count
    )
    predicted = predicted.to(effects.device)
    per_target = {
        c: select_for_class(
            effects,
            c,
            predicted != c,
            num_attributes=num_attributes,
            max_image_effect=max_image_effect,
            active_until=active_until,
            base_logits=base_logits,
        )
        for c in range(num_classes)
    }
    if num_classes > 2:
        return AttFindResult(per_class=per_target, unstable=unstable)

    toward_0 = combine_binary(effects, per_target[0], per_target[1])[:num_attributes]
    toward_1 = [(k, 1 - d, _mean_effect(effects, k, 1 - d, 1)) for k, d, _ in toward_0]
    return AttFindResult(per_class={0: toward_0, 1: toward_1}, unstable=unstable)
