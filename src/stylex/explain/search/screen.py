"""The screen prior: which StyleSpace edits were best on the images most like this one.

IMAGE mode ranks all 2 * S edits of an image by a first-order prediction (one gradient) and
evaluates the best exactly. The prediction misses edits whose effect is not monotone along the
edit (a small step lowers P(target), the full step raises it): on the shipped model the gradient
alone put an exact top-5 edit that moves P(target) by >= 0.01 outside its top 32 on a quarter of
held-out images. The prior fills the other half of the exact evaluations from reference images
whose every edit was applied exactly once (AttFind's images, or those `stylex prior` measures):
per reference image and class, its `top` best edits by the rise of log P(class). For an image,
the `neighbours` reference images nearest in StyleSpace (coordinates scaled by their standard
deviation) vote with their best edits toward the target; ties go to the votes of all reference
images (docs/image-mode.md has the figures).

    ScreenPrior.from_effects(effects, base_logits, conv)  -> the prior, from AttFind's tensor
    prior.edits(conv, target, count)                        -> [(k, d)], most votes first
    exact_effects(synthesize_classify, conv, rgb, stats)    -> the effects tensor, exactly
    ScreenPrior.to_bytes() / from_bytes()                   -> the `screen.npz` file
    load_run_prior(run_dir, catalog)                        -> a run's, checked (or None)
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from stylex.errors import CheckpointError
from stylex.explain.vocabulary.attributes import StyleStats
from stylex.rundir import SCREEN_FILE, RunPaths

if TYPE_CHECKING:
    from stylex.explain.vocabulary.catalog import AttributeCatalog

DEFAULT_TOP = 10  # best edits kept per reference image and class
DEFAULT_NEIGHBOURS = 10  # reference images that vote for an image's candidates

SynthesizeClassify = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


@dataclass
class ScreenPrior:
    """Reference images, each with its best edits toward every class."""

    styles: torch.Tensor  # [N, S] float32 conv styles of the reference reconstructions
    scale: torch.Tensor  # [S] float32 per-coordinate scale of the distance (the styles' std)
    predicted: torch.Tensor  # [N] long: the class of each reference reconstruction
    best: torch.Tensor  # [N, C, T] long: flat edits j = d * S + k, best first, toward class c
    neighbours: int = DEFAULT_NEIGHBOURS

    @property
    def num_coords(self) -> int:
        return int(self.styles.shape[1])

    @classmethod
    def from_effects(
        cls,
        effects: torch.Tensor,  # [N, 2, S, C] logit changes of every edit (AttFind's tensor)
        base_logits: torch.Tensor,  # [N, C] logits of each reconstruction
        conv: torch.Tensor,  # [N, S] its conv styles
        *,
        top: int = DEFAULT_TOP,
        neighbours: int = DEFAULT_NEIGHBOURS,
    ) -> ScreenPrior:
        if (
            effects.ndim != 4 or effects.shape[1] != 2
            or base_logits.shape != (effects.shape[0], effects.shape[3])
            or conv.shape != (effects.shape[0], effects.shape[2])
        ):  # fmt: skip
            raise ValueError(
                f"effects {list(effects.shape)}, base logits {list(base_logits.shape)} and "
                f"styles {list(conv.shape)}: expected [N, 2, S, C], [N, C] and [N, S]"
            )
        num_images, _, num_coords, num_classes = effects.shape
        base = base_logits.double()
        log_p = torch.log_softmax(base[:, None, None, :] + effects.double(), dim=3)  # [N,2,S,C]
        gains = log_p - torch.log_softmax(base, dim=1)[:, None, None, :]  # rise of log P(c)
        gains = gains.permute(0, 3, 1, 2).reshape(num_images, num_classes, 2 * num_coords)
        best = gains.topk(min(top, 2 * num_coords), dim=2).indices  # [N, C, T], j = d * S + k
        styles = conv.float()
        scale = styles.std(dim=0) if num_images > 1 else torch.ones(num_coords)
        return cls(styles, scale.clamp_min(1e-6), base.argmax(dim=1), best, neighbours)

    def edits(
        self,
        conv: torch.Tensor,  # [S] styles of the image being explained
        target: int,  # the class whose probability should rise
        count: int,  # how many edits at most
    ) -> list[tuple[int, int]]:
        """The edits (k, d) the image's nearest reference images found best toward `target`:
        most votes of the nearest first, then the votes of all reference images. Only the
        reference images not of class `target` vote (those an explanation toward it is for),
        unless every one is."""
        rows = (self.predicted != target).nonzero().flatten()
        if rows.numel() == 0:
            rows = torch.arange(self.styles.shape[0])
        picks = self.best[rows, target]  # [n, T]
        dist = (((self.styles[rows] - conv.float()) / self.scale) ** 2).sum(dim=1)
        near = dist.topk(min(self.neighbours, rows.numel()), largest=False).indices
        size = 2 * self.num_coords
        near_votes, all_votes = _votes(picks[near], size), _votes(picks, size)
        order = np.lexsort((-all_votes.numpy(), -near_votes.numpy()))  # near first, then all
        kept = [int(j) for j in order[:count] if all_votes[j] > 0]
        return [(j % self.num_coords, j // self.num_coords) for j in kept]

    def describe(self) -> dict[str, int]:
        """What a manifest records of it."""
        return {"num_images": int(self.styles.shape[0]), "neighbours": self.neighbours,
                "top": int(self.best.shape[2])}  # fmt: skip

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        np.savez(
            buf, styles=self.styles.numpy().astype(np.float32),
            scale=self.scale.numpy().astype(np.float32),
            predicted=self.predicted.numpy().astype(np.int64),
            best=self.best.numpy().astype(np.int32), neighbours=np.int64(self.neighbours),
        )  # fmt: skip
        return buf.getvalue()

    @classmethod
    def from_bytes(
        cls, data: bytes, *, num_coords: int, num_classes: int, source: str = SCREEN_FILE
    ) -> ScreenPrior:
        """Read a `screen.npz`; ValueError names what does not fit this model."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as f:
                arrays = {k: f[k] for k in ("styles", "scale", "predicted", "best", "neighbours")}
        except (OSError, KeyError, ValueError, EOFError) as exc:
            raise ValueError(f"{source} is not a screen prior ({exc})") from None
        styles, best = arrays["styles"], arrays["best"]
        n = styles.shape[0] if styles.ndim == 2 else -1
        problems = []
        if styles.ndim != 2 or styles.shape[1] != num_coords or n < 1:
            problems.append(f"styles {list(styles.shape)}, expected [N >= 1, {num_coords}]")
        elif arrays["scale"].shape != (num_coords,) or arrays["predicted"].shape != (n,):
            problems.append("scale / predicted do not match the styles")
        elif best.ndim != 3 or best.shape[:2] != (n, num_classes) or best.shape[2] < 1:
            problems.append(f"best {list(best.shape)}, expected [{n}, {num_classes}, T >= 1]")
        elif best.min() < 0 or best.max() >= 2 * num_coords:
            problems.append(f"best holds edits outside [0, {2 * num_coords})")
        elif arrays["predicted"].min() < 0 or arrays["predicted"].max() >= num_classes:
            problems.append(f"predicted holds classes outside [0, {num_classes})")
        elif int(arrays["neighbours"]) < 1:
            problems.append("neighbours must be >= 1")
        if problems:
            raise ValueError(f"{source}: {problems[0]}")
        return cls(
            torch.from_numpy(styles.astype(np.float32)),
            torch.from_numpy(arrays["scale"].astype(np.float32)),
            torch.from_numpy(arrays["predicted"].astype(np.int64)),
            torch.from_numpy(best.astype(np.int64)),
            int(arrays["neighbours"]),
        )


def load_run_prior(run_dir: str | Path, catalog: AttributeCatalog) -> ScreenPrior | None:
    """RUN/screen.npz, checked against the run's catalog; None where AttFind wrote none."""
    path = RunPaths(Path(run_dir)).screen
    if not path.is_file():
        return None
    try:
        return ScreenPrior.from_bytes(
            path.read_bytes(), num_coords=catalog.stats.s_min.numel(),
            num_classes=len(catalog.class_names), source=str(path),
        )  # fmt: skip
    except ValueError as exc:
        raise CheckpointError(f"{exc}; rerun `stylex attfind` on {run_dir}") from None


def _votes(picks: torch.Tensor, size: int) -> torch.Tensor:
    """[size] how often each edit appears in `picks` (any shape)."""
    return torch.zeros(size).index_add_(0, picks.flatten(), torch.ones(picks.numel()))


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
