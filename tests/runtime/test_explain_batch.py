"""The one batched explain: per-image options in one batch, one answer or one error per image."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from stylex.data import build_dataset
from stylex.errors import InvalidArgumentError
from stylex.explain.context import stack_images
from stylex.explain.single.explanation import Explanation
from stylex.explain.single.options import PREDICTED, RUNNER_UP, ExplainOptions
from stylex.runtime import OrtEngine, TorchEngine
from stylex.runtime.model_dir import default_model_dir
from tests.export.model_fixtures import attfind_run


@pytest.fixture(scope="module")
def engine(trained_run, tmp_path_factory) -> TorchEngine:
    return TorchEngine.from_run(attfind_run(trained_run, tmp_path_factory.mktemp("batch")))


@pytest.fixture(scope="module")
def images(engine) -> torch.Tensor:
    return stack_images(build_dataset("shapes", engine.resolution, num_images=6, seed=4321))


def _same(a: Explanation, b: Explanation) -> None:
    assert a.target == b.target
    assert [cf.attribute.key for cf in a.counterfactuals] == [
        cf.attribute.key for cf in b.counterfactuals
    ]
    for ca, cb in zip(a.counterfactuals, b.counterfactuals, strict=True):
        assert ca.effect == pytest.approx(cb.effect, abs=1e-5)
    torch.testing.assert_close(a.reconstruction, b.reconstruction, atol=1e-5, rtol=0)


class CountingBackend:
    """Counts the engine's batched encodes; fails any batch that holds `poison`."""

    def __init__(self, engine, monkeypatch, poison: torch.Tensor | None = None) -> None:
        self.calls: list[int] = []
        real = type(engine).encode_styles

        def encode_styles(this, x, p):
            self.calls.append(x.shape[0])
            if poison is not None and any(torch.equal(img, poison) for img in x):
                raise RuntimeError("backend fell over")
            return real(this, x, p)

        monkeypatch.setattr(type(engine), "encode_styles", encode_styles)


def test_mixed_options_in_one_batch_equal_each_image_alone(engine, images, monkeypatch):
    options = [
        ExplainOptions(top_k=2, target=RUNNER_UP, shift=1.0),
        ExplainOptions(top_k=3, target=PREDICTED, shift=0.5),
        ExplainOptions(top_k=1, target=1, shift=1.0),
        ExplainOptions(top_k=5, target=0, shift=2.0),
    ]
    alone = [engine.explain_batch([images[i]], [o])[0] for i, o in enumerate(options)]
    counter = CountingBackend(engine, monkeypatch)
    together = engine.explain_batch(list(images[:4]), options)
    assert counter.calls == [4]  # one batched pass for all four option sets
    for a, b, o in zip(together, alone, options, strict=True):
        assert isinstance(a, Explanation)
        assert len(a.counterfactuals) == o.top_k
        _same(a, b)
    assert together[1].target == together[1].predicted  # "predicted" read off the input
    assert together[2].target == 1 and together[3].target == 0
    # The runner-up is the most probable class of the reconstruction other than its argmax.
    rec = together[0].probs_reconstruction
    assert together[0].target == int(rec.argsort(descending=True)[1])


def test_a_bad_image_is_its_own_error(engine, images, monkeypatch):
    nan = images[1].clone()
    nan[0, 0, 0] = float("nan")
    batch = [images[0], torch.zeros(3, 8, 8), nan, images[3]]
    counter = CountingBackend(engine, monkeypatch)
    out = engine.explain_batch(batch, ExplainOptions(top_k=2))
    assert counter.calls == [2]  # the two bad images never reach the backend
    assert isinstance(out[1], InvalidArgumentError) and "expected [3, 16, 16]" in str(out[1])
    assert isinstance(out[2], InvalidArgumentError) and "NaN" in str(out[2])
    monkeypatch.undo()
    for i in (0, 3):
        _same(out[i], engine.explain_batch([batch[i]], ExplainOptions(top_k=2))[0])


def test_a_failing_batch_is_run_item_by_item(engine, images, monkeypatch):
    counter = CountingBackend(engine, monkeypatch, poison=images[2])
    out = engine.explain_batch(list(images[:4]), ExplainOptions(top_k=2))
    assert counter.calls == [4, 1, 1, 1, 1]  # the batch, then each item alone
    assert isinstance(out[2], RuntimeError) and "fell over" in str(out[2])
    assert all(isinstance(out[i], Explanation) for i in (0, 1, 3))


def test_exhaustive_is_every_edit_evaluated_on_every_engine(engine, images):
    """`exhaustive` needs no engine-specific search: it is IMAGE mode with every one of the
    2 * S edits as a candidate, so the torch and the ONNX Runtime engines both offer it."""
    (found,) = engine.explain_batch([images[0]], ExplainOptions(top_k=2, exhaustive=True))
    assert isinstance(found, Explanation) and len(found.counterfactuals) == 2
    ort = OrtEngine.load(default_model_dir(), device="cpu", intra_op_threads=1)
    x = torch.zeros(3, ort.resolution, ort.resolution)
    num_edits = 2 * ort.catalog.stats.s_min.numel()
    (exh,) = ort.explain_batch([x], ExplainOptions(top_k=3, exhaustive=True))
    (every,) = ort.explain_batch(
        [x], ExplainOptions(top_k=3, mode="image", num_candidates=num_edits)
    )
    assert exh.mode == "image"
    assert [cf.attribute.key for cf in exh.counterfactuals] == [
        cf.attribute.key for cf in every.counterfactuals
    ]


def test_digit_class_names_are_names_not_indices(engine, images):
    """`digits --rule 3_vs_8`: classes "3" and "8"; target "8" is the second class."""
    cat = engine.catalog
    renamed = dataclasses.replace(
        cat,
        class_names=["3", "8"],
        classes={"3": cat.classes[cat.class_names[0]], "8": cat.classes[cat.class_names[1]]},
    )
    digits = TorchEngine(engine.G, engine.E, engine.C, renamed)
    (exp,) = digits.explain(images[:1], top_k=2, target="8")
    assert exp.target == 1
    (exp,) = digits.explain(images[:1], top_k=2, target="3")
    assert exp.target == 0
    with pytest.raises(InvalidArgumentError, match="class index 8 out of range"):
        digits.explain(images[:1], target=8)  # an int is an index
