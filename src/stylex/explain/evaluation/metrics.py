"""Evaluation of a trained StylEx model and its attributes (reference §5).

- `encode`: images -> w, styles, reconstructions, classifier probabilities of both.
- `flip_rate_at_k`: sufficiency; the top-k attributes applied jointly, share of images whose
  decision changes.
- `flip_rate_alone`: per attribute, share of other-class images it alone moves to its class.
- `reconstruction_fidelity`: L1 / perceptual distance and classifier agreement of reconstructions.

Everything runs batched under `torch.no_grad()` on the device of the networks it is given;
results come back on the device of the input tensors. `G` only needs `styles(w, p)` and
`synthesize(styles, noise_mode=...)`; `C` maps x [N,3,R,R] in [-1, 1] to logits [N, classes].
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn
from tqdm import tqdm

from stylex.errors import InvalidArgumentError
from stylex.explain.vocabulary.attributes import Attribute, StyleStats, apply_attributes
from stylex.models.stylespace import Styles

if TYPE_CHECKING:
    from stylex.models import Generator

AttributeList = Sequence[tuple[int, int]] | Sequence[Attribute]


@dataclass
class Encoded:
    """A batch of images passed through E, G and C."""

    w: torch.Tensor  # [N, w_dim]
    probs: torch.Tensor  # [N, C] softmax C(x)
    styles: Styles  # conv [N, S], rgb [N, T] = G.styles(w, probs)
    reconstructions: torch.Tensor  # [N, 3, R, R] = G.synthesize(styles), in [-1, 1]
    probs_rec: torch.Tensor  # [N, C] softmax C(reconstructions)

    def __len__(self) -> int:
        return self.w.shape[0]

    @property
    def predicted(self) -> torch.Tensor:
        """[N] int64: the class C gives the reconstruction (what attributes are applied to)."""
        return self.probs_rec.argmax(dim=1)


def module_device(module: object, fallback: torch.device | str = "cpu") -> torch.device:
    """Device of a module's first parameter or buffer; `fallback` for modules without any."""
    if isinstance(module, nn.Module):
        for param in module.parameters():
            return param.device
        for buffer in module.buffers():
            return buffer.device
    return torch.device(fallback)


def _batches(n: int, batch_size: int, desc: str, progress: bool) -> Iterator[slice]:
    if batch_size < 1:
        raise InvalidArgumentError(f"batch_size {batch_size!r} is not valid; expected >= 1")
    starts = range(0, n, batch_size)
    for start in tqdm(starts, desc=desc, disable=not progress, leave=False):
        yield slice(start, min(start + batch_size, n))


def attribute_keys(attributes: AttributeList) -> list[tuple[int, int]]:
    """(index, direction) pairs of Attribute objects or pairs."""
    return [
        (a.index, a.direction) if isinstance(a, Attribute) else (int(a[0]), int(a[1]))
        for a in attributes
    ]


def _check_styles(styles: Styles, n: int | None = None, what: str = "") -> int:
    num = styles.conv.shape[0]
    if styles.rgb.shape[0] != num:
        raise InvalidArgumentError(
            f"styles.conv has {num} rows but styles.rgb has {styles.rgb.shape[0]}"
        )
    if n is not None and n != num:
        raise InvalidArgumentError(f"{what} has {n} entries; expected one per image ({num})")
    return num


@torch.no_grad()
def encode(
    G: Generator,
    E: nn.Module,  # Encoder: x -> w
    C: nn.Module,  # classifier: x -> logits
    x: torch.Tensor,  # [N, 3, R, R] in [-1, 1]
    batch_size: int = 64,
    progress: bool = False,
) -> Encoded:
    """Encode, re-synthesise and classify images: the StylEx reconstruction G(E(x), C(x))."""
    if x.ndim != 4 or x.shape[1] != 3:
        raise InvalidArgumentError(f"x has shape {list(x.shape)}; expected [N, 3, R, R]")
    device = module_device(G, x.device)
    parts: dict[str, list[torch.Tensor]] = {k: [] for k in ("w", "p", "conv", "rgb", "rec", "pr")}
    for sl in _batches(x.shape[0], batch_size, "encode", progress):
        xb = x[sl].to(device)
        w = E(xb)
        p = torch.softmax(C(xb).float(), dim=1)
        styles = G.styles(w, p)
        rec = G.synthesize(styles, noise_mode="const")
        p_rec = torch.softmax(C(rec).float(), dim=1)
        for key, value in zip(parts, (w, p, styles.conv, styles.rgb, rec, p_rec), strict=True):
            parts[key].append(value.to(x.device))
    cat = {k: torch.cat(v) for k, v in parts.items()}
    return Encoded(
        w=cat["w"],
        probs=cat["p"],
        styles=Styles(cat["conv"], cat["rgb"]),
        reconstructions=cat["rec"],
        probs_rec=cat["pr"],
    )


