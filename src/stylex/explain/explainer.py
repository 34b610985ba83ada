"""Explain single images: encode, reconstruct, and rank attributes by what they do to *this*
image, each with its counterfactual image and probabilities."""

from __future__ import annotations

import torch

from stylex.errors import InvalidArgumentError
from stylex.explain.attributes import Attribute, apply_attributes
from stylex.explain.catalog import AttributeCatalog
from stylex.explain.effects import EffectEngine
from stylex.explain.explanation import Counterfactual, Explanation
from stylex.models import Encoder, Generator, Styles

MAX_TOP_K = 64


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
        """Explicit class (name or index), else the most probable class other than the
        predicted one: the counterfactuals show what would change the decision."""
        if target is None or target == "":
            order = probs.argsort(descending=True)
            return int(order[1]) if len(order) > 1 else int(order[0])
        return self.class_names.index(self.catalog.class_name(target))

    def _check(self, x: torch.Tensor, top_k: int) -> None:
        r = self.G.cfg.resolution
        if x.ndim != 4 or x.shape[1:] != (3, r, r):
            raise InvalidArgumentError(
                f"images have shape {list(x.shape)}, expected [N, 3, {r}, {r}]"
            )
        if not 1 <= top_k <= MAX_TOP_K:
            raise InvalidArgumentError(f"top_k {top_k} out of range [1, {MAX_TOP_K}]")

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
        self._check(x, top_k)
        if shift <= 0:
            raise InvalidArgumentError(f"shift must be > 0, got {shift}")
        device = next(self.G.parameters()).device
        x = x.to(device)
        probs = torch.softmax(self.C(x).float(), dim=1)
        styles = self.G.styles(self.E(x), probs)
        rec = self.G.synthesize(styles)
        probs_rec = torch.softmax(self.C(rec).float(), dim=1)
        results = []
        for i in range(x.shape[0]):
            tgt = self.resolve_target(target, probs_rec[i])
            one = Styles(styles.conv[i : i + 1], styles.rgb[i : i + 1])
            if exhaustive:
                candidates = self._exhaustive_candidates(one, tgt, top_k, shift)
            else:
                candidates = list(self.catalog.for_class(tgt))
            cfs = self._counterfactuals(one, candidates, tgt, probs_rec[i], shift)
            results.append(
                Explanation(
                    class_names=self.class_names,
                    image=x[i].cpu(),
                    reconstruction=rec[i].cpu(),
                    probs=probs[i].cpu(),
                    probs_reconstruction=probs_rec[i].cpu(),
                    target=tgt,
                    counterfactuals=cfs[:top_k],
                )
            )
        return results

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

    def _counterfactuals(
        self,
        one: Styles,
        candidates: list[Attribute],
        target: int,
        probs_rec: torch.Tensor,
        shift: float,
    ) -> list[Counterfactual]:
        if not candidates:
            return []
        out = []
        for start in range(0, len(candidates), self.batch_size):
            chunk = candidates[start : start + self.batch_size]
            conv = one.conv.expand(len(chunk), -1).clone()
            for row, attr in enumerate(chunk):
                conv[row : row + 1] = apply_attributes(
                    conv[row : row + 1], self.stats, [attr], shift
                )
            images = self.G.synthesize(Styles(conv, one.rgb.expand(len(chunk), -1)))
            probs = torch.softmax(self.C(images).float(), dim=1)
            for row, attr in enumerate(chunk):
                effect = float(probs[row, target] - probs_rec[target])
                out.append(Counterfactual(attr, images[row].cpu(), probs[row].cpu(), effect))
        out.sort(key=lambda cf: cf.effect, reverse=True)
        return out
