"""Ground-truth alignment of attributes on the `shapes` data: which generating factor each one
changes, measured with a small CNN (the factor probe) trained to read the factors off images.

Every shapes image is fully described by its factors, so an attribute that flips the
classifier should change a factor the label rule depends on (hue for `hue_red`). The probe reads
shape, hue, size, position, stripes and background grey; it does not read `angle`, whose value
is ambiguous for symmetric shapes (a square turned by 1/4 looks the same), so rules on angle
cannot be checked with it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from stylex.data.base import ImageDataset
from stylex.data.shape_factors import SHAPES
from stylex.data.split import SubsetDataset
from stylex.errors import DataError, InvalidArgumentError
from stylex.explain.evaluation.metrics import (
    AttributeList,
    attribute_keys,
    iter_single_edits,
    module_device,
)
from stylex.explain.vocabulary.attributes import StyleStats
from stylex.models.stylespace import Styles

if TYPE_CHECKING:
    from stylex.models import Generator

CATEGORICAL = ("shape", "stripes")  # compared by the share of images whose value changes
CIRCULAR = ("hue",)  # compared by circular distance
CONTINUOUS = ("size", "pos_x", "pos_y", "bg")  # compared by |change| / population std
PROBE_FACTORS = ("shape", "hue", "size", "pos_x", "pos_y", "stripes", "bg")

# Output layout of the probe's single linear head.
_SHAPE_SLICE = slice(0, len(SHAPES))
_STRIPES_COL = len(SHAPES)
_HUE_SLICE = slice(len(SHAPES) + 1, len(SHAPES) + 3)  # (cos 2πh, sin 2πh)
_CONT_SLICE = slice(len(SHAPES) + 3, len(SHAPES) + 3 + len(CONTINUOUS))
_NUM_OUTPUTS = len(SHAPES) + 3 + len(CONTINUOUS)
SHAPE_LOSS_WEIGHT = 3.0


def _block(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    groups = 8 if c_out % 8 == 0 else 1
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1),
        nn.GroupNorm(groups, c_out),
        nn.LeakyReLU(0.2),
    )


class FactorProbe(nn.Module):
    """Image x [N,3,R,R] in [-1, 1] -> raw outputs [N, 11] for all shapes factors.

    Stride-2 convs bring the image down to 4x4 and that grid is kept (not pooled to 1x1) so
    that the head still sees where the object is. Continuous targets are learnt standardised;
    their mean/std are buffers, so `predict_factors` returns factor units.
    """

    cont_mean: torch.Tensor  # buffers [len(CONTINUOUS)]
    cont_std: torch.Tensor

    def __init__(
        self,
        resolution: int,  # input image side, px (power of two >= 8)
        width: int = 16,  # channels of the first conv; later convs use up to 4x
        hidden: int = 128,  # width of the hidden fully connected layer
    ) -> None:
        super().__init__()
        if resolution < 8 or resolution & (resolution - 1):
            raise InvalidArgumentError(
                f"probe resolution {resolution!r} is not valid; expected a power of two >= 8"
            )
        self.config = {"resolution": resolution, "width": width, "hidden": hidden}
        self.resolution = resolution
        layers = [_block(3, width, 1)]
        c = width
        # At most four downsamplings; above 64 px the grid is average-pooled to 4x4 instead.
        for _ in range(min(int(math.log2(resolution // 4)), 4)):
            layers.append(_block(c, min(4 * width, c * 2), 2))
            c = min(4 * width, c * 2)
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.head = nn.Sequential(
            nn.Linear(c * 18, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, _NUM_OUTPUTS),
        )
        self.register_buffer("cont_mean", torch.zeros(len(CONTINUOUS)))
        self.register_buffer("cont_std", torch.ones(len(CONTINUOUS)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3 or x.shape[-1] != self.resolution:
            raise InvalidArgumentError(
                f"probe input has shape {list(x.shape)}; expected [N, 3, {self.resolution}, "
                f"{self.resolution}]"
            )
        h = self.features(x)  # [N, c, r, r]
        # The 4x4 grid says where the object is; global mean and max pooling give the head
        # position-invariant evidence for what it is (shape, stripes), learnt once, not per cell.
        pooled = [self.pool(h).flatten(1), h.mean(dim=(2, 3)), h.amax(dim=(2, 3))]
        return self.head(torch.cat(pooled, dim=1))


def factor_columns(dataset: ImageDataset) -> dict[str, np.ndarray]:
    if hasattr(dataset, "factor_table"):
        return dataset.factor_table()
    if isinstance(dataset, SubsetDataset) and hasattr(dataset.parent, "factor_table"):
        return {k: v[dataset.indices] for k, v in dataset.parent.factor_table().items()}
    raise DataError(
        f"data set {type(dataset).__name__} has no generating factors; expected a shapes data set"
    )


def _hue_vec(hue: torch.Tensor) -> torch.Tensor:
    """Hue [N] in turns -> [N, 2] point on the unit circle, where 0.99 and 0.01 are close."""
    turn = hue.float() * (2 * math.pi)
    return torch.stack([turn.cos(), turn.sin()], dim=1)


def _targets(columns: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {
        "shape": torch.as_tensor(columns["shape"], dtype=torch.long),
        "stripes": torch.as_tensor(columns["stripes"], dtype=torch.float32),
        "hue_vec": _hue_vec(torch.as_tensor(columns["hue"])),
        "cont": torch.stack(
            [torch.as_tensor(columns[k], dtype=torch.float32) for k in CONTINUOUS], dim=1
        ),
    }


def _loss(out: torch.Tensor, t: dict[str, torch.Tensor], probe: FactorProbe) -> torch.Tensor:
    cont = (t["cont"] - probe.cont_mean) / probe.cont_std
    # Shape is the one factor that needs fine structure (corners); at equal weight its gradient
    # is drowned by the easy regressions and it lags far behind (0.87 vs 0.95 held-out accuracy
    # at 32 px after 6 epochs on 10k images).
    return (
        SHAPE_LOSS_WEIGHT * F.cross_entropy(out[:, _SHAPE_SLICE], t["shape"])
        + F.binary_cross_entropy_with_logits(out[:, _STRIPES_COL], t["stripes"])
        + F.mse_loss(out[:, _HUE_SLICE], t["hue_vec"]) * 2  # 2 components: weigh as one factor
        + F.mse_loss(out[:, _CONT_SLICE], cont) * len(CONTINUOUS)
    )


def _r2(y: torch.Tensor, y_hat: torch.Tensor) -> float:
    total = ((y - y.mean(dim=0)) ** 2).sum()
    return float(1 - ((y - y_hat) ** 2).sum() / total.clamp_min(1e-12))


def train_factor_probe(
    dataset: ImageDataset,  # a ShapesDataset (or a subset of one)
    *,
    epochs: int,
    batch_size: int = 64,
    lr: float = 1e-2,  # peak of a one-cycle schedule; 2e-3 learnt shape far more slowly
    seed: int = 0,  # fixes the split, the initial weights and the batch order
    device: str | torch.device = "cpu",
    val_fraction: float = 0.2,  # share of images held out for the reported scores
    width: int = 16,  # see FactorProbe
    progress: bool = False,
) -> tuple[FactorProbe, dict[str, Any]]:
    """Train a probe on the data set's images and factors; return it (eval mode) and held-out
    scores: accuracy for shape / stripes, R² for the continuous factors and for hue's
    (cos, sin), and hue's mean circular error in turns."""
    if epochs < 1:
        raise InvalidArgumentError(f"epochs {epochs!r} is not valid; expected >= 1")
    columns = factor_columns(dataset)
    n = len(dataset)
    num_val = round(n * val_fraction)
    if not 0 < num_val < n:
        raise DataError(f"{n} images cannot be split with val_fraction {val_fraction}")
    started = time.perf_counter()
    order = np.random.default_rng(seed).permutation(n)
    val_ids, train_ids = np.sort(order[:num_val]), np.sort(order[num_val:])
    # Shapes images are rendered on demand; render each once (a few thousand small images).
    x_all = torch.stack([dataset[i][0] for i in range(n)])
    targets = _targets(columns)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        probe = FactorProbe(dataset.resolution, width=width)
    cont_train = targets["cont"][train_ids]
    probe.cont_mean.copy_(cont_train.mean(dim=0))
    probe.cont_std.copy_(cont_train.std(dim=0).clamp_min(1e-6))
    probe.to(device)
    opt = torch.optim.Adam(probe.parameters(), lr=lr)
    steps_per_epoch = math.ceil(len(train_ids) / batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=lr, total_steps=epochs * steps_per_epoch, pct_start=0.2
    )
    gen = torch.Generator().manual_seed(seed)
    train_t = torch.as_tensor(train_ids)
    probe.train()
    for epoch in range(epochs):
        perm = train_t[torch.randperm(len(train_t), generator=gen)]
        starts = range(0, len(perm), batch_size)
        for start in tqdm(starts, desc=f"probe {epoch + 1}/{epochs}", disable=not progress):
            ids = perm[start : start + batch_size]
            batch = {k: v[ids].to(device) for k, v in targets.items()}
            loss = _loss(probe(x_all[ids].to(device)), batch, probe)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    probe.eval()

    pred = predict_factors(probe, x_all[torch.as_tensor(val_ids)], batch_size=256)
    val = {k: torch.as_tensor(v[val_ids]) for k, v in columns.items()}
    scores: dict[str, Any] = {
        "shape_acc": float((pred["shape"] == val["shape"]).float().mean()),
        "stripes_acc": float((pred["stripes"] == val["stripes"]).float().mean()),
    }
    for k in CONTINUOUS:
        scores[f"{k}_r2"] = _r2(val[k].float(), pred[k])
    scores["hue_r2"] = _r2(_hue_vec(val["hue"]), _hue_vec(pred["hue"]))
    scores["hue_mae_turns"] = float(_circular_distance(pred["hue"], val["hue"].float()).mean())
    scores.update(
        num_train=len(train_ids),
        num_val=len(val_ids),
        epochs=epochs,
        resolution=dataset.resolution,
        seconds=round(time.perf_counter() - started, 2),
    )
    return probe, scores


