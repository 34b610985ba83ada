"""AttFind, explanations, evaluation and report on a tiny trained run, through the CLI."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from stylex.cli import main
from stylex.errors import CheckpointError, ConfigError
from stylex.explain.context import ATTFIND_SEED_OFFSET, load_context, stack_images
from stylex.explain.evaluation.baselines import wu_baseline
from stylex.explain.evaluation.metrics import encode
from stylex.explain.search.effects import EffectEngine
from stylex.explain.vocabulary.catalog import AttributeCatalog
from stylex.models import Styles
from stylex.pipelines.attfind import AttFindSettings, run_attfind
from stylex.pipelines.evaluation import EvalSettings
from tests.conftest import TEST_RESOLUTION

NUM_IMAGES = 8


@pytest.fixture(scope="module")
def attfind_run(trained_run, tmp_path_factory):
    run = tmp_path_factory.mktemp("attfind") / "run"
    shutil.copytree(trained_run, run)
    ctx = load_context(run, "cpu")
    run_attfind(ctx, AttFindSettings(num_images=NUM_IMAGES, chunk_images=3), progress=False)
    return run


def test_catalog_lists_attributes_per_class(attfind_run):
    catalog = AttributeCatalog.load(attfind_run)
    assert catalog.class_names == ["not_red", "red"]
    assert catalog.settings["num_images"] == NUM_IMAGES
    toward0, toward1 = catalog.classes["not_red"], catalog.classes["red"]
    assert 1 <= len(toward0) <= 10
    # Binary: the class-1 list is the class-0 list reversed.
    assert [(a.index, 1 - a.direction) for a in toward0] == [
        (a.index, a.direction) for a in toward1
    ]
    for a in toward0:
        name, channel = a.layer, a.channel
        assert (name, channel) == tuple(json.loads(json.dumps([name, channel])))
        assert 0.0 <= a.flip_rate <= 1.0
    assert catalog.stats.s_min.shape == (catalog.stats.s_max.shape[0],)


def test_attfind_writes_the_screen_prior_of_its_effects(attfind_run):
    """AttFind writes IMAGE mode's screen prior (RUN/screen.npz) from the same effects tensor
    and encodings it selects on; the torch engine of the run reads it, export carries it."""
    import numpy as np
    from safetensors.torch import load_file

    from stylex.explain.search.screen import ScreenPrior
    from stylex.runtime import TorchEngine

    enc = load_file(str(attfind_run / "attfind" / "encoded.safetensors"))
    effects = torch.from_numpy(np.load(attfind_run / "attfind" / "effects.npy"))
    expected = ScreenPrior.from_effects(effects, enc["logits"], enc["conv"])
    engine = TorchEngine.from_run(attfind_run)
    assert engine.screen_prior is not None
    assert torch.equal(engine.screen_prior.best, expected.best)
    assert torch.equal(engine.screen_prior.styles, expected.styles)
    (attfind_run / "screen.npz").write_bytes(b"broken")
    try:
        with pytest.raises(CheckpointError, match=r"is not a screen prior.*rerun `stylex attfind`"):
            TorchEngine.from_run(attfind_run)
    finally:
        (attfind_run / "screen.npz").write_bytes(expected.to_bytes())


@torch.no_grad()
def test_catalog_flip_rate_equals_a_direct_count(attfind_run):
    """Each attribute applied alone (shift 1: the coordinate set to its extreme) through the real
    generator and classifier; flip_rate is the share of the other-class images it moves to the
    class, counted here image by image."""
    from safetensors.torch import load_file

    ctx = load_context(attfind_run, "cpu")
    catalog = AttributeCatalog.load(attfind_run)
    enc = load_file(str(attfind_run / "attfind" / "encoded.safetensors"))
    extremes = catalog.stats.targets()  # [2, S]: S_min, S_max
    predicted = ctx.C(ctx.G.synthesize(Styles(enc["conv"], enc["rgb"]))).argmax(dim=1)
    rates = []
    for c, name in enumerate(catalog.class_names):
        others = [i for i in range(len(predicted)) if predicted[i] != c]
        assert others, "every image is already of this class: nothing to count"
        for a in catalog.classes[name]:
            flipped = 0
            for i in others:
                conv = enc["conv"][i : i + 1].clone()
                conv[0, a.index] = extremes[a.direction, a.index]
                x = ctx.G.synthesize(Styles(conv, enc["rgb"][i : i + 1]))
                flipped += int(ctx.C(x).argmax(dim=1).item() == c)
            # float32 mean in the catalog; counts of <= 8 images differ by >= 1/8
            assert a.flip_rate == pytest.approx(flipped / len(others), abs=1e-6), (name, a.key)
            rates.append(a.flip_rate)
    assert len(set(rates)) > 1  # the catalog holds distinct rates, not one constant


def test_effects_file_matches_the_engine_and_resume_skips_done_chunks(attfind_run):
    ctx = load_context(attfind_run, "cpu")
    effects = np.load(attfind_run / "attfind" / "effects.npy")
    progress = json.loads((attfind_run / "attfind" / "progress.json").read_text())
    assert sorted(progress["done"]) == [0, 3, 6]
    from safetensors.torch import load_file

    enc = load_file(str(attfind_run / "attfind" / "encoded.safetensors"))
    catalog = AttributeCatalog.load(attfind_run)
    styles = Styles(enc["conv"][:2], enc["rgb"][:2])
    direct = EffectEngine(ctx.G, ctx.C).effects(styles, catalog.stats)
    np.testing.assert_allclose(effects[:2], direct.numpy(), atol=1e-5)
    # A rerun with the same settings recomputes nothing: the file is reused as is.
    before = (attfind_run / "attfind" / "effects.npy").stat().st_mtime_ns
    run_attfind(ctx, AttFindSettings(num_images=NUM_IMAGES, chunk_images=3), progress=False)
    assert (attfind_run / "attfind" / "effects.npy").stat().st_mtime_ns == before


def test_catalog_follows_the_selection_rule_on_the_stored_effects(attfind_run, tmp_path):
    from safetensors.torch import load_file

    from stylex.explain.search.attfind import find_attributes

    run = tmp_path / "run"
    shutil.copytree(attfind_run, run)
    effects = torch.from_numpy(np.load(run / "attfind" / "effects.npy"))
    logits = load_file(str(run / "attfind" / "encoded.safetensors"))["logits"]
    for rule in ("effect", "flip"):
        settings = AttFindSettings(num_images=NUM_IMAGES, chunk_images=3, active_until=rule)
        catalog = run_attfind(load_context(run, "cpu"), settings, progress=False)
        expected = find_attributes(
            effects, logits.argmax(dim=1), num_classes=2, num_attributes=10,
            active_until=rule, base_logits=logits,
        )  # fmt: skip
        assert catalog.settings["active_until"] == rule
        assert [(a.index, a.direction) for a in catalog.classes["not_red"]] == [
            (k, d) for k, d, _ in expected.per_class[0]
        ]
    with pytest.raises(ConfigError, match="active_until must be one of"):
        AttFindSettings(active_until="never").validate()


def test_interrupted_effects_continue(trained_run, tmp_path, monkeypatch):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    ctx = load_context(run, "cpu")
    settings = AttFindSettings(num_images=6, chunk_images=2)
    full = run_attfind(ctx, settings, progress=False)
    effects_full = np.load(run / "attfind" / "effects.npy").copy()
    # Forget the middle chunk, as if the process had died while computing it: its rows hold
    # garbage and progress.json does not list it.
    progress = json.loads((run / "attfind" / "progress.json").read_text())
    progress["done"] = [0, 4]
    (run / "attfind" / "progress.json").write_text(json.dumps(progress))
    effects = np.load(run / "attfind" / "effects.npy", mmap_mode="r+")
    effects[2:4] = np.nan
    effects.flush()
    del effects
    computed: list[torch.Tensor] = []
    original = EffectEngine.effects

    def counting(self, styles, *args, **kwargs):
        computed.append(styles.conv.clone())
        return original(self, styles, *args, **kwargs)

    monkeypatch.setattr(EffectEngine, "effects", counting)
    resumed = run_attfind(ctx, settings, progress=False)
    # Exactly the missing chunk was recomputed, and nothing else.
    from safetensors.torch import load_file

    enc = load_file(str(run / "attfind" / "encoded.safetensors"))
    assert len(computed) == 1
    torch.testing.assert_close(computed[0], enc["conv"][2:4])
    np.testing.assert_allclose(np.load(run / "attfind" / "effects.npy"), effects_full, atol=1e-6)
    assert sorted(json.loads((run / "attfind" / "progress.json").read_text())["done"]) == [0, 2, 4]
    assert [a.key for a in resumed.classes["red"]] == [a.key for a in full.classes["red"]]


def _save_png(path, x: torch.Tensor) -> None:
    arr = ((x.permute(1, 2, 0).numpy() + 1) * 127.5).clip(0, 255).astype(np.uint8)
    Image.fromarray(arr).save(path)


def test_explain_cli_writes_results(attfind_run, tmp_path, capsys):
    from stylex.data import build_dataset

    ds = build_dataset("shapes", TEST_RESOLUTION, num_images=2, seed=77)
    paths = []
    for i in range(2):
        p = tmp_path / f"img{i}.png"
        _save_png(p, ds[i][0])
        paths.append(str(p))
    out = tmp_path / "out"
    code = main(
        [
            "explain",
            *paths,
            "--run-dir",
            str(attfind_run),
            "--out",
            str(out),
            "--top-k",
            "3",
            "--device",
            "cpu",
        ]
    )
    results = json.loads(capsys.readouterr().out)
    assert code == 0
    assert len(results) == 2
    for r in results:
        assert len(r["attributes"]) == 3
        effects = [a["effect"] for a in r["attributes"]]
        assert effects == sorted(effects, reverse=True)
        assert r["target"] != r["predicted"] or r["probs"][r["target"]] > 0.5
        folder = out / f"img{results.index(r)}"
        assert (folder / "explanation.json").is_file()
        assert (folder / "counterfactual-3.png").is_file()
        assert Image.open(folder / "reconstruction.png").size == (TEST_RESOLUTION, TEST_RESOLUTION)


def test_explanation_counterfactual_probabilities_are_real(attfind_run):
    from stylex.explain.vocabulary.attributes import apply_attributes
    from stylex.runtime import TorchEngine

    ctx = load_context(attfind_run, "cpu")
    catalog = AttributeCatalog.load(attfind_run)
    explainer = TorchEngine(ctx.G, ctx.E, ctx.C, catalog)
    x = torch.rand(2, 3, TEST_RESOLUTION, TEST_RESOLUTION) * 2 - 1
    (exp, _) = explainer.explain(x, top_k=2, target="red")
    cf = exp.counterfactuals[0]
    with torch.no_grad():
        p = torch.softmax(ctx.C(x[:1]), dim=1)
        styles = ctx.G.styles(ctx.E(x[:1]), p)
        conv = apply_attributes(styles.conv, catalog.stats, [cf.attribute])
        image = ctx.G.synthesize(Styles(conv, styles.rgb))
        probs = torch.softmax(ctx.C(image), dim=1)[0]
    torch.testing.assert_close(cf.probs, probs, atol=1e-5, rtol=1e-4)
    assert exp.target == 1
    # Exhaustive search finds an edit at least as strong as the catalog's best for this image.
    (exh,) = explainer.explain(x[:1], top_k=1, target="red", exhaustive=True)
    assert exh.counterfactuals[0].effect >= cf.effect - 1e-6


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--top-k", "0"], "top_k 0 out of range"),
        (["--target", "blue"], "unknown class 'blue'"),
    ],
)
def test_explain_bad_options(attfind_run, tmp_path, capsys, argv, fragment):
    from stylex.data import build_dataset

    p = tmp_path / "x.png"
    _save_png(p, build_dataset("shapes", TEST_RESOLUTION, num_images=1)[0][0])
    code = main(
        ["explain", str(p), "--run-dir", str(attfind_run), "--out", str(tmp_path / "o"), *argv]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert fragment in err


def test_explain_unreadable_image_and_missing_catalog(trained_run, attfind_run, tmp_path, capsys):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG broken")
    code = main(["explain", str(bad), "--run-dir", str(attfind_run), "--out", str(tmp_path / "o")])
    assert code == 2
    assert "bad.png" in capsys.readouterr().err
    fresh = tmp_path / "fresh"
    shutil.copytree(trained_run, fresh)
    code = main(["explain", str(bad), "--run-dir", str(fresh), "--out", str(tmp_path / "o")])
    assert code == 2
    assert "stylex attfind" in capsys.readouterr().err


@pytest.mark.slow
def test_evaluate_and_report(attfind_run, capsys):
    code = main(["evaluate", str(attfind_run), "--num-images", "24", "--probe-epochs", "1",
                 "--probe-images", "1000", "--wu-images", "40", "--realism-steps", "20",
                 "--device", "cpu", "--no-progress"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    metrics = json.loads((attfind_run / "metrics.json").read_text())
    for method in ("attfind", "wu", "random"):
        rates = metrics["flip_rate"][method]
        assert set(rates) == {str(k) for k in range(1, 11)}
        assert all(0.0 <= v <= 1.0 for v in rates.values())
    # Wu's ranking comes from 40 images at AttFind's seed offset, not from the 24 it is scored on.
    ctx = load_context(attfind_run, "cpu")
    pool = encode(ctx.G, ctx.E, ctx.C, stack_images(ctx.dataset(None, 40, ATTFIND_SEED_OFFSET), 40))
    expected = {
        str(c): [[k, d] for k, d, _ in wu_baseline(pool.styles.conv, pool.probs_rec, c)]
        for c in range(len(ctx.class_names))
    }
    assert metrics["settings"]["wu_images"] == 40
    assert metrics["baseline_lists"]["wu"] == expected
    fid = metrics["fidelity"]
    assert 0.0 <= fid["agreement"] <= 1.0 and fid["l1"] > 0
    assert metrics["alignment"]["rule_factors"] == ["hue"]
    assert set(metrics["alignment"]["share"]) == {"attfind", "wu", "random"}
    # A suggested name per catalog edit, from the factor it changes most; `stylex label` reads them.
    catalog = AttributeCatalog.load(attfind_run)
    suggested = metrics["alignment"]["suggested_names"]
    assert {(r["index"], r["direction"]) for r in suggested} == {
        (a.index, "max" if a.direction else "min") for v in catalog.classes.values() for a in v
    }
    # Named only where one factor moves (`clear_factor`); a barely trained model's edits
    # move several at once, so some stay unnamed.
    for r in suggested:
        assert r["name"] is None or r["name"], r
        assert r["name"] is None or r["factor"] != "hue" or r["name"].startswith("hue toward "), r
    image_success = metrics["per_image_success_image"]
    assert image_success["mode"] == "image" and image_success["num_images"] == 24
    assert image_success["top1"] >= metrics["per_image_success"]["top1"]
    faith = metrics["faithfulness"]
    assert faith["num_images"] == 24
    assert set(faith["reconstruction"]) == set(faith["probe_on_real"]) == {
        "shape_acc", "stripes_acc", "hue_err_turns", "size_mae", "pos_x_mae", "pos_y_mae",
        "bg_mae"}  # fmt: skip
    success = metrics["per_image_success"]
    assert success["num_images"] == 24 and success["top_k"] == 5
    for kind in ("top1", "joint"):
        m = metrics["minimality"][kind]
        assert m["num_counterfactuals"] == 24 and m["rule_factors"] == ["hue"]
        # A counterfactual that is not "only rule factors" changes at least one other factor.
        assert m["mean_other_changed"] >= 1 - m["only_rule_share"] - 1e-6
        assert (m["mean_other_changed"] == 0) == (m["only_rule_share"] == 1.0)
    # Realism: each generated set against the held-out images, beside real against real.
    realism = metrics["realism"]
    assert set(realism["c2st"]) == {"real_vs_real", "reconstruction", "top1", "joint"}
    assert realism["c2st"]["top1"]["num_real"] == realism["c2st"]["top1"]["num_generated"] == 24
    assert realism["c2st"]["real_vs_real"]["num_real"] == 12
    assert all(0.0 <= v["auc"] <= 1.0 for v in realism["c2st"].values())
    assert set(realism["background_spread"]) == {"real", "reconstruction", "top1", "joint"}
    assert realism["background_spread"]["real"] < 0.01  # the shapes' flat backgrounds
    assert realism["visibility"]["num_flips"] == round(success["top1"] * 24)
    probe_info = attfind_run / "probes" / "factor_probe.json"
    assert json.loads(probe_info.read_text())["scores"]["epochs"] == 1
    # The cached probe serves only the settings it was trained with.
    code = main(["evaluate", str(attfind_run), "--num-images", "8", "--probe-epochs", "2",
                 "--probe-images", "1000", "--max-k", "2", "--device", "cpu",
                 "--no-progress"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    info = json.loads(probe_info.read_text())
    assert info["scores"]["epochs"] == 2 and info["settings"]["epochs"] == 2
    capsys.readouterr()
    code = main(["report", str(attfind_run), "--top", "2", "--num-examples", "2", "--gif",
                 "--device", "cpu", "--no-progress"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    html = (attfind_run / "report.html").read_text()
    assert html.count("<img") >= 4 and "http://" not in html and "https://" not in html
    assert "flip" in html.lower()
    assert "faithfulness" in html and "per_image_success" in html and "minimality" in html
    assert len(list((attfind_run / "report-gifs").glob("*.gif"))) == 4


def test_evaluation_settings_refuse_a_negative_wu_pool():
    with pytest.raises(ConfigError, match="wu_images must be >= 0"):
        EvalSettings(wu_images=-1).validate()
    assert EvalSettings(wu_images=0).validate().wu_images == 0


def test_more_training_is_not_explained_with_the_old_checkpoints_work(trained_run, tmp_path):
    # AttFind keeps its encoded images and effects for resuming; after the run trains further,
    # both must be recomputed for the new checkpoint, not reused from the old one.
    from safetensors.torch import load_file

    from stylex.training.config import resolve_config
    from stylex.training.trainer import train

    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    settings = AttFindSettings(num_images=4, chunk_images=2)
    run_attfind(load_context(run, "cpu"), settings, progress=False)
    old = load_file(str(run / "attfind" / "encoded.safetensors"))["conv"]
    old_effects = np.load(run / "attfind" / "effects.npy").copy()

    stored = json.loads((run / "config.json").read_text())["train"]
    overrides = {k: str(stored[k]) for k in ("resolution", "num_images", "batch_size",
                                             "channel_max", "classifier")}  # fmt: skip
    overrides.update(steps="62", checkpoint_every="62", sample_every="1000")
    train(resolve_config("tiny", overrides), run, resume=True, progress=False)
    ctx = load_context(run, "cpu")
    assert ctx.run.step == 62
    catalog = run_attfind(ctx, settings, progress=False)
    new = load_file(str(run / "attfind" / "encoded.safetensors"))
    assert not torch.allclose(new["conv"], old)
    # The styles are the new networks' encoding, and the effects were computed from them.
    x = stack_images(ctx.dataset(None, 4, ATTFIND_SEED_OFFSET), 4)
    p = torch.softmax(ctx.C(x), dim=1)
    torch.testing.assert_close(new["conv"], ctx.G.styles(ctx.E(x), p).conv, atol=1e-5, rtol=0)
    direct = EffectEngine(ctx.G, ctx.C).effects(Styles(new["conv"], new["rgb"]), catalog.stats)
    effects = np.load(run / "attfind" / "effects.npy")
    np.testing.assert_allclose(effects, direct.numpy(), atol=1e-5)
    assert not np.allclose(effects, old_effects)
    assert catalog.settings["run_step"] == 62


def test_batch_job_on_a_run_dir_equals_the_torch_engine(attfind_run, tmp_path, capsys):
    """`stylex batch --model RUN_DIR` explains with the training run's networks (TorchEngine),
    record for record as `TorchEngine.explain` on the same files."""
    from stylex.batch import read_results, results_name
    from stylex.data import build_dataset
    from stylex.runtime import TorchEngine
    from tests.batch.conftest import assert_records_equal_engine

    ds = build_dataset("shapes", TEST_RESOLUTION, num_images=3, seed=78)
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for i in range(3):
        _save_png(inputs / f"img{i}.png", ds[i][0])
    out = tmp_path / "out"
    args = ["batch", str(inputs), "--model", str(attfind_run), "--out", str(out), "--top-k", "3",
            "--device", "cpu", "--batch-size", "2", "--no-images", "--no-progress"]  # fmt: skip
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["done_now"] == 3
    records = read_results(out / results_name(0, 1))
    engine = TorchEngine.from_run(attfind_run, device="cpu")
    assert assert_records_equal_engine(records, engine, top_k=3) == 3