@torch.no_grad()
def _classify_styles(
    G: Generator, C: nn.Module, conv: torch.Tensor, rgb: torch.Tensor
) -> torch.Tensor:
    """Logits [B, classes] of C(G(styles)) for one batch already on the right device."""
    return C(G.synthesize(Styles(conv, rgb), noise_mode="const")).float()


@torch.no_grad()
def flip_targets(
    predicted: torch.Tensor,  # [N] predicted classes
    probs: torch.Tensor | None,  # [N, classes]; only needed for more than two classes
    num_classes: int,
) -> torch.Tensor:
    """The class each image's attributes should move it toward.

    Binary: the other class. Multi-class: the most probable class other than the predicted
    one (the nearest alternative decision, which is the one a small edit can reach).
    """
    if num_classes == 2:
        return 1 - predicted
    if probs is None:
        raise InvalidArgumentError("a multi-class flip target needs the class probabilities")
    masked = probs.clone().float()
    masked.scatter_(1, predicted[:, None].to(masked.device), float("-inf"))
    return masked.argmax(dim=1).to(predicted.device)


@torch.no_grad()
def flip_rate_at_k(
    G: Generator,
    C: nn.Module,  # classifier: x -> logits
    styles: Styles,  # styles of the N images, e.g. Encoded.styles
    stats: StyleStats,  # S_min / S_max the attribute directions refer to
    attributes_per_class: Mapping[int, AttributeList],  # class c -> attributes toward c, best first
    predicted: torch.Tensor,  # [N] class C gives each image's reconstruction
    ks: Sequence[int] = range(1, 11),
    shift: float = 1.0,
    batch_size: int = 64,
    probs: torch.Tensor | None = None,  # [N, classes] probabilities of the reconstructions
    progress: bool = False,
) -> dict[int, float]:
    """Sufficiency: {k: share of the N images whose argmax changes with the top-k attributes}.

    Each image gets, jointly, the first k attributes of the list of its target class (see
    `flip_targets`): binary images of class 1 use the class-0 list and vice versa; multi-class
    images use the list of their most probable other class. A list shorter than k is applied
    whole. `probs` is only needed for more than two classes; when it is missing it is computed
    with one extra pass. Cost: one batched pass over the images per k.
    """
    num = _check_styles(styles, predicted.shape[0], "predicted")
    if any(int(k) < 1 for k in ks):
        raise InvalidArgumentError(f"ks {list(ks)} must all be >= 1")
    if num == 0:
        return {int(k): 0.0 for k in ks}
    device = module_device(G, styles.conv.device)
    predicted = predicted.long().to(device)
    if probs is None:
        reference = [
            _classify_styles(G, C, styles.conv[sl].to(device), styles.rgb[sl].to(device))
            for sl in _batches(num, batch_size, "flip rate: reference", progress)
        ]
        probs = torch.softmax(torch.cat(reference), dim=1)
    num_classes = probs.shape[1]
    targets = flip_targets(predicted, probs.to(device), num_classes)  # [N]
    lists: dict[int, list[tuple[int, int]]] = {}
    for c in targets.unique().tolist():
        if c not in attributes_per_class:
            raise InvalidArgumentError(
                f"no attribute list for class {c}; images need lists for classes "
                f"{sorted(targets.unique().tolist())}, got {sorted(attributes_per_class)}"
            )
        lists[c] = attribute_keys(attributes_per_class[c])

    rates: dict[int, float] = {}
    for k in ks:
        flipped = 0
        for sl in _batches(num, batch_size, f"flip rate @{k}", progress):
            # A copy: the edits below must not write into the caller's styles.
            conv = styles.conv[sl].to(device, copy=True)
            target = targets[sl]
            for c, attrs in lists.items():
                rows = target == c
                if rows.any():
                    conv[rows] = apply_attributes(conv[rows], stats, attrs[: int(k)], shift)
            logits = _classify_styles(G, C, conv, styles.rgb[sl].to(device))
            flipped += int((logits.argmax(dim=1) != predicted[sl]).sum())
        rates[int(k)] = flipped / num
    return rates