def _circular_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Distance between hues in turns, in [0, 0.5]."""
    d = (a - b).abs() % 1.0
    return torch.minimum(d, 1.0 - d)


def _decode(out: torch.Tensor, probe: FactorProbe) -> dict[str, torch.Tensor]:
    hue_vec = out[:, _HUE_SLICE]
    hue = torch.atan2(hue_vec[:, 1], hue_vec[:, 0]) / (2 * math.pi) % 1.0
    cont = out[:, _CONT_SLICE] * probe.cont_std + probe.cont_mean
    result = {
        "shape": out[:, _SHAPE_SLICE].argmax(dim=1),
        "hue": hue,
        "stripes": (out[:, _STRIPES_COL] > 0).long(),
    }
    result.update({k: cont[:, i] for i, k in enumerate(CONTINUOUS)})
    return {k: result[k] for k in PROBE_FACTORS}


@torch.no_grad()
def predict_factors(
    probe: FactorProbe,
    x: torch.Tensor,  # [N, 3, R, R] in [-1, 1]
    batch_size: int = 256,
) -> dict[str, torch.Tensor]:
    """Factors read off images, [N] each on x's device: shape and stripes as int64 codes
    (shape indexes SHAPES), hue in [0, 1), the rest in the data set's units."""
    device = module_device(probe, x.device)
    parts = [
        _decode(probe(x[start : start + batch_size].to(device)), probe)
        for start in range(0, x.shape[0], batch_size)
    ]
    return {k: torch.cat([p[k] for p in parts]).to(x.device) for k in PROBE_FACTORS}


