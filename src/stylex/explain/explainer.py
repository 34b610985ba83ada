"""Explain single images: encode, reconstruct, and rank attributes by what they do to *this*
image, each with its counterfactual image and probabilities."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from stylex.errors import InvalidArgumentError
from stylex.explain.attributes import Attribute, StyleStats, apply_attributes
from stylex.explain.catalog import AttributeCatalog
from stylex.explain.effects import EffectEngine
from stylex.explain.explanation import Counterfactual, Explanation
from stylex.models import Encoder, Generator, Styles

MAX_TOP_K = 64


def check_top_k(top_k: int) -> int:
    """Every entry point (CLI, engines, servers, batch jobs) accepts the same top_k range."""
    if not 1 <= top_k <= MAX_TOP_K:
        raise InvalidArgumentError(f"top_k {top_k} out of range [1, {MAX_TOP_K}]")
    return top_k


def check_shift(shift: float) -> float:
    if not math.isfinite(shift) or shift <= 0:
        raise InvalidArgumentError(f"shift must be a finite number > 0, got {shift}")
    return shift


def check_images(x: torch.Tensor, resolution: int) -> None:
    if x.ndim != 4 or tuple(x.shape[1:]) != (3, resolution, resolution):
        raise InvalidArgumentError(
            f"images have shape {list(x.shape)}, expected [N, 3, {resolution}, {resolution}]"
        )


SynthesizeClassify = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def resolve_target(catalog: AttributeCatalog, target: int | str | None, probs: torch.Tensor) -> int:
    """Explicit class (name or index), else the most probable class other than the predicted
    one: the counterfactuals show what would change the decision."""
    if target is None or target == "":
        order = probs.argsort(descending=True)
        return int(order[1]) if len(order) > 1 else int(order[0])
    return list(catalog.class_names).index(catalog.class_name(target))


def rank_counterfactuals(
    synthesize_classify: SynthesizeClassify,  # (conv, rgb) -> (images, logits)
    conv: torch.Tensor,  # [N, S] styles of the images' reconstructions
    rgb: torch.Tensor,  # [N, T]
    candidates: list[list[Attribute]],  # per image, the attributes to try
    targets: list[int],  # per image, the class whose probability should rise
    probs_rec: torch.Tensor,  # [N, C] probabilities of the reconstructions
    stats: StyleStats,
    shift: float,
    batch_size: int,
) -> list[list[Counterfactual]]:
    """Apply each candidate to its image, classify, and rank per image by the rise of
    P(target). Edits of all images share batches, so a batch of requests fills the backend."""
    pairs = [(i, a) for i, attrs in enumerate(candidates) for a in attrs]
    out: list[list[Counterfactual]] = [[] for _ in candidates]
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start : start + batch_size]
        rows = torch.tensor([i for i, _ in chunk], device=conv.device)
        edited = torch.cat([apply_attributes(conv[i : i + 1], stats, [a], shift) for i, a in chunk])
        images, logits = synthesize_classify(edited, rgb[rows])
        probs = torch.softmax(logits.float(), dim=1)
        for row, (i, attr) in enumerate(chunk):
            effect = float(probs[row, targets[i]] - probs_rec[i, targets[i]])
            out[i].append(Counterfactual(attr, images[row].cpu(), probs[row].cpu(), effect))
    for cfs in out:
        cfs.sort(key=lambda cf: cf.effect, reverse=True)
    return out


class Explainer:
    """Explanations from G, E, C and an attribute catalog (torch; one device)."""

    def __init__(
        self,
        G: Generator,
        E: Encoder,
        C: torch.nn.Module,
        catalog: AttributeCatalog,
        batch_size: int = 64,
    ) -> None:
        self.G, self.E, self.C = G, E, C
        self.catalog = catalog
        self.batch_size = batch_size
        self.class_names = list(catalog.class_names)
        self.stats = catalog.stats

    def resolve_target(self, target: int | str | None, probs: torch.Tensor) -> int:
        return resolve_target(self.catalog, target, probs)

    def _synthesize_classify(
        self, conv: torch.Tensor, rgb: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        images = self.G.synthesize(Styles(conv, rgb))
        return images, self.C(images)

    @torch.no_grad()
    def explain(
        self,
        x: torch.Tensor,  # [N, 3, R, R] in [-1, 1]
        *,
        top_k: int = 5,
        target: int | str | None = None,  # class to move toward; None = the runner-up class
        shift: float = 1.0,
        exhaustive: bool = False,  # search all coordinates instead of the catalog's attributes
    ) -> list[Explanation]:
        check_images(x, self.G.cfg.resolution)
        check_top_k(top_k)
        check_shift(shift)
        device = next(self.G.parameters()).device
        x = x.to(device)
        probs = torch.softmax(self.C(x).float(), dim=1)
        styles = self.G.styles(self.E(x), probs)
        rec = self.G.synthesize(styles)
        probs_rec = torch.softmax(self.C(rec).float(), dim=1)
        targets = [self.resolve_target(target, probs_rec[i]) for i in range(x.shape[0])]
        candidates = []
        for i, tgt in enumerate(targets):
            if exhaustive:
                one = Styles(styles.conv[i : i + 1], styles.rgb[i : i + 1])
                candidates.append(self._exhaustive_candidates(one, tgt, top_k, shift))
            else:
                candidates.append(list(self.catalog.for_class(tgt)))
        ranked = rank_counterfactuals(
            self._synthesize_classify, styles.conv, styles.rgb, candidates, targets, probs_rec,
            self.stats, shift, self.batch_size,
        )  # fmt: skip
        return [
            Explanation(
                class_names=self.class_names,
                image=x[i].cpu(),
                reconstruction=rec[i].cpu(),
                probs=probs[i].cpu(),
                probs_reconstruction=probs_rec[i].cpu(),
                target=targets[i],
                counterfactuals=ranked[i][:top_k],
            )
            for i in range(x.shape[0])
        ]

    def _exhaustive_candidates(
        self, one: Styles, target: int, top_k: int, shift: float
    ) -> list[Attribute]:
        """All 2 * S edits of this image through the effect engine; best logit gains first."""
        engine = EffectEngine(self.G, self.C, shift=shift, edits_per_batch=self.batch_size * 2)
        effects = engine.effects(one, self.stats)[0, :, :, target]  # [2, S]
        order = effects.flatten().argsort(descending=True)[: max(top_k * 2, top_k)]
        num_coords = effects.shape[1]
        return [
            Attribute.at(self.G.layout, int(j % num_coords), int(j // num_coords),
                         mean_effect=float(effects.flatten()[j]))
            for j in order
        ]  # fmt: skip
