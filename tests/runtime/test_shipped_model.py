"""The shipped default model: complete, verified, small enough, and its card quotes its metrics."""

from __future__ import annotations

import json

from stylex.runtime import read_model_dir
from stylex.runtime.model_dir import shipped_model_dir

SHIPPED = shipped_model_dir()

MAX_BYTES = 25 * 1000 * 1000


def test_shipped_model_is_verified_with_an_accepted_fp16_variant():
    model = read_model_dir(SHIPPED)
    assert model.class_names == ["dark_bg", "light_bg"] and model.resolution == 32
    assert model.precisions == ["fp32", "fp16"]
    assert model.manifest["variants"]["fp16"]["check"]["accepted"]
    assert read_model_dir(SHIPPED, "fp16").precision == "fp16"
    assert len(model.catalog.for_class(0)) > 0 and len(model.catalog.for_class(1)) > 0


def test_shipped_model_is_under_25_mb():
    total = sum(p.stat().st_size for p in SHIPPED.iterdir())
    assert total < MAX_BYTES, total


def test_model_card_quotes_the_evaluation():
    card = (SHIPPED / "MODEL_CARD.md").read_text()
    metrics = json.loads((SHIPPED / "evaluation.json").read_text())
    manifest = json.loads((SHIPPED / "manifest.json").read_text())
    assert metrics["run_step"] == manifest["provenance"]["step"]
    assert f"**{metrics['fidelity']['agreement']:.3f}**" in card
    flips = metrics["flip_rate"]["attfind"]
    assert f"{flips['1']:.3f} / **{flips['5']:.3f}** / {flips['10']:.3f}" in card
    for method in ("wu", "random"):
        f = metrics["flip_rate"][method]
        assert f"{f['1']:.3f} / {f['5']:.3f} / {f['10']:.3f}" in card
    assert f"{metrics['fidelity']['l1']:.3f} / {metrics['fidelity']['perceptual']:.3f}" in card
    rec = metrics["faithfulness"]["reconstruction"]
    assert f"**{rec['shape_acc']:.3f}**" in card and f"**{rec['stripes_acc']:.3f}**" in card
    assert f"**{rec['size_mae']:.3f}**" in card and f"**{rec['hue_err_turns']:.3f}**" in card
    assert f"**{metrics['minimality']['top1']['only_rule_share']:.3f}**" in card
    assert f"| {metrics['per_image_success']['top1']:.2f} |" in card


def test_the_default_model_is_the_shipped_one_unless_the_environment_names_another(
    monkeypatch, tmp_path
):
    from stylex.runtime.model_dir import default_model_dir

    monkeypatch.delenv("STYLEX_MODEL_DIR", raising=False)
    assert default_model_dir() == SHIPPED
    # A source checkout: the repository's model_store, read in place.
    assert SHIPPED.parts[-3:] == ("model_store", "shapes32", "7")
    assert (SHIPPED / "manifest.json").is_file()
    monkeypatch.setenv("STYLEX_MODEL_DIR", str(tmp_path))
    assert default_model_dir() == tmp_path


def test_shipped_manifest_carries_no_local_path():
    from tests.export.model_fixtures import absolute_paths

    manifest = json.loads((SHIPPED / "manifest.json").read_text())
    assert absolute_paths(manifest) == []
    assert manifest["classifier"]["file"] == "classifier.pt"


def test_shipped_model_is_the_stylespace_conditioned_recipe_with_its_prior_and_names():
    """v7: the cpu32 recipe (p reaches StyleSpace only) on `bg>0.3`, its classes renamed to the
    `light_bg` rule's names; AttFind's screen prior of 250 images; the catalog's first edit of
    each class changes the background, and the names are the ones evaluate suggested."""
    from stylex.data.shape_rules import RULES

    model = read_model_dir(SHIPPED)
    manifest = model.manifest
    arch = manifest["provenance"]["arch"]
    assert arch["conditioned_styles"] == "conv" and arch["synthesis_input"] == "fourier"
    data = manifest["provenance"]["data"]
    assert data["pose"] == "aligned" and data["rule"] == "bg>0.3"
    assert data["class_names"] == ["false", "true"]  # what the training data called them
    assert manifest["renamed_classes"] == {"false": "dark_bg", "true": "light_bg"}
    assert model.class_names == RULES["light_bg"].class_names
    assert RULES["light_bg"].definition == "bg > 0.3"
    assert model.screen is not None and model.screen.describe()["num_images"] == 250
    metrics = json.loads((SHIPPED / "evaluation.json").read_text())
    assert metrics["alignment"]["attfind_factors"][0]["factor"] == "bg"
    dark, light = model.catalog.for_class("dark_bg"), model.catalog.for_class("light_bg")
    assert [a.index for a in dark] == [a.index for a in light]  # each coordinate, two ends
    assert dark[0].label == "darker background" and light[0].label == "lighter background"