@torch.no_grad()
def iter_single_edits(
    G: Generator,
    styles: Styles,  # styles of the images
    stats: StyleStats,  # S_min / S_max the directions refer to
    attributes: AttributeList,  # (index, direction) pairs, each applied alone
    image_ids: torch.Tensor | None = None,  # [M] rows of `styles` to edit; None = all
    shift: float = 1.0,
    batch_size: int = 64,
    progress: bool = False,
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Yield (attribute_pos [B], image_id [B], x [B,3,R,R]) for every (attribute, image) pair.

    Pairs are packed into full batches across attributes, so few images per attribute still
    use the accelerator well. Positions index into `attributes`, ids into the rows of `styles`;
    both come back on the device of G.
    """
    _check_styles(styles)
    device = module_device(G, styles.conv.device)
    keys = attribute_keys(attributes)
    if image_ids is None:
        image_ids = torch.arange(styles.conv.shape[0])
    image_ids = image_ids.long().to(device)
    num_pairs = len(keys) * image_ids.shape[0]
    if num_pairs == 0:
        return
    index = torch.tensor([k for k, _ in keys], dtype=torch.long, device=device)
    direction = torch.tensor([d for _, d in keys], dtype=torch.long, device=device)
    extremes = stats.targets().to(device)  # [2, S]
    conv_all = styles.conv.to(device)
    rgb_all = styles.rgb.to(device)
    for sl in _batches(num_pairs, batch_size, "single edits", progress):
        pair = torch.arange(sl.start, sl.stop, device=device)
        attr_pos = pair // image_ids.shape[0]
        img = image_ids[pair % image_ids.shape[0]]
        conv = conv_all[img]  # advanced indexing copies
        rows = torch.arange(conv.shape[0], device=device)
        k = index[attr_pos]
        old = conv[rows, k]
        # Same edit as apply_attributes, one (k, d) per row.
        conv[rows, k] = old + shift * (extremes[direction[attr_pos], k].to(old.dtype) - old)
        x = G.synthesize(Styles(conv, rgb_all[img]), noise_mode="const")
        yield attr_pos, img, x


@torch.no_grad()
def flip_rate_alone(
    G: Generator,
    C: nn.Module,  # classifier: x -> logits
    styles: Styles,  # styles of the N images
    stats: StyleStats,  # S_min / S_max the directions refer to
    attributes: AttributeList,  # attributes toward `target_class`
    target_class: int,  # the class the attributes should move images to
    predicted: torch.Tensor,  # [N] class C gives each image's reconstruction
    shift: float = 1.0,
    batch_size: int = 64,
    progress: bool = False,
) -> list[float]:
    """Per attribute: share of the images not predicted `target_class` that it alone moves to
    `target_class` (argmax). 0.0 for every attribute when no image is of another class."""
    _check_styles(styles, predicted.shape[0], "predicted")
    device = module_device(G, styles.conv.device)
    predicted = predicted.long().to(device)
    others = torch.nonzero(predicted != target_class).flatten()
    hits = torch.zeros(len(attributes), dtype=torch.long, device=device)
    if others.numel() == 0:
        return [0.0] * len(attributes)
    for attr_pos, _, x in iter_single_edits(
        G, styles, stats, attributes, others, shift, batch_size, progress
    ):
        moved = C(x).argmax(dim=1) == target_class
        hits.index_add_(0, attr_pos, moved.long())
    return (hits.float() / others.numel()).tolist()


@torch.no_grad()
def reconstruction_fidelity(
    x: torch.Tensor,  # [N, 3, R, R] the encoded images, in [-1, 1]
    enc: Encoded,  # encode(G, E, C, x)
    perceptual: nn.Module | None = None,  # (a, b) -> [N] distance, e.g. build_perceptual("auto")
    batch_size: int = 64,
) -> dict[str, float | int | str]:
    """How well G(E(x)) reproduces x, in pixels and in the classifier's eyes.

    l1: mean |x - x_rec| per pixel value; perceptual: mean of `perceptual` (with its `name`);
    agreement: share of images where argmax C(x) == argmax C(x_rec);
    kl: mean KL(C(x) || C(x_rec)) in nats.
    """
    if x.shape != enc.reconstructions.shape:
        raise InvalidArgumentError(
            f"x has shape {list(x.shape)} but the reconstructions "
            f"{list(enc.reconstructions.shape)}; expected the images that were encoded"
        )
    rec = enc.reconstructions.to(x.device)
    out: dict[str, float | int | str] = {
        "num_images": x.shape[0],
        "l1": float((x.float() - rec.float()).abs().mean()),
    }
    if perceptual is not None:
        device = module_device(perceptual, x.device)
        dists = [
            perceptual(x[sl].to(device), rec[sl].to(device)).float().cpu()
            for sl in _batches(x.shape[0], batch_size, "perceptual", False)
        ]
        out["perceptual"] = float(torch.cat(dists).mean())
        out["perceptual_name"] = str(getattr(perceptual, "name", type(perceptual).__name__))
    p, q = enc.probs.float(), enc.probs_rec.float().to(enc.probs.device)
    out["agreement"] = float((p.argmax(dim=1) == q.argmax(dim=1)).float().mean())
    # xlogy gives 0 for p = 0; q is clamped so a zero there costs a large but finite penalty.
    kl = (torch.xlogy(p, p) - p * q.clamp_min(1e-12).log()).sum(dim=1)
    out["kl"] = float(kl.mean())
    return out
