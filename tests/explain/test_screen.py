"""IMAGE mode's screen prior: how it is measured (`screen_order`, `exact_effects`), stored (the
catalog's "screen"), merged with the gradient's screen, and written into a new model version
(`stylex screen`)."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest
import torch

from stylex.cli import main
from stylex.errors import CheckpointError
from stylex.explain.attributes import Attribute, StyleStats, apply_attributes
from stylex.explain.catalog import AttributeCatalog
from stylex.explain.explainer import merge_screens
from stylex.explain.screen import exact_effects, screen_order
from stylex.runtime import OrtEngine
from stylex.runtime.model_dir import read_model_dir, shipped_model_dir


def _effects(num_images=6, num_coords=5):
    """Binary effects where edit (k=3, d=1) raises class 1 most on every image, (k=1, d=0) is
    second, and class 0 is raised most by (k=2, d=0)."""
    eff = torch.zeros(num_images, 2, num_coords, 2)
    eff[:, 1, 3, 1] = 3.0
    eff[:, 0, 1, 1] = 1.0
    eff[:, 0, 2, 0] = 2.0
    return eff


def test_screen_order_ranks_by_votes_among_the_other_class():
    eff = _effects()
    base = torch.tensor([[2.0, -2.0]] * 3 + [[-2.0, 2.0]] * 3)  # 3 images of each class
    order = screen_order(eff, base, base.argmax(dim=1), top=2)
    assert order[1][:2] == [(3, 1), (1, 0)]
    assert order[0][0] == (2, 0)
    # Edits that never raise the class are not kept at all.
    assert (0, 0) not in order[1] and len(order[1]) == 2


def test_screen_order_counts_only_images_not_of_the_class():
    eff = _effects()
    # The images already of class 1 would vote for (k=4, d=1); they must not count.
    eff[3:, 1, 4, 1] = 9.0
    base = torch.tensor([[2.0, -2.0]] * 3 + [[-2.0, 2.0]] * 3)
    order = screen_order(eff, base, base.argmax(dim=1), top=1)
    assert order[1][0] == (3, 1)


def test_screen_order_breaks_vote_ties_by_the_mean_rise():
    eff = torch.zeros(2, 2, 3, 2)
    eff[0, 1, 0, 1], eff[1, 1, 1, 1] = 1.0, 4.0  # one vote each; (1, 1) rises more
    base = torch.tensor([[1.0, -1.0], [1.0, -1.0]])
    assert screen_order(eff, base, base.argmax(dim=1), top=1)[1][:2] == [(1, 1), (0, 1)]


def test_screen_order_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match=r"\[N, 2, S, C\]"):
        screen_order(torch.zeros(2, 2, 3, 2), torch.zeros(3, 2), torch.zeros(2))


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


def test_catalog_keeps_its_screen_through_json_and_reads_old_catalogs():
    catalog = read_model_dir(shipped_model_dir()).catalog
    data = catalog.to_json()
    data["screen"] = {"red": [[5, 1], [7, 0]]}
    back = AttributeCatalog.from_json(data)
    assert back.screen == {"red": [(5, 1), (7, 0)]}
    assert [(a.key, a.layer) for a in back.screen_for("red")] == [
        ((5, 1), catalog.style_layout.locate(5)[0]), ((7, 0), catalog.style_layout.locate(7)[0])
    ]  # fmt: skip
    assert back.screen_for("not_red") == []
    assert AttributeCatalog.from_json(back.to_json()).screen == back.screen
    del data["screen"]
    assert AttributeCatalog.from_json(data).screen == {}


@pytest.mark.parametrize(
    "screen, message",
    [
        ({"blue": [[1, 0]]}, "class 'blue'"),
        ({"red": [[1, 2]]}, r"\[1, 2\] is not"),
        ({"red": [[100000, 0]]}, r"index in \[0, 416\)"),
        ({"red": [["1", 0]]}, "is not"),
        ([[1, 0]], "screen is a list"),
    ],
)
def test_a_malformed_screen_is_refused_by_name(screen, message):
    data = read_model_dir(shipped_model_dir()).catalog.to_json()
    data["screen"] = screen
    with pytest.raises(CheckpointError, match=message):
        AttributeCatalog.from_json(data, "m.json")


@pytest.fixture()
def model_copy(tmp_path):
    folder = tmp_path / "store" / "shapes32" / "1"
    shutil.copytree(shipped_model_dir(), folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["version"] = "1"
    manifest["catalog"].pop("screen", None)  # as a model exported before the prior existed
    for record in ("screened_from", "labelled_from"):
        manifest.pop(record, None)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def test_stylex_screen_writes_a_new_version_with_the_prior(model_copy, capsys):
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in model_copy.iterdir()}
    assert main(["screen", str(model_copy), "--num-images", "3", "--no-progress"]) == 0
    out = json.loads(capsys.readouterr().out)
    new = model_copy.parent / "2"
    assert out["written"] == str(new) and out["images"] == 3
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in model_copy.iterdir()}
    assert after == before  # the old version is never rewritten
    model = read_model_dir(new)
    assert model.manifest["screened_from"]["version"] == "1"
    assert "labelled_from" not in model.manifest
    assert set(model.catalog.screen) == {"not_red", "red"}
    assert all(model.catalog.screen.values())
    # The two directions of one coordinate are different edits; each class holds its own.
    red = model.catalog.screen_for("red")
    assert len({a.key for a in red}) == len(red)


def test_image_mode_evaluates_the_prior_edits(model_copy):
    """An edit that only the prior names is applied and classified exactly in IMAGE mode, in
    place of one of the gradient's, so the number of exact evaluations stays the same."""
    x = torch.zeros(1, 3, 32, 32)
    engine = OrtEngine.load(model_copy, device="cpu")
    evaluated = []
    synthesize_classify = engine.synthesize_classify

    def recording(conv, rgb):
        evaluated.append(conv.clone())
        return synthesize_classify(conv, rgb)

    engine.synthesize_classify = recording
    engine.explain(x, top_k=4, mode="image", num_candidates=8, target="red")
    rows_plain = torch.cat(evaluated)
    conv, _ = engine.encode_styles(x, torch.softmax(engine.classify(x), dim=1))

    def was_evaluated(rows, key):
        edited = apply_attributes(conv, engine.catalog.stats, [key])
        return bool(((rows - edited).abs().amax(dim=1) < 1e-6).any())

    outsider = next(
        (k, d) for k in range(416) for d in (0, 1) if not was_evaluated(rows_plain, (k, d))
    )
    engine.catalog.screen = {"red": [outsider]}
    evaluated.clear()
    engine.explain(x, top_k=4, mode="image", num_candidates=8, target="red")
    rows_prior = torch.cat(evaluated)
    assert was_evaluated(rows_prior, outsider)
    assert rows_prior.shape == rows_plain.shape
