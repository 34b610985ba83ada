"""The shipped default model: complete, verified, small enough, and its card quotes its metrics."""

from __future__ import annotations

import json

from stylex.runtime import read_model_dir
from stylex.runtime.model_dir import shipped_model_dir

SHIPPED = shipped_model_dir()

MAX_BYTES = 25 * 1000 * 1000


def test_shipped_model_is_verified_with_an_accepted_fp16_variant():
    model = read_model_dir(SHIPPED)
    assert model.class_names == ["not_red", "red"] and model.resolution == 32
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


def test_the_default_model_is_the_shipped_one_unless_the_environment_names_another(
    monkeypatch, tmp_path
):
    from stylex.runtime.model_dir import default_model_dir

    monkeypatch.delenv("STYLEX_MODEL_DIR", raising=False)
    assert default_model_dir() == SHIPPED
    # A source checkout: the repository's model_store, read in place.
    assert SHIPPED.parts[-3:] == ("model_store", "shapes32", "6")
    assert (SHIPPED / "manifest.json").is_file()
    monkeypatch.setenv("STYLEX_MODEL_DIR", str(tmp_path))
    assert default_model_dir() == tmp_path


def test_shipped_manifest_carries_no_local_path():
    from tests.export.model_fixtures import absolute_paths

    manifest = json.loads((SHIPPED / "manifest.json").read_text())
    assert absolute_paths(manifest) == []
    assert manifest["classifier"]["file"] == "classifier.pt"


def test_shipped_model_is_the_stylespace_conditioned_recipe_with_its_prior_and_names():
    """v6 (as v5): the cpu32 recipe (p reaches StyleSpace only), AttFind's screen prior of 250
    images, and the catalog's one edit per class on the coordinate that carries the decision."""
    model = read_model_dir(SHIPPED)
    arch = model.manifest["provenance"]["arch"]
    assert arch["conditioned_styles"] == "conv" and arch["synthesis_input"] == "fourier"
    assert model.manifest["provenance"]["data"]["pose"] == "aligned"
    assert model.screen is not None and model.screen.describe()["num_images"] == 250
    metrics = json.loads((SHIPPED / "evaluation.json").read_text())
    red, not_red = model.catalog.for_class("red"), model.catalog.for_class("not_red")
    assert [a.index for a in red] == [a.index for a in not_red]  # one coordinate, two ends
    assert red[0].label == "hue toward red"
    assert metrics["alignment"]["attfind_factors"][0]["factor"] == "hue"
