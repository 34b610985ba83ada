"""IMAGE mode on the served ONNX Runtime engine: the screen's gradient, the exact evaluation of
its candidates, the joint counterfactual, per-item errors, and the model's defaults."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from stylex.data import build_dataset
from stylex.errors import InvalidArgumentError
from stylex.explain.context import stack_images
from stylex.explain.single.explainer import rank_counterfactuals, screen_candidates
from stylex.explain.single.explanation import Explanation
from stylex.explain.single.options import CATALOG, IMAGE, ExplainOptions
from stylex.explain.vocabulary.attributes import Attribute, apply_attributes
from stylex.runtime import OrtEngine
from stylex.runtime.model_dir import ModelDirError, shipped_model_dir


@pytest.fixture(scope="module")
def engine() -> OrtEngine:
    return OrtEngine.load(shipped_model_dir(), device="cpu", intra_op_threads=1)


@pytest.fixture(scope="module")
def images(engine) -> torch.Tensor:
    return stack_images(build_dataset("shapes", engine.resolution, num_images=4, seed=1313))


def _styles(engine, x):
    probs = torch.softmax(engine.classify(x), dim=1)
    return engine.encode_styles(x, probs)


def _log_p(engine, conv, rgb, target: int) -> torch.Tensor:
    _, logits = engine.synthesize_classify(conv, rgb)
    return torch.log_softmax(logits.double(), dim=1)[:, target]


def test_screen_gradient_matches_finite_differences(engine, images):
    """The torch copy of the graphs differentiates what ONNX Runtime computes."""
    conv, rgb = _styles(engine, images[:2])
    targets = torch.tensor([1, 0])
    grad = engine.log_prob_gradient(conv, rgb, targets)
    assert grad.shape == conv.shape and bool(torch.isfinite(grad).all())
    # On v7 the central difference of b16.conv0 ch 37 (gradient 0.230) reads 0.255, 0.214,
    # 0.219, 0.222 at steps 1e-2, 3e-3, 1e-3, 3e-4 (the curvature, then float32 noise): 10 % is
    # what a finite difference can tell here, and a miswired gradient (wrong sign, wrong
    # coordinate, a missing factor) is off by far more.
    h = 1e-3
    for i, target in enumerate(targets.tolist()):
        for k in grad[i].abs().topk(3).indices.tolist():  # the coordinates that matter most
            up, down = conv[i : i + 1].clone(), conv[i : i + 1].clone()
            up[0, k] += h
            down[0, k] -= h
            numeric = (_log_p(engine, up, rgb[i : i + 1], target)
                       - _log_p(engine, down, rgb[i : i + 1], target)) / (2 * h)  # fmt: skip
            assert float(grad[i, k]) == pytest.approx(float(numeric), rel=0.1, abs=1e-3)


def test_screen_keeps_the_largest_first_order_gains(engine, images):
    conv, rgb = _styles(engine, images[:1])
    grad = engine.log_prob_gradient(conv, rgb, torch.tensor([1]))
    (found,) = screen_candidates(grad, conv, engine.catalog.stats, [7], engine.catalog.style_layout)
    targets = engine.catalog.stats.targets()
    gains = grad[0, None] * (targets - conv[0, None])  # [2, S]
    assert len(found) == 7 and len({a.key for a in found}) == 7
    got = [float(gains[a.direction, a.index]) for a in found]
    assert got == sorted(got, reverse=True)
    assert got[-1] >= float(gains.flatten().topk(7).values[-1]) - 1e-7
    layer, channel = engine.catalog.style_layout.locate(found[0].index)
    assert (found[0].layer, found[0].channel) == (layer, channel)


def test_image_mode_is_exact_and_never_worse_than_the_catalog(engine, images):
    opts_image = engine.options(top_k=3, target="light_bg", mode="image", num_candidates=12)
    opts_catalog = engine.options(top_k=3, target="light_bg")
    image_exps = engine.explain_batch(list(images), opts_image)
    catalog_exps = engine.explain_batch(list(images), opts_catalog)
    for img, exp, cat in zip(images, image_exps, catalog_exps, strict=True):
        assert isinstance(exp, Explanation) and exp.mode == IMAGE and cat.mode == CATALOG
        assert len(exp.counterfactuals) == 3
        effects = [cf.effect for cf in exp.counterfactuals]
        assert effects == sorted(effects, reverse=True)
        # The catalog's attributes are candidates too: the best edit is at least as good.
        assert effects[0] >= cat.counterfactuals[0].effect - 1e-6
        conv, rgb = _styles(engine, img[None])
        for cf in exp.counterfactuals:  # each counterfactual is what the model really gives
            edited = apply_attributes(conv, engine.catalog.stats, [cf.attribute])
            _, logits = engine.synthesize_classify(edited, rgb)
            torch.testing.assert_close(cf.probs, torch.softmax(logits, 1)[0], atol=1e-5, rtol=0)


def test_all_candidates_is_the_exhaustive_exact_search(engine, images):
    """num_candidates = 2 * S evaluates every edit: the top 3 equal a brute-force ranking."""
    x = images[1]
    num_coords = engine.catalog.stats.s_min.numel()
    opts = ExplainOptions(top_k=3, target=1, mode=IMAGE, num_candidates=2 * num_coords)
    (exp,) = engine.explain_batch([x], opts)
    conv, rgb = _styles(engine, x[None])
    _, logits_rec = engine.synthesize_classify(conv, rgb)
    layout = engine.catalog.style_layout
    every = [Attribute.at(layout, k, d) for d in (0, 1) for k in range(num_coords)]
    (ranked,) = rank_counterfactuals(
        engine.synthesize_classify, conv, rgb, [every], [1], torch.softmax(logits_rec, 1),
        engine.catalog.stats, [1.0], 64,
    )  # fmt: skip
    assert [cf.attribute.key for cf in exp.counterfactuals] == [
        cf.attribute.key for cf in ranked[:3]
    ]


def test_joint_counterfactual_is_the_attributes_applied_together(engine, images):
    exps = engine.explain_batch(list(images), engine.options(top_k=4, mode="image"))
    for x, exp in zip(images, exps, strict=True):
        joint = exp.joint
        assert joint is not None
        keys = [cf.attribute.key for cf in exp.counterfactuals]
        joined = [a.key for a in joint.attributes]
        assert joined[0] == keys[0] and all(k in keys for k in joined)
        assert [keys.index(k) for k in joined] == sorted(keys.index(k) for k in joined)
        # Built greedily from the best one: never below the best attribute alone.
        target = exp.target
        assert float(joint.probs[target]) >= float(exp.counterfactuals[0].probs[target]) - 1e-6
        conv, rgb = _styles(engine, x[None])
        edited = apply_attributes(conv, engine.catalog.stats, joint.attributes)
        image, logits = engine.synthesize_classify(edited, rgb)
        probs = torch.softmax(logits, 1)[0]
        torch.testing.assert_close(joint.probs, probs, atol=1e-5, rtol=0)
        torch.testing.assert_close(joint.image, image[0], atol=1e-5, rtol=0)
        assert joint.effect == pytest.approx(
            float(probs[target] - exp.probs_reconstruction[target]), abs=1e-5
        )
        assert joint.flips == (int(probs.argmax()) != exp.predicted)


def test_mixed_modes_in_one_batch_equal_each_alone(engine, images):
    options = [
        engine.options(top_k=2, mode="image", num_candidates=8),
        engine.options(top_k=2, mode="catalog"),
        engine.options(top_k=3, mode="image", num_candidates=16, target="predicted"),
    ]
    bad = torch.full_like(images[0], float("nan"))
    batch = [images[0], images[1], bad, images[2]]
    out = engine.explain_batch(batch, [options[0], options[1], options[0], options[2]])
    assert isinstance(out[2], InvalidArgumentError) and "NaN" in str(out[2])
    for got, x, opts in zip([out[0], out[1], out[3]], [images[0], images[1], images[2]], options,
                            strict=True):  # fmt: skip
        (alone,) = engine.explain_batch([x], opts)
        assert got.mode == alone.mode == opts.mode
        assert [cf.attribute.key for cf in got.counterfactuals] == [
            cf.attribute.key for cf in alone.counterfactuals
        ]
        for a, b in zip(got.counterfactuals, alone.counterfactuals, strict=True):
            assert a.effect == pytest.approx(b.effect, abs=1e-5)


def test_num_candidates_within_the_cap(engine):
    assert engine.options().mode == CATALOG  # the shipped model's default
    assert engine.options(mode="IMAGE").num_candidates == engine.default_candidates
    with pytest.raises(InvalidArgumentError, match=r"num_candidates 100000 out of range \[1, "):
        engine.options(mode="image", num_candidates=100000)
    with pytest.raises(InvalidArgumentError, match=r"mode 'pixels' unknown"):
        engine.options(mode="pixels")
    # Options, the transports and the server settings share one rule: any case, named in full.
    assert ExplainOptions(mode="IMAGE").mode == IMAGE
    for bad in ("", "img", None):
        with pytest.raises(InvalidArgumentError, match=r"unknown; expected one of \['catalog'"):
            ExplainOptions(mode=bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="num_candidates 'many' is not an integer"):
        engine.options(num_candidates="many")
    # The library call meets the same cap as a request.
    with pytest.raises(InvalidArgumentError, match=r"num_candidates 100000 out of range \[1, "):
        engine.explain(torch.zeros(1, 3, 32, 32), mode="image", num_candidates=100000)


def _model_copy(tmp_path, explain: object):
    folder = tmp_path / "model"
    shutil.copytree(shipped_model_dir(), folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["explain"] = explain
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def test_the_model_manifest_sets_the_defaults(tmp_path, images):
    folder = _model_copy(tmp_path, {"mode": "image", "num_candidates": 6, "max_candidates": 10})
    engine = OrtEngine.load(folder, device="cpu", intra_op_threads=1)
    opts = engine.options()
    assert (opts.mode, opts.num_candidates) == (IMAGE, 6)
    (exp,) = engine.explain_batch([images[0]], opts)
    assert exp.mode == IMAGE
    with pytest.raises(InvalidArgumentError, match=r"num_candidates 11 out of range \[1, 10\]"):
        engine.options(num_candidates=11)


@pytest.mark.parametrize(
    ("explain", "fragment"),
    [
        ({"mode": "pixels"}, "mode 'pixels' unknown"),
        ({"num_candidates": 0}, "num_candidates 0: expected an integer >= 1"),
        ({"num_candidates": 20, "max_candidates": 10}, "exceeds max_candidates 10"),
        ("image", "expected an object"),
    ],
)
def test_a_bad_explain_section_fails_the_load(tmp_path, explain, fragment):
    folder = _model_copy(tmp_path, explain)
    with pytest.raises(ModelDirError, match=fragment):
        OrtEngine.load(folder, device="cpu", intra_op_threads=1)


def test_a_backend_without_a_gradient_refuses_image_mode_per_item(engine, images):
    from stylex.explain.single.explainer import explain_batch

    opts = [engine.options(mode="image"), engine.options(mode="catalog")]
    out = explain_batch(engine, engine.catalog, [images[0], images[1]], opts, resolution=32)
    assert isinstance(out[0], InvalidArgumentError)
    assert "cannot screen an image's own coordinates (mode 'image')" in str(out[0])
    assert isinstance(out[1], Explanation) and out[1].mode == CATALOG


def test_server_overrides_are_checked_like_the_manifest():
    engine = OrtEngine.load(shipped_model_dir(), device="cpu", intra_op_threads=1,
                            explain={"num_candidates": 64})  # fmt: skip
    assert (engine.default_candidates, engine.max_candidates) == (64, 256)
    with pytest.raises(ModelDirError, match=r"with the server's \['num_candidates'\]"):
        OrtEngine.load(shipped_model_dir(), device="cpu", explain={"num_candidates": 300})


def test_fp16_image_mode_screens_what_fp32_screens(engine, images):
    """The fp16 variant's gradient toward each image's other class (where the screen looks)
    within 10% of fp32's, and its screen keeps the same edits. (Toward the predicted class the
    gradient is ~1e-5 at a saturated softmax, and fp16 rounding is all there is to it.)"""
    fp16 = OrtEngine.load(shipped_model_dir(), device="cpu", intra_op_threads=1, precision="fp16")
    assert fp16.precision == "fp16"
    conv, rgb = _styles(engine, images)
    targets = 1 - torch.softmax(engine.classify(images), 1).argmax(1)
    g32 = engine.log_prob_gradient(conv, rgb, targets)
    g16 = fp16.log_prob_gradient(conv, rgb, targets)
    relative = (g16 - g32).norm(dim=1) / g32.norm(dim=1)
    assert float(relative.max()) < 0.1, relative
    stats, layout = engine.catalog.stats, engine.catalog.style_layout
    counts = [16] * len(images)
    for a, b in zip(screen_candidates(g32, conv, stats, counts, layout),
                    screen_candidates(g16, conv, stats, counts, layout), strict=True):  # fmt: skip
        assert len({x.key for x in a} & {x.key for x in b}) >= 14
