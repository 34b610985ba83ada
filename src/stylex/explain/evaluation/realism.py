"""Do generated images look like the data? Figures that need no ground truth, for any data set.

- `c2st`: a classifier two-sample test. A small CNN learns to tell real images from generated
  ones on half of the images and scores the other half; the figure is its ROC AUC, averaged
  over both ways round (2-fold). 0.5 = it cannot tell them apart; 1.0 = every generated image
  is given away. The same protocol on two halves of the real images gives the floor to read it
  against (`real_vs_real`), since a small test set scatters around 0.5.
- `background_spread`: the mean over images of the standard deviation of the border pixels
  (a two-pixel frame), for the real images and every generated set. On the built-in `shapes`
  data the background is one flat grey and the object never reaches the frame, so real images
  score 0: a tinted, blotchy background painted by an edit shows up here directly. On data
  whose frame is not flat, read it against the real images' figure.
- `visibility`: of the top-1 counterfactuals that flip the classifier, the share whose image
  differs from the reconstruction by less than `INVISIBLE_MEAN_ABS` per pixel: a flip nobody
  can see is an adversarial example, not an explanation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from stylex.errors import InvalidArgumentError

# An edit whose mean |counterfactual - reconstruction| is below this (images in [-1, 1]: 0.5 %
# of the range, about 1.3 grey levels of 255) is not a visible change.
INVISIBLE_MEAN_ABS = 0.01
BORDER_PX = 2  # the frame `background_spread` reads
MIN_IMAGES = 8  # per set: fewer leave a 2-fold test with nothing to learn from
BATCH = 32  # critic training batch (images drawn with replacement)
LEARNING_RATE = 2e-3
STEPS = 600  # critic updates per fold


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve of `scores` for `labels` (1 = positive): the probability that a
    random positive scores above a random negative, ties counting a half (Mann-Whitney U)."""
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels, dtype=bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        raise InvalidArgumentError(f"roc_auc needs both classes, got {n_pos} and {n_neg}")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    # Average ranks over ties (1-based).
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    for start, count in zip(first, counts, strict=True):
        ranks[order[start : start + count]] = start + (count + 1) / 2
    u = ranks[labels].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


