"""Explain images: encode, reconstruct, and rank attributes by what they do to *each* image,
each with its counterfactual image and probabilities.

`explain_batch` is the one explain of stylex: every engine, transport, the batch job and the CLI
call it, with per-image options, and get one `Explanation` or one error per image back. It runs
over a backend's primitives (`Backend`), so every backend gives the same explanations.

An image's candidate attributes come from the catalog (CATALOG mode: the class-level attributes
of its target), from its own StyleSpace (IMAGE mode: a first-order screen of every coordinate in
both directions, from one gradient of log P(target); half of the `num_candidates` exact
evaluations go to its best, the other half to the screen prior, the edits that were best on the
reference images nearest to this one, and the catalog's attributes are evaluated too), or, with
`exhaustive`, every one of the image's 2 * S edits. Either way the candidates are applied and
classified exactly, the best `top_k` returned, and those of them that work together
give the joint counterfactual.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
from collections.abc import Callable, Sequence
from typing import Protocol

import torch

from stylex.errors import InvalidArgumentError
from stylex.explain.search.effects import first_order_effects
from stylex.explain.search.screen import ScreenPrior
from stylex.explain.single.explanation import Counterfactual, Explanation, JointCounterfactual
from stylex.explain.single.options import (
    CATALOG,
    IMAGE,
    PREDICTED,
    RUNNER_UP,
    ExplainOptions,
    check_class_index,
)
from stylex.explain.vocabulary.attributes import Attribute, StyleStats, apply_attributes
from stylex.explain.vocabulary.catalog import AttributeCatalog
from stylex.models.stylespace import StyleLayout

log = logging.getLogger(__name__)

SynthesizeClassify = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


class Backend(Protocol):
    """The primitives an explanation needs; tensors are CPU float32 in and out."""

    def classify(self, x: torch.Tensor) -> torch.Tensor: ...  # [N,3,R,R] -> logits [N, C]

    def encode_styles(  # x [N,3,R,R], p [N, C] -> (conv [N, S], rgb [N, T])
        self, x: torch.Tensor, p: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]: ...

    def synthesize_classify(  # (conv, rgb) -> (images [N,3,R,R], logits [N, C])
        self, conv: torch.Tensor, rgb: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]: ...


class Explains(Backend, Protocol):
    """A backend with its catalog and `explain` (every `InferenceEngine`)."""

    catalog: AttributeCatalog

    def explain(  # x [N, 3, R, R] -> one explanation per image
        self, x: torch.Tensor, *, top_k: int = 5, target: int | str | None = None,
        shift: float = 1.0, exhaustive: bool = False, mode: str | None = None,
        num_candidates: int | None = None,
    ) -> list[Explanation]: ...  # fmt: skip


# (conv [N, S], rgb [N, T], targets [N] class indices) -> d log P(target) / d conv  [N, S]
StyleGradient = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def screen_candidates(
    grad: torch.Tensor,  # [N, S] d log P(target) / d conv of each image
    conv: torch.Tensor,  # [N, S] the styles the gradient was taken at
    stats: StyleStats,
    counts: Sequence[int],  # per image, how many candidates to keep
    layout: StyleLayout,
) -> list[list[Attribute]]:
    """IMAGE mode's screen: per image, all 2 * S edits ranked by their first-order rise of
    log P(target) (monotone in P(target)), the best `counts[i]` first. A positive shift only
    scales the prediction, so the ranking holds for every shift."""
    gains = first_order_effects(grad.float(), conv.float(), stats.targets(), 1.0)  # [N, 2, S]
    num_coords = gains.shape[2]
    out = []
    for i, count in enumerate(counts):
        best = gains[i].flatten().topk(min(count, gains[i].numel())).indices
        out.append([Attribute.at(layout, int(j % num_coords), int(j // num_coords)) for j in best])
    return out


def merge_screens(
    first_order: list[Attribute],  # the gradient screen's best, best first
    prior: list[Attribute],  # the screen prior's edits for the image, most votes first
    count: int,  # how many edits to evaluate exactly
) -> list[Attribute]:
    """IMAGE mode's candidates: the gradient's best half of `count`, then the prior's edits
    not among them, then the gradient's next, until there are `count`. The gradient misses
    edits whose effect is not monotone along the edit; the prior catches most of those."""
    if not prior:
        return first_order[:count]
    half = (count + 1) // 2
    out = {a.key: a for a in first_order[:half]}
    for attr in itertools.chain(prior, first_order[half:]):
        if len(out) >= count:
            break
        out.setdefault(attr.key, attr)
    return list(out.values())


def image_error(x: object, resolution: int) -> InvalidArgumentError | None:
    """Why `x` cannot be explained at this resolution (None: it can)."""
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        return InvalidArgumentError(f"image is a {type(x).__name__}; expected a float tensor")
    if tuple(x.shape) != (3, resolution, resolution):
        return InvalidArgumentError(
            f"image has shape {list(x.shape)}, expected [3, {resolution}, {resolution}]"
        )
    if not bool(torch.isfinite(x).all()):
        return InvalidArgumentError("image has NaN or infinite values")
    return None


def resolve_target(
    target: int | str,  # ExplainOptions.target
    probs: torch.Tensor,  # [C] of the input
    probs_rec: torch.Tensor,  # [C] of its reconstruction
) -> int:
    """ExplainOptions.target -> a class index. The runner-up is read off the reconstruction,
    the image the counterfactuals are edits of; "predicted" off the input."""
    if target == PREDICTED:
        return int(probs.argmax())
    if target == RUNNER_UP:
        order = probs_rec.argsort(descending=True)
        return int(order[1]) if len(order) > 1 else int(order[0])
    return int(target)


def rank_counterfactuals(
    synthesize_classify: SynthesizeClassify,  # (conv, rgb) -> (images, logits)
    conv: torch.Tensor,  # [N, S] styles of the images' reconstructions
    rgb: torch.Tensor,  # [N, T]
    candidates: list[list[Attribute]],  # per image, the attributes to try
    targets: list[int],  # per image, the class whose probability should rise
    probs_rec: torch.Tensor,  # [N, C] probabilities of the reconstructions
    stats: StyleStats,
    shifts: Sequence[float],  # per image
    batch_size: int,
) -> list[list[Counterfactual]]:
    """Apply each candidate to its image, classify, and rank per image by the rise of
    P(target). Edits of all images share batches, so a batch of requests fills the backend."""
    pairs = [(i, a) for i, attrs in enumerate(candidates) for a in attrs]
    out: list[list[Counterfactual]] = [[] for _ in candidates]
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start : start + batch_size]
        rows = torch.tensor([i for i, _ in chunk], device=conv.device)
        edited = torch.cat(
            [apply_attributes(conv[i : i + 1], stats, [a], shifts[i]) for i, a in chunk]
        )
        images, logits = synthesize_classify(edited, rgb[rows])
        probs = torch.softmax(logits.float(), dim=1)
        for row, (i, attr) in enumerate(chunk):
            effect = float(probs[row, targets[i]] - probs_rec[i, targets[i]])
            out[i].append(Counterfactual(attr, images[row].cpu(), probs[row].cpu(), effect))
    for cfs in out:
        cfs.sort(key=lambda cf: cf.effect, reverse=True)
    return out


def joint_counterfactuals(
    synthesize_classify: SynthesizeClassify,
    conv: torch.Tensor,  # [N, S]
    rgb: torch.Tensor,  # [N, T]
    chosen: list[list[Counterfactual]],  # per image, its counterfactuals, best first
    targets: list[int],
    probs: torch.Tensor,  # [N, C] of the inputs (their decision)
    probs_rec: torch.Tensor,  # [N, C] of the reconstructions
    stats: StyleStats,
    shifts: Sequence[float],
) -> list[JointCounterfactual | None]:
    """Per image, its attributes applied together (the sufficiency view: do these changes
    together flip the decision?). Built greedily, best first: the best attribute, then each next
    one joins when P(target) of the joint edit rises with it, so an attribute that works alone
    but against the others is left out. One synthesis + classifier call per rank, all images
    together. None where an image has no counterfactual."""

    def joint(i: int, cfs: list[Counterfactual], image: torch.Tensor, p: torch.Tensor):
        return JointCounterfactual(
            attributes=[cf.attribute for cf in cfs],
            image=image,
            probs=p,
            effect=float(p[targets[i]] - probs_rec[i, targets[i]]),
            flips=int(p.argmax()) != int(probs[i].argmax()),
        )

    joined = {i: cfs[:1] for i, cfs in enumerate(chosen) if cfs}
    out: list[JointCounterfactual | None] = [None] * len(chosen)
    for i, cfs in joined.items():
        out[i] = joint(i, cfs, cfs[0].image, cfs[0].probs)
    for rank in range(1, max((len(c) for c in chosen), default=0)):
        rows = [i for i, cfs in enumerate(chosen) if len(cfs) > rank]
        edited = torch.cat(
            [
                apply_attributes(
                    conv[i : i + 1], stats,
                    [cf.attribute for cf in [*joined[i], chosen[i][rank]]], shifts[i],
                )
                for i in rows
            ]
        )  # fmt: skip
        images, logits = synthesize_classify(edited, rgb[torch.tensor(rows)])
        joint_probs = torch.softmax(logits.float(), dim=1)
        for row, i in enumerate(rows):
            p, current = joint_probs[row].cpu(), out[i]
            assert current is not None
            if float(p[targets[i]]) > float(current.probs[targets[i]]):
                joined[i] = [*joined[i], chosen[i][rank]]
                out[i] = joint(i, joined[i], images[row].cpu(), p)
    return out


@torch.no_grad()
def _explain(
    backend: Backend,
    catalog: AttributeCatalog,
    images: list[torch.Tensor],  # each [3, R, R], checked
    options: list[ExplainOptions],
    gradient: StyleGradient | None,
    prior: ScreenPrior | None,
    batch_size: int,
) -> list[Explanation]:
    x = torch.stack(images).detach().float().cpu()
    probs = torch.softmax(backend.classify(x).float(), dim=1)
    conv, rgb = backend.encode_styles(x, probs)
    rec, logits_rec = backend.synthesize_classify(conv, rgb)
    probs_rec = torch.softmax(logits_rec.float(), dim=1)
    targets = [resolve_target(o.target, probs[i], probs_rec[i]) for i, o in enumerate(options)]
    candidates = [list(catalog.for_class(t)) for t in targets]
    screened = [i for i, o in enumerate(options) if o.mode == IMAGE and not o.exhaustive]
    if screened:
        assert gradient is not None  # explain_batch refuses the items otherwise
        rows = torch.tensor(screened)
        grad = gradient(conv[rows], rgb[rows], torch.tensor([targets[i] for i in screened]))
        counts = [max(options[i].num_candidates, options[i].top_k) for i in screened]
        found = screen_candidates(grad, conv[rows], catalog.stats, counts, catalog.style_layout)
        layout = catalog.style_layout
        for i, attrs, count in zip(screened, found, counts, strict=True):
            voted = prior.edits(conv[i], targets[i], count) if prior is not None else []
            attrs = merge_screens(attrs, [Attribute.at(layout, k, d) for k, d in voted], count)
            # The catalog's attributes stay candidates: an image's best edit is never worse
            # than CATALOG mode's, at the price of the catalog's few exact edits.
            keys = {a.key for a in attrs}
            candidates[i] = attrs + [a for a in candidates[i] if a.key not in keys]
    if any(o.exhaustive for o in options):  # every edit, no screen
        layout, num_coords = catalog.style_layout, conv.shape[1]
        every = [Attribute.at(layout, k, d) for d in (0, 1) for k in range(num_coords)]
        for i, opts in enumerate(options):
            if opts.exhaustive:
                candidates[i] = every
    labels = catalog.labels  # an edit found by a search keeps the name it was given
    if labels and (screened or any(o.exhaustive for o in options)):
        candidates = [
            [dataclasses.replace(a, label=labels[a.key]) if a.key in labels else a for a in c]
            for c in candidates
        ]
    shifts = [o.shift for o in options]
    ranked = rank_counterfactuals(
        backend.synthesize_classify, conv, rgb, candidates, targets, probs_rec, catalog.stats,
        shifts, batch_size,
    )  # fmt: skip
    chosen = [ranked[i][: o.top_k] for i, o in enumerate(options)]
    joints = joint_counterfactuals(
        backend.synthesize_classify, conv, rgb, chosen, targets, probs, probs_rec,
        catalog.stats, shifts,
    )  # fmt: skip
    return [
        Explanation(
            class_names=list(catalog.class_names),
            image=x[i],
            reconstruction=rec[i].cpu(),
            probs=probs[i].cpu(),
            probs_reconstruction=probs_rec[i].cpu(),
            target=targets[i],
            counterfactuals=chosen[i],
            mode=IMAGE if options[i].exhaustive else options[i].mode,
            joint=joints[i],
        )
        for i in range(len(images))
    ]


def explain_batch(
    backend: Backend,
    catalog: AttributeCatalog,
    images: Sequence[torch.Tensor],  # each x [3, R, R] in [-1, 1]
    options: Sequence[ExplainOptions] | ExplainOptions,  # per image, or one for all
    *,
    resolution: int,  # px, of the backend's networks
    gradient: StyleGradient | None = None,  # needed by IMAGE mode
    prior: ScreenPrior | None = None,  # IMAGE mode's screen prior; None: the gradient alone
    batch_size: int = 64,  # counterfactuals per synthesis + classifier call
) -> list[Explanation | Exception]:
    """Explain images together, each with its own options: per image, its `Explanation` or
    the error that is that image's answer. A bad image or option fails only its own item; if
    the batched computation fails, each item is run alone, so one bad item never fails the
    others."""
    if isinstance(options, ExplainOptions):
        options = [options] * len(images)
    if len(options) != len(images):
        raise ValueError(f"{len(images)} images but {len(options)} options")
    results: list[Explanation | Exception | None] = [None] * len(images)
    todo = []
    for i, (x, opts) in enumerate(zip(images, options, strict=True)):
        error = image_error(x, resolution)
        if error is None and opts.mode == IMAGE and not opts.exhaustive and gradient is None:
            error = InvalidArgumentError(
                f"this engine cannot screen an image's own coordinates (mode {IMAGE!r}); "
                f"use mode {CATALOG!r}"
            )
        if error is None and not isinstance(opts.target, str):
            try:
                check_class_index(opts.target, catalog.class_names)
            except InvalidArgumentError as exc:
                error = exc
        if error is None:
            todo.append(i)
        else:
            results[i] = error
    groups = [todo] if todo else []
    while groups:
        group = groups.pop()
        try:
            exps = _explain(
                backend, catalog, [images[i] for i in group], [options[i] for i in group],
                gradient, prior, batch_size,
            )  # fmt: skip
        except Exception as exc:
            if len(group) > 1:  # find the item that failed: run each alone
                log.warning(
                    "a batch of %d failed (%s); explaining its items alone", len(group), exc
                )
                groups.extend([i] for i in group)
            else:
                results[group[0]] = exc
            continue
        for i, exp in zip(group, exps, strict=True):
            results[i] = exp
    done = [r for r in results if r is not None]
    assert len(done) == len(results), "every item has its answer"
    return done
