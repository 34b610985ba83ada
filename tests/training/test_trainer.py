"""Training on CPU: short seeded runs on 16 px shapes with a session-trained classifier."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from stylex.errors import CheckpointError
from stylex.rundir import latest_checkpoint
from stylex.training.config import resolve_config
from stylex.training.trainer import train
from tests.conftest import TEST_RESOLUTION


def tiny(classifier: Path, **overrides) -> object:
    base = {
        "resolution": TEST_RESOLUTION,
        "num_images": 256,
        "classifier": str(classifier),
        "batch_size": 8,
        "log_every": 1,
        "sample_every": 1000,
        "checkpoint_every": 1000,
    }
    base.update(overrides)
    return resolve_config("tiny", {k: str(v) for k, v in base.items()})


def weights(ckpt: Path, name: str) -> dict[str, torch.Tensor]:
    return load_file(str(ckpt / f"{name}.safetensors"))


def assert_same_weights(
    a: Path, b: Path, names=("G", "G_ema", "E", "D"), atol=0.0, skip: str | None = None
) -> None:
    for name in names:
        wa, wb = weights(a, name), weights(b, name)
        assert wa.keys() == wb.keys()
        for key in wa:
            if skip is not None and skip in key:
                continue
            torch.testing.assert_close(wa[key], wb[key], rtol=0, atol=atol, msg=f"{name}.{key}")


def test_resume_continues_exactly(tmp_path, shapes_classifier):
    cfg = tiny(shapes_classifier, steps=6)
    train(cfg, tmp_path / "straight", progress=False)
    train(cfg, tmp_path / "split", progress=False, stop_at=3)
    assert latest_checkpoint(tmp_path / "split").name == "step-000003"
    train(cfg, tmp_path / "split", progress=False, resume=True)
    a, b = latest_checkpoint(tmp_path / "straight"), latest_checkpoint(tmp_path / "split")
    assert a.name == b.name == "step-000006"
    assert_same_weights(a, b)
    rows = (tmp_path / "split" / "log.csv").read_text().strip().splitlines()
    assert [int(r.split(",")[0]) for r in rows[1:]] == [1, 2, 3, 4, 5, 6]


def test_gradient_accumulation_trains_the_same_step(tmp_path, shapes_classifier):
    # Step 0 runs D, R1 and an encoder step; noise strengths start at 0, so the one-step
    # result of batch 8 must equal two accumulated micro-batches of 4. The noise strengths'
    # own gradients depend on the noise drawn, which differs between the two splits, and
    # Adam's first step moves a weight by about lr whatever its gradient's size: skip them.
    # The same first step amplifies float rounding in tiny gradients (measured up to 3e-5);
    # an accumulation bug (a missing 1/rounds scale, a lost micro-batch) moves weights ~lr.
    train(tiny(shapes_classifier, steps=1), tmp_path / "full", progress=False)
    train(tiny(shapes_classifier, steps=1, accum_steps=2), tmp_path / "accum", progress=False)
    assert_same_weights(
        latest_checkpoint(tmp_path / "full"),
        latest_checkpoint(tmp_path / "accum"),
        atol=1e-4,
        skip="noise_strength",
    )


def test_encoder_trains_on_encoder_steps_only_even_without_accumulation(
    tmp_path, shapes_classifier
):
    run = tmp_path / "run"
    cfg = tiny(shapes_classifier, steps=3, checkpoint_every=1, keep_checkpoints=10)
    train(cfg, run, progress=False)
    ckpts = {p.name: p for p in (run / "checkpoints").glob("step-*")}
    e1, e2, e3 = (weights(ckpts[f"step-00000{i}"], "E") for i in (1, 2, 3))
    g1, g2 = weights(ckpts["step-000001"], "G"), weights(ckpts["step-000002"], "G")
    # step index 1 is a random-z step: E untouched, G trained; step index 2 trains E again.
    assert all(torch.equal(e1[k], e2[k]) for k in e1)
    assert any(not torch.equal(e2[k], e3[k]) for k in e2)
    assert any(not torch.equal(g1[k], g2[k]) for k in g1)
    state = json.loads((ckpts["step-000003"] / "state.json").read_text())
    assert state["kind_counts"] == {"encoder": 2, "random": 1}


@pytest.mark.slow
def test_short_run_lowers_reconstruction_and_classifier_losses(tmp_path, shapes_classifier):
    cfg = tiny(shapes_classifier, steps=200, batch_size=16, log_every=20, sample_every=200)
    result = train(cfg, tmp_path / "run", progress=False)
    first = result.history[0]
    # Mean of the last two logged windows (40 steps): single windows are noisy.
    last = {k: (result.history[-1][k] + result.history[-2][k]) / 2 for k in ("rec_l1", "cls_kl")}
    # Seen on CPU: rec_l1 0.59 -> 0.33, cls_kl 0.87 -> 0.04 over 240 steps.
    assert last["rec_l1"] < 0.75 * first["rec_l1"], (first, last)
    assert last["cls_kl"] < 0.4 * first["cls_kl"], (first, last)
    assert (tmp_path / "run" / "samples" / "step-000200.png").is_file()
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["perceptual"] in ("pyramid", "lpips-vgg")
    assert config["num_style_coordinates"] == 64 * 5  # b4.conv1 + b8 (2) + b16 (2), 64 channels


def test_nonempty_run_dir_is_not_overwritten(tmp_path, shapes_classifier):
    run = tmp_path / "run"
    train(tiny(shapes_classifier, steps=1), run, progress=False)
    before = (run / "config.json").read_bytes()
    with pytest.raises(CheckpointError, match="not empty"):
        train(tiny(shapes_classifier, steps=1), run, progress=False)
    with pytest.raises(CheckpointError, match="another configuration: resolution=16"):
        train(tiny(shapes_classifier, steps=2, resolution=32), run, progress=False, resume=True)
    assert (run / "config.json").read_bytes() == before
    assert latest_checkpoint(run).name == "step-000001"


def test_time_limit_stops_with_a_checkpoint(tmp_path, shapes_classifier):
    cfg = tiny(shapes_classifier, steps=1000, max_minutes=1e-6)
    result = train(cfg, tmp_path / "run", progress=False)
    assert result.step == 1
    assert latest_checkpoint(tmp_path / "run").name == "step-000001"


def test_trained_run_loads_back_with_its_own_classifier_copy(tmp_path, shapes_classifier):
    from stylex.classifiers import load_classifier
    from stylex.rundir import load_run

    run_dir = tmp_path / "run"
    train(tiny(shapes_classifier, steps=2), run_dir, progress=False)
    run = load_run(run_dir)
    assert run.step == 2
    assert run.classifier_path == run_dir / "classifier" / shapes_classifier.name
    C = load_classifier(run.classifier_path)
    x = torch.rand(3, 3, TEST_RESOLUTION, TEST_RESOLUTION) * 2 - 1
    p = torch.softmax(C(x), dim=1)
    with torch.no_grad():
        rec = run.G(run.E(x), p)
    assert rec.shape == x.shape
    assert torch.isfinite(rec).all()


def test_warmup_trains_encoder_and_generator_without_the_discriminator(tmp_path, shapes_classifier):
    run = tmp_path / "run"
    cfg = tiny(shapes_classifier, steps=3, rec_warmup_steps=2, checkpoint_every=1,
               keep_checkpoints=10)  # fmt: skip
    result = train(cfg, run, progress=False)
    ckpts = {p.name: p for p in (run / "checkpoints").glob("step-*")}
    d1, d2, d3 = (weights(ckpts[f"step-00000{i}"], "D") for i in (1, 2, 3))
    e1, e2 = weights(ckpts["step-000001"], "E"), weights(ckpts["step-000002"], "E")
    # Warm-up steps 0 and 1 train E (and G) on reconstructions only: D is never updated and
    # no adversarial term is logged; step 2 is the first discriminator step.
    assert all(torch.equal(d1[k], d2[k]) for k in d1)
    assert any(not torch.equal(d2[k], d3[k]) for k in d2)
    assert any(not torch.equal(e1[k], e2[k]) for k in e1)
    assert "E_adv" not in result.history[0] and "D_real" not in result.history[0]
    assert "rec_l1" in result.history[0] and "D_real" in result.history[2]
    state = json.loads((ckpts["step-000003"] / "state.json").read_text())
    assert state["kind_counts"] == {"encoder": 1, "random": 0, "warmup": 2}


def test_resumed_with_edits_judged_the_warmup_trains_d_with_its_own_betas(
    tmp_path, shapes_classifier
):
    """The realism-of-edits term joins a warm-up run on resume: from then on every step trains
    D on edited renders (with `betas_d`), and G and E get the term."""
    run = tmp_path / "run"
    cfg = tiny(shapes_classifier, steps=2, rec_warmup_steps=100, checkpoint_every=1,
               keep_checkpoints=10)  # fmt: skip
    train(cfg, run, progress=False)
    edits = {"loss.edit_adversarial": 0.1, "betas_d": "[0.0,0.99]"}
    cfg = tiny(shapes_classifier, steps=4, rec_warmup_steps=100, checkpoint_every=1,
               keep_checkpoints=10, **edits)  # fmt: skip
    result = train(cfg, run, resume=True, progress=False)
    ckpts = {p.name: p for p in (run / "checkpoints").glob("step-*")}
    d1, d2, d4 = (weights(ckpts[f"step-00000{i}"], "D") for i in (1, 2, 4))
    assert all(torch.equal(d1[k], d2[k]) for k in d1)  # a plain warm-up: D untouched
    assert any(not torch.equal(d2[k], d4[k]) for k in d2)
    assert all("edit_adv" in row and "D_fake" in row for row in result.history)
    changed = json.loads((run / "config.json").read_text())["resumes"][-1]["changed"]
    assert changed["betas_d"]["to"] == [0.0, 0.99]


def test_resume_with_other_options_records_what_changed(tmp_path, shapes_classifier):
    run = tmp_path / "run"
    train(tiny(shapes_classifier, steps=2), run, progress=False)
    train(tiny(shapes_classifier, steps=2), run, progress=False, resume=True)  # nothing new
    assert "resumes" not in json.loads((run / "config.json").read_text())
    train(tiny(shapes_classifier, steps=3, lr_e=0.0005), run, progress=False, resume=True)
    config = json.loads((run / "config.json").read_text())
    assert config["train"]["lr_e"] == 0.0005 and config["train"]["steps"] == 3
    assert config["resumes"] == [
        {
            "step": 2,
            "changed": {"steps": {"from": 2, "to": 3}, "lr_e": {"from": 0.001, "to": 0.0005}},
        }
    ]


def test_cpu32_recipe_smoke_run_crosses_the_warmup(tmp_path, shapes_classifier):
    overrides = {"resolution": TEST_RESOLUTION, "num_images": 64,
                 "classifier": str(shapes_classifier), "batch_size": 8, "steps": 4,
                 "rec_warmup_steps": 2, "log_every": 1,
                 "sample_every": 4, "checkpoint_every": 4}  # fmt: skip
    cfg = resolve_config("cpu32", {k: str(v) for k, v in overrides.items()})
    assert cfg.synthesis_input == "fourier" and cfg.loss.rec_perceptual == 1.0
    assert cfg.betas == (0.9, 0.99) and cfg.conditioned_styles == "conv"
    assert cfg.loss.classifier_swap == 1.0 and cfg.loss.cond_sparsity == 3e-3
    result = train(cfg, tmp_path / "run", progress=False)
    kinds = ["D_real" in row for row in result.history]
    assert kinds == [False, False, True, True]  # two warm-up steps, then D trains
    assert all(math.isfinite(v) for row in result.history for v in row.values())
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["arch"]["synthesis_input"] == "fourier"
    assert config["arch"]["conditioned_styles"] == "conv"
    # The preset is not edited by overrides: a fresh resolve gives its own values again (its
    # warm-up lasts the whole run: the recipe is a conditioned autoencoder).
    assert resolve_config("cpu32").rec_warmup_steps == resolve_config("cpu32").steps


def test_resume_trains_with_the_new_learning_rate_and_betas(tmp_path, shapes_classifier):
    run = tmp_path / "run"
    train(tiny(shapes_classifier, steps=2), run, progress=False)
    train(tiny(shapes_classifier, steps=3, lr_e=0.0005, betas="[0.5, 0.9]"), run,
          progress=False, resume=True)  # fmt: skip
    # The checkpoint written after the resume records the hyperparameters that trained its last
    # step: the new ones, not those restored from the checkpoint it resumed from.
    state = json.loads((latest_checkpoint(run) / "state.json").read_text())
    e_group = state["optimizers"]["E"]["param_groups"][0]
    assert e_group["lr"] == 0.0005 and list(e_group["betas"]) == [0.5, 0.9]
    g_group = state["optimizers"]["G"]["param_groups"][0]
    assert g_group["lr"] == 0.002 and list(g_group["betas"]) == [0.5, 0.9]


def test_warmup_betas_and_the_conditioning_term(tmp_path, shapes_classifier):
    # Two warm-up steps with their own betas, then the alternation with `betas`; the swapped
    # conditioning term is logged on every step that reconstructs (warm-up and encoder steps).
    cfg = tiny(
        shapes_classifier,
        steps=4,
        rec_warmup_steps=2,
        warmup_betas="[0.9,0.99]",
        betas="[0.0,0.99]",
        checkpoint_every=1,
        keep_checkpoints=10,
    )
    cfg.loss.classifier_swap, cfg.loss.swap_interval = 1.0, 1
    result = train(cfg, tmp_path / "run", progress=False)
    swap = [row.get("cls_swap", math.nan) for row in result.history]
    assert all(math.isfinite(v) and v >= 0 for v in swap[:3])  # warm-up, warm-up, encoder
    assert math.isnan(swap[3])  # a random-z step reconstructs nothing
    for step, betas in ((2, [0.9, 0.99]), (3, [0.0, 0.99])):
        ckpt = tmp_path / "run" / "checkpoints" / f"step-{step:06d}"
        state = json.loads((ckpt / "state.json").read_text())
        for name in ("G", "E"):
            assert state["optimizers"][name]["param_groups"][0]["betas"] == betas
