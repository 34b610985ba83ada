"""IMAGE mode on the torch engine of a run: the same screen-then-exact search as ONNX Runtime."""

from __future__ import annotations

import pytest
import torch

from stylex.data import build_dataset
from stylex.explain.context import stack_images
from stylex.explain.single.options import IMAGE
from stylex.explain.vocabulary.attributes import apply_attributes
from stylex.models import Styles
from stylex.runtime import TorchEngine
from tests.export.model_fixtures import attfind_run


@pytest.fixture(scope="module")
def engine(trained_run, tmp_path_factory) -> TorchEngine:
    return TorchEngine.from_run(attfind_run(trained_run, tmp_path_factory.mktemp("image")))


def test_torch_image_mode_is_exact_and_bounded_by_the_exhaustive_search(engine):
    x = stack_images(build_dataset("shapes", engine.resolution, num_images=2, seed=99))
    opts = engine.options(top_k=2, mode="image", num_candidates=16)
    exps = engine.explain_batch(list(x), opts)
    exhaustive = engine.explain_batch(list(x), engine.options(top_k=2, exhaustive=True))
    for img, exp, exh in zip(x, exps, exhaustive, strict=True):
        assert exp.mode == IMAGE and len(exp.counterfactuals) == 2
        # The exhaustive search sees every edit exactly: nothing screened beats it.
        assert exh.counterfactuals[0].effect >= exp.counterfactuals[0].effect - 1e-6
        with torch.no_grad():
            p = torch.softmax(engine.C(img[None]), dim=1)
            styles = engine.G.styles(engine.E(img[None]), p)
            for cf in exp.counterfactuals:
                conv = apply_attributes(styles.conv, engine.catalog.stats, [cf.attribute])
                probs = torch.softmax(engine.C(engine.G.synthesize(Styles(conv, styles.rgb))), 1)
                torch.testing.assert_close(cf.probs, probs[0], atol=1e-5, rtol=1e-4)
        assert exp.joint is not None and exp.joint.attributes[0] == exp.counterfactuals[0].attribute


def test_torch_gradient_matches_finite_differences(engine):
    x = stack_images(build_dataset("shapes", engine.resolution, num_images=1, seed=5))
    with torch.no_grad():
        conv, rgb = engine.encode_styles(x, torch.softmax(engine.classify(x), 1))
    grad = engine.log_prob_gradient(conv, rgb, torch.tensor([1]))
    h = 1e-2
    for k in grad[0].abs().topk(3).indices.tolist():
        logp = []
        for sign in (1, -1):
            edited = conv.clone()
            edited[0, k] += sign * h
            _, logits = engine.synthesize_classify(edited, rgb)
            logp.append(float(torch.log_softmax(logits.double(), 1)[0, 1]))
        numeric = (logp[0] - logp[1]) / (2 * h)
        assert float(grad[0, k]) == pytest.approx(numeric, rel=0.05, abs=1e-3)
