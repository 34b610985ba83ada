"""The fp16 variant: converted graphs, its acceptance check, loading it, and refusing it."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import onnx
import onnx.numpy_helper
import pytest
import torch

from stylex.cli import main
from stylex.errors import ConfigError
from stylex.explain.context import load_context, stack_images
from stylex.export import export_run
from stylex.export import fp16 as half
from stylex.runtime import MANIFEST_NAME, OrtEngine, read_model_dir
from stylex.runtime.model_dir import ModelDirError
from stylex.serving.config import ServeConfig
from tests.export.model_fixtures import attfind_run, held_out_images

FP16_FILES = ["encoder.fp16.onnx", "style.fp16.onnx", "synthesis.fp16.onnx"]
# How far the fp16 variant's probabilities may move from fp32's on this tiny test model. It is a
# property of the model the session trains (60 steps, so of the host's kernels) and of ONNX
# Runtime's CPU kernels, which choose AVX2 or AVX-512 code by themselves: measured 0.0111 on
# AVX-512 hosts (with and without AMX) and below 0.01 on AVX2 ones. fp16 carries 11 bits, so a
# ~2^-11 relative error through a dozen layers lands at about this size; the acceptance rule
# (the same top-k) is what the export enforces, this bound only says "close".
FP16_PROB_TOLERANCE = 3e-2


@pytest.fixture(scope="module")
def run_dir(trained_run, tmp_path_factory):
    return attfind_run(trained_run, tmp_path_factory.mktemp("fp16"))


@pytest.fixture(scope="module")
def exported(run_dir):
    store = run_dir.parent / "store"
    args = ["export", str(run_dir), "--out", str(store), "--name", "m", "--fp16",
            "--fp16-device", "cpu", "--fp16-images", "12"]  # fmt: skip
    assert main(args) == 0
    return store / "m" / "1"


def test_fp16_variant_is_checked_and_listed(exported, run_dir):
    m = json.loads((exported / MANIFEST_NAME).read_text())
    check = m["fp16_check"]
    assert check["images"] == 12 and check["top_k"] == 5
    assert check["provider"] == "CPUExecutionProvider"
    same = round(check["same_top_k_set"] * check["images"])
    assert check["accepted"] == (same + check["near_tie_images"] == check["images"])
    assert check["tie_tolerance"] == half.TIE_TOLERANCE
    # This tiny model passes: fp16 rounding does not reorder its attributes' effects.
    assert check["accepted"], check
    assert check["max_abs_prob_diff"] < FP16_PROB_TOLERANCE
    # Recounted here from the two engines on the check's own images.
    fp32 = OrtEngine.load(exported, device="cpu", intra_op_threads=1)
    fp16 = OrtEngine.load(exported, device="cpu", intra_op_threads=1, precision="fp16")
    images = stack_images(
        load_context(run_dir, "cpu").dataset(None, 12, seed_offset=half.CHECK_SEED_OFFSET)
    )
    same = 0
    for a, b in zip(fp32.explain(images, top_k=5), fp16.explain(images, top_k=5), strict=True):
        same += {c.attribute.key for c in a.counterfactuals} == {
            c.attribute.key for c in b.counterfactuals
        }
    assert check["same_top_k_set"] == round(same / 12, 4)  # the check keeps 4 decimals
    assert m["variants"]["fp16"]["graphs"] == {
        "encoder": "encoder.fp16.onnx", "style": "style.fp16.onnx",
        "synthesis": "synthesis.fp16.onnx",
    }  # fmt: skip
    assert m["variants"]["fp16"]["fp32_graphs"] == ["classifier"]
    assert set(FP16_FILES) <= set(m["files"])
    assert read_model_dir(exported).precisions == ["fp32", "fp16"]


def test_fp16_graphs_have_half_weights_and_float_io(exported):
    for file in FP16_FILES:
        model = onnx.load(str(exported / file))
        onnx.checker.check_model(model, full_check=True)
        kinds = {t.data_type for t in model.graph.initializer if len(t.dims) >= 2}
        assert kinds == {onnx.TensorProto.FLOAT16}, file  # every weight matrix / kernel
        io = [*model.graph.input, *model.graph.output]
        assert {v.type.tensor_type.elem_type for v in io} == {onnx.TensorProto.FLOAT}
        fp32 = (exported / file.replace(".fp16", "")).stat().st_size
        assert (exported / file).stat().st_size < 0.6 * fp32


def test_fp16_engine_explains_like_fp32(exported, run_dir):
    fp32 = OrtEngine.load(exported, device="cpu", intra_op_threads=1)
    fp16 = OrtEngine.load(exported, device="cpu", intra_op_threads=1, precision="fp16")
    assert (fp32.precision, fp16.precision) == ("fp32", "fp16")
    images = held_out_images(run_dir, 6)  # other images than the export's check
    x16 = fp16.synthesize(*fp16.encode_styles(images, torch.full((6, 2), 0.5)))
    x32 = fp32.synthesize(*fp32.encode_styles(images, torch.full((6, 2), 0.5)))
    assert x16.dtype == torch.float32
    assert 0 < float((x16 - x32).abs().max()) < 0.05  # really half precision, and close
    result = half.compare_explanations(fp32, fp16, images, top_k=5)
    assert round(result["same_top_k_set"] * result["images"]) >= 5  # 5 of 6 images at least
    assert result["max_abs_prob_diff"] < FP16_PROB_TOLERANCE


def _ranked(*effects):
    """Counterfactual-like rows: attribute keys (k, 1) for k = 0.., with these effects."""
    return [
        SimpleNamespace(attribute=SimpleNamespace(key=(k, 1)), effect=e)
        for k, e in enumerate(effects)
    ]


def test_a_swap_at_rank_k_is_a_near_tie_only_between_equal_effects():
    # Ranks 5 and 6 of the reference move P(target) by 1.3e-4 and 1.2e-4: either may be 5th.
    ranked = _ranked(0.9, 0.4, 0.2, 0.1, 1.3e-4, 1.2e-4, 0.0)
    assert half._near_tie(ranked, 5, {(4, 1), (5, 1)}, 1e-3)
    assert half._near_tie(ranked, 5, {(4, 1), (6, 1)}, 1e-3)
    # The 4th (0.1) swapped out is a real difference, as is one the reference does not list.
    assert not half._near_tie(ranked, 5, {(3, 1), (5, 1)}, 1e-3)
    assert not half._near_tie(ranked, 5, {(4, 1), (99, 1)}, 1e-3)
    assert not half._near_tie(ranked, 5, {(4, 1), (5, 1)}, 1e-6)  # tolerance is honoured
    assert not half._near_tie(ranked[:3], 5, {(0, 1)}, 1e-3)  # fewer than k ranked


def _perturbed(convert):
    """`convert` whose fp16 weights then get noise as large as themselves: a broken conversion
    that still loads and runs."""

    def perturbed(model_bytes: bytes) -> bytes:
        model = onnx.load_from_string(convert(model_bytes))
        rng = np.random.default_rng(0)
        for tensor in model.graph.initializer:
            if tensor.data_type == onnx.TensorProto.FLOAT16 and len(tensor.dims) >= 2:
                w = onnx.numpy_helper.to_array(tensor)
                noisy = (w * (1 + rng.standard_normal(w.shape))).astype(np.float16)
                tensor.CopyFrom(onnx.numpy_helper.from_array(noisy, tensor.name))
        return model.SerializeToString()

    return perturbed


def test_fp16_refused_without_an_accepted_variant(run_dir, tmp_path, monkeypatch):
    # The real comparison judges a really wrong candidate.
    monkeypatch.setattr(half, "convert_to_fp16", _perturbed(half.convert_to_fp16))
    model_dir = export_run(run_dir, tmp_path, name="m", fp16=True, fp16_device="cpu",
                           fp16_images=6)  # fmt: skip
    m = json.loads((model_dir / MANIFEST_NAME).read_text())
    assert m["fp16_check"]["accepted"] is False
    assert m["fp16_check"]["same_top_k_set"] < 1.0
    assert "variants" not in m
    assert sorted(p.name for p in model_dir.iterdir()) == sorted(
        [
            "classifier.onnx",
            "encoder.onnx",
            "style.onnx",
            "synthesis.onnx",
            "screen.npz",
            MANIFEST_NAME,
        ]
    )
    with pytest.raises(ModelDirError, match="has no fp16 variant"):
        OrtEngine.load(model_dir, device="cpu", precision="fp16")
    with pytest.raises(ModelDirError, match="precision 'fp8'"):
        read_model_dir(model_dir, "fp8")
    with pytest.raises(ConfigError, match="precision"):
        ServeConfig.from_env({"STYLEX_PRECISION": "fp8"})


def test_tampered_fp16_file_is_named(exported, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(exported, copy)
    data = bytearray((copy / "synthesis.fp16.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / "synthesis.fp16.onnx").write_bytes(bytes(data))
    for precision in ("fp32", "fp16"):  # the whole directory is verified either way
        with pytest.raises(ModelDirError, match=r"synthesis\.fp16\.onnx"):
            read_model_dir(copy, precision)
