"""IMAGE mode's screen prior: how it is measured (`ScreenPrior.from_effects`, `exact_effects`),
which edits it offers an image, its file, its merge with the gradient's screen, and `stylex
screen` writing it into a new model version."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil

import pytest
import torch

from stylex.cli import main
from stylex.explain.search.screen import ScreenPrior, exact_effects
from stylex.explain.single.explainer import merge_screens
from stylex.explain.vocabulary.attributes import Attribute, StyleStats, apply_attributes
from stylex.runtime import OrtEngine
from stylex.runtime.model_dir import ModelDirError, read_model_dir, shipped_model_dir


def _prior(**kw) -> ScreenPrior:
    """Six binary reference images along one coordinate: images 0-2 (class 0) near styles 0,
    images 3-5 (class 1) near styles 10. Toward class 1, (k=3, d=1) is best on images 0 and 1,
    (k=2, d=1) on image 2; toward class 0, (k=4, d=0) on every class-1 image."""
    styles = torch.tensor([[0.0], [1.0], [5.0], [10.0], [11.0], [12.0]]).repeat(1, 5)
    eff = torch.zeros(6, 2, 5, 2)
    eff[[0, 1], 1, 3, 1] = 3.0
    eff[2, 1, 2, 1] = 3.0
    eff[:, 0, 1, 1] = 1.0  # second best toward class 1 everywhere
    eff[3:, 0, 4, 0] = 2.0
    base = torch.tensor([[2.0, -2.0]] * 3 + [[-2.0, 2.0]] * 3)
    return ScreenPrior.from_effects(eff, base, styles, **kw)


def test_the_nearest_reference_images_vote_first():
    prior = _prior(top=1, neighbours=1)
    assert prior.predicted.tolist() == [0, 0, 0, 1, 1, 1]
    assert prior.best[0, 1].tolist() == [1 * 5 + 3]  # flat j = d * S + k
    # Nearest to image 2: its own best first, then what the other class-0 images voted for.
    assert prior.edits(torch.full((5,), 5.0), target=1, count=3) == [(2, 1), (3, 1)]
    assert prior.edits(torch.zeros(5), target=1, count=3) == [(3, 1), (2, 1)]
    # Only images not of the target class vote: toward class 0, the class-1 images.
    assert prior.edits(torch.zeros(5), target=0, count=1) == [(4, 0)]
    # A tie among the nearest goes to the votes of all: image 2's top 2 holds (2, 1) and
    # (1, 0), and every class-0 image has (1, 0) in its top 2.
    prior = _prior(top=2, neighbours=1)
    assert prior.edits(torch.full((5,), 5.0), target=1, count=3) == [(1, 0), (2, 1), (3, 1)]


def test_edits_no_reference_image_found_are_not_offered():
    assert len(_prior(top=1, neighbours=3).edits(torch.zeros(5), target=1, count=10)) == 2


def test_the_prior_file_round_trips_and_bad_files_are_refused():
    prior = _prior()
    back = ScreenPrior.from_bytes(prior.to_bytes(), num_coords=5, num_classes=2)
    assert torch.equal(back.best, prior.best) and torch.equal(back.styles, prior.styles)
    assert back.neighbours == prior.neighbours and back.describe() == prior.describe()
    with pytest.raises(ValueError, match=r"styles \[6, 5\], expected \[N >= 1, 7\]"):
        ScreenPrior.from_bytes(prior.to_bytes(), num_coords=7, num_classes=2)
    with pytest.raises(ValueError, match=r"best \[6, 2, 10\], expected \[6, 3, T >= 1\]"):
        ScreenPrior.from_bytes(prior.to_bytes(), num_coords=5, num_classes=3)
    with pytest.raises(ValueError, match="is not a screen prior"):
        ScreenPrior.from_bytes(b"not a zip", num_coords=5, num_classes=2)
    bad = dataclasses.replace(prior, best=prior.best + 100)
    with pytest.raises(ValueError, match=r"edits outside \[0, 10\)"):
        ScreenPrior.from_bytes(bad.to_bytes(), num_coords=5, num_classes=2)


def test_from_effects_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match=r"\[N, 2, S, C\]"):
        ScreenPrior.from_effects(torch.zeros(2, 2, 3, 2), torch.zeros(3, 2), torch.zeros(2, 3))


def test_exact_effects_match_editing_one_coordinate_at_a_time():
    torch.manual_seed(0)
    weight = torch.randn(4, 3)

    def synthesize_classify(conv, rgb):  # a nonlinear stand-in for G + C
        return conv, torch.tanh(conv) @ weight + rgb.sum(dim=1, keepdim=True)

    conv, rgb = torch.randn(2, 4), torch.randn(2, 2)
    stats = StyleStats.from_styles(torch.randn(10, 4))
    effects, base = exact_effects(synthesize_classify, conv, rgb, stats, shift=0.5, batch_size=3)
    targets = stats.targets()
    for i in range(2):
        for d in range(2):
            for k in range(4):
                edited = conv[i].clone()
                edited[k] += 0.5 * (targets[d, k] - edited[k])
                _, logits = synthesize_classify(edited[None], rgb[i : i + 1])
                assert torch.allclose(effects[i, d, k], (logits - base[i])[0], atol=1e-6)


def _attrs(*keys):
    return [Attribute(k, d) for k, d in keys]


def test_merge_screens_gives_half_to_the_gradient_and_half_to_the_prior():
    first_order = _attrs((0, 1), (1, 1), (2, 1), (3, 1))
    prior = _attrs((1, 1), (9, 0), (8, 0), (7, 0))
    merged = merge_screens(first_order, prior, 4)
    assert [a.key for a in merged] == [(0, 1), (1, 1), (9, 0), (8, 0)]  # (1, 1) not twice


def test_merge_screens_fills_from_the_gradient_when_the_prior_runs_out():
    first_order = _attrs((0, 1), (1, 1), (2, 1), (3, 1))
    assert [a.key for a in merge_screens(first_order, _attrs((9, 0)), 4)] == [
        (0, 1), (1, 1), (9, 0), (2, 1)
    ]  # fmt: skip
    assert merge_screens(first_order, [], 3) == first_order[:3]


@pytest.fixture()
def model_copy(tmp_path):
    folder = tmp_path / "store" / "shapes32" / "1"
    shutil.copytree(shipped_model_dir(), folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["version"] = "1"
    for key in ("screen", "screened_from", "labelled_from"):  # as a model without a prior
        manifest.pop(key, None)
    manifest["files"].pop("screen.npz", None)
    (folder / "screen.npz").unlink(missing_ok=True)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def test_stylex_screen_writes_a_new_version_with_the_prior(model_copy, capsys):
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in model_copy.iterdir()}
    assert main(["prior", str(model_copy), "--num-images", "3", "--no-progress"]) == 0
    out = json.loads(capsys.readouterr().out)
    new = model_copy.parent / "2"
    assert out["written"] == str(new) and out["num_images"] == 3
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in model_copy.iterdir()}
    assert after == before  # the old version is never rewritten
    model = read_model_dir(new)
    assert model.manifest["screened_from"]["version"] == "1"
    assert "labelled_from" not in model.manifest
    assert (
        model.manifest["screen"]["file"] == "screen.npz" and "screen.npz" in model.manifest["files"]
    )
    assert model.manifest["screen"]["num_images"] == 3 and model.manifest["screen"]["seed"] == 1000
    assert model.screen is not None and model.screen.styles.shape == (3, 416)
    # Every reference image keeps its best edits toward both classes.
    assert model.screen.best.shape[:2] == (3, 2)
    assert OrtEngine.load(new, device="cpu").screen_prior is not None


def test_a_tampered_prior_fails_the_model_load(model_copy, tmp_path):
    assert main(["screen", str(model_copy), "--num-images", "2", "--no-progress"]) == 0
    new = model_copy.parent / "2"
    (new / "screen.npz").write_bytes(b"x" * (new / "screen.npz").stat().st_size)
    with pytest.raises(ModelDirError, match="does not match its manifest sha256"):
        read_model_dir(new)


def test_image_mode_evaluates_the_prior_edits(model_copy):
    """An edit that only the prior names is applied and classified exactly in IMAGE mode, in
    place of one of the gradient's, so the number of exact evaluations stays the same. (The
    catalog's edits, always candidates too, are left out: one of them may coincide with a
    gradient candidate that the prior's edit displaces, which adds an evaluation.)"""
    x = torch.zeros(1, 3, 32, 32)
    engine = OrtEngine.load(model_copy, device="cpu")
    engine.catalog = dataclasses.replace(
        engine.catalog, classes={name: [] for name in engine.catalog.classes}
    )
    evaluated = []
    synthesize_classify = engine.synthesize_classify

    def recording(conv, rgb):
        evaluated.append(conv.clone())
        return synthesize_classify(conv, rgb)

    engine.synthesize_classify = recording
    engine.explain(x, top_k=4, mode="image", num_candidates=8, target="light_bg")
    rows_plain = torch.cat(evaluated)
    conv, _ = engine.encode_styles(x, torch.softmax(engine.classify(x), dim=1))

    def was_evaluated(rows, key):
        edited = apply_attributes(conv, engine.catalog.stats, [key])
        return bool(((rows - edited).abs().amax(dim=1) < 1e-6).any())

    outsider = next(
        (k, d) for k in range(416) for d in (0, 1) if not was_evaluated(rows_plain, (k, d))
    )
    light = engine.class_names.index("light_bg")
    best = torch.full((1, 2, 1), outsider[1] * 416 + outsider[0])
    engine.screen_prior = ScreenPrior(conv, torch.ones(416), torch.tensor([1 - light]), best)
    evaluated.clear()
    engine.explain(x, top_k=4, mode="image", num_candidates=8, target="light_bg")
    rows_prior = torch.cat(evaluated)
    assert was_evaluated(rows_prior, outsider)
    assert rows_prior.shape == rows_plain.shape
