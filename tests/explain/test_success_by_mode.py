"""Per-image success in both search modes: IMAGE mode's candidates include the catalog's, so
its top-1 success is never below CATALOG's; the served joint is the explanation's own."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stylex.data import build_dataset
from stylex.explain.evaluation.faithfulness import SUCCESS_PROBABILITY, per_image_success
from stylex.explain.single.options import CATALOG, IMAGE
from stylex.runtime import OrtEngine
from stylex.runtime.model_dir import shipped_model_dir


@pytest.fixture(scope="module")
def engine() -> OrtEngine:
    return OrtEngine.load(shipped_model_dir(), device="cpu", intra_op_threads=1)


def test_success_in_both_modes(engine):
    dataset = build_dataset("shapes", engine.resolution, num_images=10, seed=2024)
    x = torch.stack([dataset[i][0] for i in range(len(dataset))])
    catalog, _ = per_image_success(engine, x, top_k=3, batch_size=4)
    image, images = per_image_success(engine, x, top_k=3, batch_size=4, mode=IMAGE,
                                      num_candidates=16)  # fmt: skip
    assert (catalog["mode"], image["mode"]) == (CATALOG, IMAGE)
    assert image["top1"] >= catalog["top1"]
    assert image["mean_top1_gain"] >= catalog["mean_top1_gain"] - 1e-6
    exps = engine.explain(x, top_k=3, mode=IMAGE, num_candidates=16)
    served = [float(e.joint.probs[e.target]) >= SUCCESS_PROBABILITY for e in exps]
    top1 = [float(e.counterfactuals[0].probs[e.target]) >= SUCCESS_PROBABILITY for e in exps]
    assert image["served_joint"] == pytest.approx(np.mean(served))
    assert image["top1"] == pytest.approx(np.mean(top1))
    # The greedy joint starts from the best attribute: it succeeds wherever the top-1 does.
    assert all(s for s, t in zip(served, top1, strict=True) if t)
    torch.testing.assert_close(images["top1"], torch.stack([e.counterfactuals[0].image
                                                              for e in exps]))  # fmt: skip
