"""Realism figures on constructed cases: the two-sample test tells a visibly different set from
the data and not the data from itself, the background spread reads a frame, visibility counts
only flips."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from stylex.data import build_dataset
from stylex.errors import InvalidArgumentError
from stylex.explain.context import stack_images
from stylex.explain.evaluation import realism
from stylex.explain.evaluation.realism import (
    INVISIBLE_MEAN_ABS,
    background_spread,
    c2st,
    realism_report,
    roc_auc,
    visibility,
)

RES = 16
STEPS = 300  # enough for these cases at 16 px; the evaluation default is realism.STEPS


@pytest.fixture(scope="module")
def shapes() -> torch.Tensor:
    return stack_images(build_dataset("shapes", RES, num_images=240, seed=5), 240)


def blotched(x: torch.Tensor, amplitude: float, seed: int = 0) -> torch.Tensor:
    """x with a smooth random colour cast, as an edit that paints the background does."""
    g = torch.Generator().manual_seed(seed)
    cast = F.interpolate(torch.randn(len(x), 3, 4, 4, generator=g), size=RES, mode="bilinear")
    return (x + amplitude * cast).clamp(-1, 1)


def test_roc_auc_is_the_share_of_pairs_ranked_right_with_ties_as_half():
    scores = np.array([0.9, 0.4, 0.4, 0.1, 0.4])
    labels = np.array([1, 1, 0, 0, 0])
    # Positive 0.9 beats all 3 negatives; positive 0.4 beats 0.1, ties two 0.4s: 1 + 2 * 0.5.
    assert roc_auc(scores, labels) == pytest.approx((3 + 2) / 6)
    assert roc_auc(-scores, labels) == pytest.approx(1 - (3 + 2) / 6)
    with pytest.raises(InvalidArgumentError, match="both classes"):
        roc_auc(scores, np.ones(5))


def test_c2st_tells_a_colour_cast_from_the_data_and_not_the_data_from_itself(shapes):
    """Measured with critic seeds 0 and 1 and AVX-512, AVX2 and SSE4.1 kernels: the cast set
    0.93-0.96, two sets of real images 0.55-0.58; the bounds leave 0.08 and 0.12 of room."""
    real, other = shapes[:120], shapes[120:]
    cast = c2st(real, blotched(other, 0.15), steps=STEPS)
    same = c2st(real, other, steps=STEPS)
    assert cast["auc"] > 0.85, cast
    assert 0.3 < same["auc"] < 0.7, same
    assert len(cast["fold_aucs"]) == 2 and cast["num_real"] == cast["num_generated"] == 120


def test_c2st_refuses_sets_it_cannot_split(shapes):
    with pytest.raises(InvalidArgumentError, match="at least 8 images per set"):
        c2st(shapes[:20], shapes[20:25])
    with pytest.raises(InvalidArgumentError, match="one shape"):
        c2st(shapes[:20], shapes[20:40, :, :8])


def test_background_spread_reads_the_frame_only(shapes):
    flat = torch.full((4, 3, RES, RES), 0.2)
    assert background_spread(flat) == pytest.approx(0.0, abs=1e-7)
    inside = flat.clone()
    inside[:, :, 2:-2, 2:-2] = torch.rand(4, 3, RES - 4, RES - 4)  # an object: not the frame
    assert background_spread(inside) == pytest.approx(0.0, abs=1e-7)
    framed = flat.clone()
    framed[:, 0, 0, :] = 1.0  # one channel of the top row
    frame_px = 3 * (RES * RES - (RES - 4) ** 2)
    share = RES / frame_px  # the pixels at 1.0 among the frame's values
    want = (1.0 - 0.2) * np.sqrt(share * (1 - share))  # the std of a two-valued frame
    assert background_spread(framed) == pytest.approx(want, rel=1e-5)
    # The built-in shapes: flat grey backgrounds, objects inside the frame.
    assert background_spread(shapes) < 0.01
    assert background_spread(blotched(shapes, 0.15)) > 0.05


def test_visibility_counts_flips_only_and_calls_a_small_change_invisible():
    rec = torch.zeros(4, 3, 8, 8)
    cf = rec.clone()
    cf[0] += 0.5 * INVISIBLE_MEAN_ABS  # flips, invisibly
    cf[1] += 4 * INVISIBLE_MEAN_ABS  # flips, visibly
    cf[2] += 0.1 * INVISIBLE_MEAN_ABS  # invisible, but does not flip: not counted
    flipped = torch.tensor([True, True, False, False])
    out = visibility(rec, cf, flipped)
    assert out["num_flips"] == 2 and out["invisible_share"] == 0.5
    assert out["median_mean_abs"] == pytest.approx(2.25 * INVISIBLE_MEAN_ABS, rel=1e-3)
    none = visibility(rec, cf, torch.zeros(4, dtype=torch.bool))
    assert none["num_flips"] == 0 and none["invisible_share"] is None


def test_report_holds_every_set_and_skips_the_test_when_too_few_images(shapes):
    real = shapes[:40]
    sets = {"reconstruction": shapes[40:80], "top1": blotched(shapes[40:80], 0.15)}
    flipped = torch.zeros(40, dtype=torch.bool)
    flipped[:10] = True
    out = realism_report(real, sets, top1_flipped=flipped, steps=20)
    assert set(out["c2st"]) == {"real_vs_real", "reconstruction", "top1"}
    assert out["c2st"]["real_vs_real"]["num_real"] == 20
    assert set(out["background_spread"]) == {"real", "reconstruction", "top1"}
    assert out["visibility"]["num_flips"] == 10
    small = realism_report(real[:10], {"top1": sets["top1"][:10]}, steps=20)
    assert small["c2st"] is None and "visibility" not in small


def test_evaluation_default_is_the_modules():
    from stylex.pipelines.evaluation import EvalSettings

    assert EvalSettings().realism_steps == realism.STEPS