# Below this share of the probe's training-set std, predictions count as not varying.
MIN_SPREAD = 0.25


def prediction_scale(before: dict[str, torch.Tensor], probe: FactorProbe) -> dict[str, float]:
    """Std of each continuous factor over predictions; the probe's training-set std where the
    predictions hardly vary (one image, identical images, or a factor the data holds fixed,
    such as the position of aligned shapes: its read-out noise is no unit of change)."""
    scale = {}
    for i, k in enumerate(CONTINUOUS):
        std = float(before[k].float().std(unbiased=False)) if before[k].numel() > 1 else 0.0
        trained = float(probe.cont_std[i])
        scale[k] = std if std > MIN_SPREAD * trained else trained
    return scale


def _changes(
    before: dict[str, torch.Tensor], after: dict[str, torch.Tensor], scale: dict[str, float]
) -> dict[str, float]:
    out = {}
    for k in PROBE_FACTORS:
        if k in CATEGORICAL:
            out[k] = float((before[k] != after[k]).float().mean())
        elif k in CIRCULAR:
            out[k] = float(_circular_distance(before[k], after[k]).mean() * 2)
        else:
            out[k] = float((before[k] - after[k]).abs().mean() / scale[k])
    return out


@torch.no_grad()
def factor_changes(
    probe: FactorProbe,
    x_before: torch.Tensor,  # [N, 3, R, R] in [-1, 1]
    x_after: torch.Tensor,  # [N, 3, R, R]: the same images after an edit
    scale: dict[str, float] | None = None,  # population std per continuous factor
    batch_size: int = 256,
) -> dict[str, float]:
    """Mean normalised change of each factor between paired image sets.

    shape / stripes: share of images whose predicted value changes; hue: mean circular
    distance x 2 (in [0, 1]); size, pos_x, pos_y, bg: mean |change| / `scale` (default: the
    std of the probe's predictions on x_before, see `prediction_scale`).
    """
    if x_before.shape != x_after.shape:
        raise InvalidArgumentError(
            f"x_before {list(x_before.shape)} and x_after {list(x_after.shape)} differ; "
            "expected paired images"
        )
    before = predict_factors(probe, x_before, batch_size)
    after = predict_factors(probe, x_after, batch_size)
    return _changes(before, after, scale or prediction_scale(before, probe))