class _Critic(nn.Module):
    """x [N, 3, R, R] -> a logit map [N, R/4, R/4]: a fully convolutional patch critic whose
    every cell sees a ~14 px window. Each cell is a training example of its own, which is what
    lets a test on a few hundred images learn what a background or a stroke looks like."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.LeakyReLU(0.2),
            nn.Conv2d(width, width, 3, stride=2, padding=1),
            nn.BatchNorm2d(width),
            nn.LeakyReLU(0.2),
            nn.Conv2d(width, width, 3, stride=2, padding=1),
            nn.BatchNorm2d(width),
            nn.LeakyReLU(0.2),
            nn.Conv2d(width, 1, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)[:, 0]


def _fit_and_score(
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_test: torch.Tensor,
    steps: int,
    seed: int,
    lr: float = LEARNING_RATE,
) -> np.ndarray:
    torch.manual_seed(seed)
    critic = _Critic()
    opt = torch.optim.Adam(critic.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        batch = torch.randint(len(x_train), (BATCH,), generator=gen)
        xb = x_train[batch]
        # Flips keep the test about what images look like, not where things sit.
        flip = torch.rand(len(xb), generator=gen) < 0.5
        xb = torch.where(flip[:, None, None, None], xb.flip(-1), xb)
        logits = critic(xb)
        target = y_train[batch][:, None, None].expand_as(logits)
        loss = F.binary_cross_entropy_with_logits(logits, target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    critic.eval()
    with torch.no_grad():
        return critic(x_test).mean(dim=(1, 2)).numpy()  # an image's score: its cells' mean


def c2st(
    real: torch.Tensor,  # [N, 3, R, R] in [-1, 1]
    generated: torch.Tensor,  # [M, 3, R, R] in [-1, 1]
    *,
    steps: int = STEPS,
    seed: int = 0,
) -> dict[str, Any]:
    """Classifier two-sample test, 2-fold: {"auc", "fold_aucs", "num_real", "num_generated"}.

    Image i of each set goes to fold i % 2; a critic trained on one fold scores the other. Pass
    a reconstruction or counterfactual set in the order of the real images it came from, so an
    image and its own rendering never sit on both sides of a split."""
    if real.ndim != 4 or generated.ndim != 4 or real.shape[1:] != generated.shape[1:]:
        raise InvalidArgumentError(
            f"c2st needs two image batches of one shape [N, 3, R, R], got {list(real.shape)} "
            f"and {list(generated.shape)}"
        )
    if min(len(real), len(generated)) < MIN_IMAGES:
        raise InvalidArgumentError(
            f"c2st needs at least {MIN_IMAGES} images per set, got {len(real)} and {len(generated)}"
        )
    real, generated = real.detach().float().cpu(), generated.detach().float().cpu()
    aucs = []
    for fold in (0, 1):
        parts = []
        for images, label in ((real, 1.0), (generated, 0.0)):
            idx = torch.arange(len(images))
            train, test = images[idx % 2 != fold], images[idx % 2 == fold]
            parts.append((train, test, label))
        x_train = torch.cat([p[0] for p in parts])
        y_train = torch.cat([torch.full((len(p[0]),), p[2]) for p in parts])
        x_test = torch.cat([p[1] for p in parts])
        y_test = np.concatenate([np.full(len(p[1]), p[2]) for p in parts])
        scores = _fit_and_score(x_train, y_train, x_test, steps, seed * 2 + fold)
        aucs.append(roc_auc(scores, y_test))
    return {
        "auc": round(float(np.mean(aucs)), 4),
        "fold_aucs": [round(a, 4) for a in aucs],
        "num_real": len(real),
        "num_generated": len(generated),
    }


def real_vs_real(real: torch.Tensor, *, steps: int = STEPS, seed: int = 0) -> dict[str, Any]:
    """The same test between the two halves of the real images (even against odd): the figure
    an indistinguishable set would reach at this size."""
    return c2st(real[0::2], real[1::2], steps=steps, seed=seed)


def background_spread(x: torch.Tensor, border_px: int = BORDER_PX) -> float:
    """Mean over images of the std of the pixels (all channels) in a `border_px` frame."""
    if x.ndim != 4 or min(x.shape[-2:]) <= 2 * border_px:
        raise InvalidArgumentError(
            f"background_spread needs images [N, 3, R, R] larger than a {border_px} px frame, "
            f"got {list(x.shape)}"
        )
    mask = torch.ones(x.shape[-2:], dtype=torch.bool)
    mask[border_px:-border_px, border_px:-border_px] = False
    frame = x.detach().float()[..., mask]  # [N, 3, F]
    return float(frame.flatten(1).std(dim=1, unbiased=False).mean())


def visibility(
    reconstructions: torch.Tensor,  # [N, 3, R, R]
    counterfactuals: torch.Tensor,  # [N, 3, R, R] the top-1 counterfactual of each image
    flipped: torch.Tensor,  # [N] bool: the counterfactual reaches the target class
    threshold: float = INVISIBLE_MEAN_ABS,
) -> dict[str, Any]:
    """{"invisible_share": share of the flips changing the image by less than `threshold`
    (mean |delta| per pixel; None without flips), "num_flips", "median_mean_abs": median over
    the flips of the change, "threshold"}."""
    if reconstructions.shape != counterfactuals.shape or flipped.shape != reconstructions.shape[:1]:
        raise InvalidArgumentError(
            f"visibility needs matching batches, got {list(reconstructions.shape)}, "
            f"{list(counterfactuals.shape)} and flags {list(flipped.shape)}"
        )
    change = (counterfactuals.float() - reconstructions.float()).abs().flatten(1).mean(dim=1)
    flips = change[flipped.bool()]
    n = int(flips.numel())
    return {
        "invisible_share": round(float((flips < threshold).float().mean()), 4) if n else None,
        "num_flips": n,
        "median_mean_abs": round(float(np.median(flips.numpy())), 4) if n else None,
        "threshold": threshold,
    }


def realism_report(
    real: torch.Tensor,  # [N, 3, R, R] held-out real images
    generated: dict[str, torch.Tensor],  # name -> [N, 3, R, R], in the order of `real`
    *,
    top1_flipped: torch.Tensor | None = None,  # [N] bool, with generated["top1"]: visibility
    steps: int = STEPS,
    seed: int = 0,
) -> dict[str, Any]:
    """The realism section of metrics.json: C2ST AUC per generated set beside real-vs-real
    (None under 2 * MIN_IMAGES real images), the background spread of every set beside the
    real images' and the visibility of the top-1 flips."""
    out: dict[str, Any] = {"c2st": None}  # None: too few images for a two-sample test
    if len(real) >= 2 * MIN_IMAGES:
        out["c2st"] = {"real_vs_real": real_vs_real(real, steps=steps, seed=seed)}
        for name, images in generated.items():
            out["c2st"][name] = c2st(real, images, steps=steps, seed=seed)
    sets = {"real": real, **generated}
    out["background_spread"] = {k: round(background_spread(v), 4) for k, v in sets.items()}
    if top1_flipped is not None and "top1" in generated and "reconstruction" in generated:
        out["visibility"] = visibility(generated["reconstruction"], generated["top1"], top1_flipped)
    return out
