"""TorchEngine and OrtEngine: same primitives (1e-4) and same explanations (order; probs 1e-3)."""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort
import pytest
import torch

from stylex.errors import InvalidArgumentError
from stylex.explain.context import load_context
from stylex.explain.vocabulary.attributes import apply_attributes
from stylex.explain.vocabulary.catalog import AttributeCatalog
from stylex.models import Styles
from stylex.runtime import InferenceEngine, OrtEngine, TorchEngine
from tests.export.model_fixtures import attfind_run, exported_model, held_out_images


@pytest.fixture(scope="module")
def run_dir(trained_run, tmp_path_factory):
    return attfind_run(trained_run, tmp_path_factory.mktemp("engines"))


@pytest.fixture(scope="module")
def engines(run_dir) -> tuple[TorchEngine, OrtEngine]:
    model_dir = exported_model(run_dir, run_dir.parent)
    ort_engine = OrtEngine.load(
        model_dir, device="cpu", intra_op_threads=1, warmup_batch_sizes=(1, 8)
    )
    return TorchEngine.from_run(run_dir), ort_engine


@pytest.fixture(scope="module")
def images(run_dir) -> torch.Tensor:
    return held_out_images(run_dir, 6)


def test_both_backends_implement_the_interface(engines):
    for engine in engines:
        assert isinstance(engine, InferenceEngine)
        assert engine.class_names == ["not_red", "red"]
        assert engine.resolution == 16
    assert engines[1].providers == ["CPUExecutionProvider"]
    assert not engines[1].on_gpu


@pytest.mark.parametrize("batch", [1, 3, 8])
def test_primitives_agree(engines, batch):
    te, oe = engines
    gen = torch.Generator().manual_seed(batch)
    x = torch.rand(batch, 3, 16, 16, generator=gen) * 2 - 1
    p = torch.softmax(torch.randn(batch, 2, generator=gen), dim=1)

    def close(a, b):
        assert a.shape == b.shape
        assert float((a - b).abs().max()) <= 1e-4

    w = te.encode(x)
    close(oe.encode(x), w)
    conv, rgb = te.styles(w, p)
    for a, b in zip(oe.styles(w, p), (conv, rgb), strict=True):
        close(a, b)
    image = te.synthesize(conv, rgb)
    close(oe.synthesize(conv, rgb), image)
    close(oe.classify(image), te.classify(image))
    for a, b in zip(oe.synthesize_classify(conv, rgb), te.synthesize_classify(conv, rgb),
                    strict=True):  # fmt: skip
        close(a, b)


def test_explanations_agree_between_backends(engines, images):
    torch_ex = engines[0].explain(images, top_k=5)
    ort_ex = engines[1].explain(images, top_k=5)
    assert len(torch_ex) == len(ort_ex) == images.shape[0]
    for a, b in zip(torch_ex, ort_ex, strict=True):
        assert a.target == b.target
        assert [cf.attribute.key for cf in a.counterfactuals] == [
            cf.attribute.key for cf in b.counterfactuals
        ]
        assert len(a.counterfactuals) == 5
        for ca, cb in zip(a.counterfactuals, b.counterfactuals, strict=True):
            assert float((ca.probs - cb.probs).abs().max()) <= 1e-3
            assert abs(ca.effect - cb.effect) <= 1e-3
        assert float((a.probs_reconstruction - b.probs_reconstruction).abs().max()) <= 1e-3


def test_engine_explanations_equal_a_literal_computation(run_dir, engines, images):
    """The explanation, recomputed by hand from G, E and C: every catalog attribute of the
    target class applied alone to the reconstruction's styles, ranked by the rise of P(red)."""
    ctx = load_context(run_dir, "cpu")
    catalog = AttributeCatalog.load(run_dir)
    got = engines[0].explain(images, top_k=5, target="red")
    with torch.no_grad():
        p = torch.softmax(ctx.C(images), dim=1)
        styles = ctx.G.styles(ctx.E(images), p)
        p_rec = torch.softmax(ctx.C(ctx.G.synthesize(styles)), dim=1)
        for i, g in enumerate(got):
            assert g.target == 1
            attrs = catalog.for_class("red")
            conv = torch.cat(
                [apply_attributes(styles.conv[i : i + 1], catalog.stats, [a]) for a in attrs]
            )
            rgb = styles.rgb[i : i + 1].expand(len(attrs), -1)
            p_cf = torch.softmax(ctx.C(ctx.G.synthesize(Styles(conv, rgb))), dim=1)[:, 1]
            effects = p_cf - p_rec[i, 1]
            order = effects.argsort(descending=True)[:5]
            assert [cf.attribute.key for cf in g.counterfactuals] == [
                attrs[int(j)].key for j in order
            ]
            for cf, j in zip(g.counterfactuals, order, strict=True):
                assert cf.effect == pytest.approx(float(effects[j]), abs=1e-5)


def test_bad_requests_are_invalid_arguments(engines, images):
    oe = engines[1]
    with pytest.raises(InvalidArgumentError, match=r"expected \[N, 3, 16, 16\]"):
        oe.explain(torch.zeros(1, 3, 8, 8))
    with pytest.raises(InvalidArgumentError, match="top_k"):
        oe.explain(images[:1], top_k=0)
    with pytest.raises(InvalidArgumentError, match="shift"):
        oe.explain(images[:1], shift=0)
    with pytest.raises(InvalidArgumentError, match="unknown class"):
        oe.explain(images[:1], target="blue")


def cuda_device_present() -> bool:
    """An NVIDIA GPU on this machine, whatever the installed torch and onnxruntime builds."""
    import shutil
    import subprocess

    if Path("/dev/nvidia0").exists():
        return True
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return False
    listed = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=30)
    return listed.returncode == 0 and "GPU" in listed.stdout


@pytest.mark.gpu
def test_cuda_engine_with_io_binding_matches_cpu(run_dir, engines, images):
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        if not cuda_device_present():
            pytest.skip("needs a CUDA device: this machine has none")
        # Not an allowed skip: CI installs onnxruntime-gpu where a GPU is (.ci/run).
        pytest.skip(
            "a CUDA device is present, but the installed onnxruntime has no CUDA provider "
            "(the test extra installs the CPU wheel): pip install onnxruntime-gpu"
        )
    gpu = OrtEngine.load(engines[1].model.path, device="cuda:0", warmup_batch_sizes=(1, 8))
    assert gpu.providers[0] == "CUDAExecutionProvider" and gpu.on_gpu
    cpu_ex, gpu_ex = engines[1].explain(images, top_k=5), gpu.explain(images, top_k=5)
    for a, b in zip(cpu_ex, gpu_ex, strict=True):
        assert [c.attribute.key for c in a.counterfactuals] == [
            c.attribute.key for c in b.counterfactuals
        ]