@torch.no_grad()
def attribute_factors(
    G: Generator,
    probe: FactorProbe,
    styles: Styles,  # styles of the images to edit
    stats: StyleStats,  # S_min / S_max the directions refer to
    attributes: AttributeList,  # (index, direction) pairs, each applied alone
    shift: float = 1.0,
    batch_size: int = 64,
    scale: dict[str, float] | None = None,  # see factor_changes
    progress: bool = False,
) -> list[dict[str, Any]]:
    """For each attribute, applied alone to every image: the factor it changes most.

    Returns one {"index", "direction", "factor", "changes": {factor: normalised change},
    "name": a suggested human name (`suggest_name`), None where the edit moves several
    factors (`clear_factor`)} per attribute, in order (see
    `factor_changes` for the normalisation). "Before" is G(styles).
    """
    device = module_device(G, styles.conv.device)
    num = styles.conv.shape[0]
    keys = attribute_keys(attributes)
    before_parts = []
    for start in range(0, num, batch_size):
        sl = slice(start, start + batch_size)
        x = G.synthesize(
            Styles(styles.conv[sl].to(device), styles.rgb[sl].to(device)), noise_mode="const"
        )
        before_parts.append(predict_factors(probe, x))
    before = {k: torch.cat([p[k] for p in before_parts]) for k in PROBE_FACTORS}
    scale = scale or prediction_scale(before, probe)

    # Predictions of every (attribute, image) pair, filled as the batches come.
    after = {
        k: torch.zeros(len(keys), num, dtype=v.dtype, device=v.device) for k, v in before.items()
    }
    for attr_pos, img, x in iter_single_edits(
        G, styles, stats, keys, None, shift, batch_size, progress
    ):
        pred = predict_factors(probe, x)  # on G's device, like `before` and the indices
        for k in PROBE_FACTORS:
            after[k][attr_pos, img] = pred[k]

    results = []
    for pos, (index, direction) in enumerate(keys):
        edited = {k: v[pos] for k, v in after.items()}
        changes = _changes(before, edited, scale)
        factor = max(changes, key=changes.__getitem__)
        named = clear_factor(changes) is not None
        results.append(
            {
                "index": index,
                "direction": direction,
                "factor": factor,
                "changes": changes,
                "name": suggest_name(factor, before[factor], edited[factor]) if named else None,
            }
        )
    return results


# A name says what an edit does only where one factor moves and the others hardly do.
MIN_NAMED_CHANGE = 0.1  # the main factor's normalised change (see factor_changes)
MAX_SIDE_SHARE = 0.5  # every other factor's change, as a share of the main one's


def clear_factor(changes: dict[str, float]) -> str | None:
    """The factor an edit changes most, if it changes by at least MIN_NAMED_CHANGE and no
    other factor changes by more than MAX_SIDE_SHARE of that; else None (no true name)."""
    ranked = sorted(changes.items(), key=lambda kv: kv[1], reverse=True)
    main, size = ranked[0]
    side = ranked[1][1] if len(ranked) > 1 else 0.0
    return main if size >= MIN_NAMED_CHANGE and side <= MAX_SIDE_SHARE * size else None


# Hue names by their hue in turns (the colour wheel of `shapes`: 0 = red, 1/3 = green).
HUE_NAMES = {"red": 0.0, "orange": 1 / 12, "yellow": 1 / 6, "green": 1 / 3, "cyan": 1 / 2,
             "blue": 2 / 3, "magenta": 5 / 6}  # fmt: skip
# Continuous factors: (name when it grows, name when it shrinks); pos_y grows downward.
_MOVES = {
    "size": ("larger shape", "smaller shape"),
    "pos_x": ("shape moves right", "shape moves left"),
    "pos_y": ("shape moves down", "shape moves up"),
    "bg": ("lighter background", "darker background"),
}


def hue_name(turns: float) -> str:
    """The nearest named hue of a hue in turns."""
    return min(HUE_NAMES, key=lambda n: float(_circular_distance(
        torch.tensor(turns), torch.tensor(HUE_NAMES[n]))))  # fmt: skip


def suggest_name(
    factor: str,  # the factor an attribute changes most (PROBE_FACTORS)
    before: torch.Tensor,  # [N] that factor read off the images
    after: torch.Tensor,  # [N] read off the same images with the attribute applied
) -> str:
    """A human name for an attribute from what it does to its main factor, e.g. "hue toward
    red" (the circular mean hue of the edited images), "larger shape", "shape toward star",
    "stripes on"."""
    if factor == "hue":
        angle = after.double() * 2 * math.pi
        turns = float(torch.atan2(angle.sin().mean(), angle.cos().mean()) / (2 * math.pi)) % 1.0
        return f"hue toward {hue_name(turns)}"
    if factor == "shape":
        return f"shape toward {SHAPES[int(torch.mode(after.long()).values)]}"
    if factor == "stripes":
        return "stripes on" if float(after.float().mean()) >= float(before.float().mean()) else (
            "stripes off"
        )  # fmt: skip
    if factor not in _MOVES:
        raise InvalidArgumentError(f"factor {factor!r} unknown; expected one of {PROBE_FACTORS}")
    grows, shrinks = _MOVES[factor]
    return grows if float((after.double() - before.double()).mean()) >= 0 else shrinks


def alignment_share(
    factor_per_attribute: Sequence[str],  # main factor of each attribute, best attribute first
    rule_factors: Sequence[str],  # factors the label rule depends on
    ks: Sequence[int] = (1, 3, 5, 10),
) -> dict[int, float]:
    """{k: share of the top-k attributes whose main factor is one the label depends on}.

    A list shorter than k is scored whole; an empty list scores 0.
    """
    if any(int(k) < 1 for k in ks):
        raise InvalidArgumentError(f"ks {list(ks)} must all be >= 1")
    relevant = set(rule_factors)
    shares = {}
    for k in ks:
        top = list(factor_per_attribute[: int(k)])
        shares[int(k)] = sum(f in relevant for f in top) / len(top) if top else 0.0
    return shares
