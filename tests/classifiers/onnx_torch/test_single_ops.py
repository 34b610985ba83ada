"""Every operator the interpreter claims, alone in a one-node model: values against
onnxruntime, and float64 input gradients against finite differences."""

from __future__ import annotations

import re

import cases_activations
import cases_arithmetic
import cases_conv
import cases_creation
import cases_identity
import cases_indexing
import cases_linear
import cases_logic
import cases_normalization
import cases_pad
import cases_pooling
import cases_reductions
import cases_resize
import cases_shape
import numpy as np
import onnxruntime as ort
import pytest
import torch
from onnx_single_op import OpCase

from stylex.classifiers import OnnxModule, supported_ops
from stylex.errors import ClassifierError

CASES: list[OpCase] = [
    *cases_arithmetic.CASES,
    *cases_activations.CASES,
    *cases_logic.CASES,
    *cases_identity.CASES,
    *cases_linear.CASES,
    *cases_conv.CASES,
    *cases_pooling.CASES,
    *cases_normalization.CASES,
    *cases_reductions.CASES,
    *cases_shape.CASES,
    *cases_indexing.CASES,
    *cases_pad.CASES,
    *cases_resize.CASES,
    *cases_creation.CASES,
]

# Operators with no gradient check, and why.
NO_GRADIENT: dict[str, str] = {
    "Shape": "returns int64 sizes",
    "Size": "returns an int64 count",
    "ConstantOfShape": "takes an int64 shape",
    "Constant": "has no inputs",
    "Equal": "returns booleans",
    "Less": "returns booleans",
    "LessOrEqual": "returns booleans",
    "Greater": "returns booleans",
    "GreaterOrEqual": "returns booleans",
    "And": "takes and returns booleans",
    "Or": "takes and returns booleans",
    "Not": "takes and returns booleans",
    "Floor": "piecewise constant: the gradient is zero wherever it exists",
    "Ceil": "piecewise constant: the gradient is zero wherever it exists",
    "Sign": "piecewise constant: the gradient is zero wherever it exists",
}

GRAD_CASES = [c for c in CASES if c.grad and c.op not in NO_GRADIENT]

# Forms the interpreter refuses with a clear error, rather than give values that differ from
# onnxruntime's: (case, what the error names).
REFUSED: list[tuple[OpCase, str]] = [*cases_identity.REFUSED, *cases_resize.REFUSED]

# Up to this many input elements the gradient check builds the full Jacobian; above, torch's
# fast mode compares it along random directions, which misses a wrong one with probability
# zero and costs a few evaluations instead of one per element.
_FULL_JACOBIAN_MAX_NUMEL = 100


def _outputs(module: OnnxModule, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
    out = module(*inputs)
    return out if isinstance(out, tuple) else (out,)


def test_case_ids_are_unique() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})


def test_every_supported_op_has_a_case_and_a_gradient_check_or_a_reason() -> None:
    supported = set(supported_ops())
    assert {c.op for c in CASES} == supported
    assert set(NO_GRADIENT) <= supported
    without_gradient_check = supported - {c.op for c in GRAD_CASES}
    assert without_gradient_check == set(NO_GRADIENT)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_matches_onnxruntime(case: OpCase) -> None:
    model = case.model()
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    expected = session.run(None, case.feeds)
    got = _outputs(OnnxModule(model), *(torch.from_numpy(v) for v in case.feeds.values()))
    assert len(got) == len(expected) == case.outputs
    for g, e in zip(got, expected, strict=True):
        assert g.numpy().dtype == e.dtype
        assert g.shape == e.shape
        np.testing.assert_allclose(g.numpy(), e, atol=case.atol, rtol=case.rtol)


@pytest.mark.parametrize("case", GRAD_CASES, ids=lambda c: c.id)
def test_float64_gradient(case: OpCase) -> None:
    # The operator functions are dtype agnostic: the same code runs here on float64 buffers and
    # inputs, where finite differences are accurate enough to check every input gradient.
    module = OnnxModule(case.model()).double()
    inputs = []
    for v in case.feeds.values():
        t = torch.from_numpy(v)
        inputs.append(t.double().requires_grad_() if t.is_floating_point() else t)
    assert any(t.requires_grad for t in inputs)

    def float_outputs(*xs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(o for o in _outputs(module, *xs) if o.is_floating_point())  # not masks

    fast = sum(t.numel() for t in inputs if t.requires_grad) > _FULL_JACOBIAN_MAX_NUMEL
    assert torch.autograd.gradcheck(
        float_outputs, tuple(inputs), eps=1e-6, atol=1e-6, rtol=1e-4, fast_mode=fast
    )


@pytest.mark.parametrize(("case", "reason"), [pytest.param(c, r, id=c.id) for c, r in REFUSED])
def test_refused_forms_name_node_and_reason(case: OpCase, reason: str) -> None:
    module = OnnxModule(case.model())
    with pytest.raises(ClassifierError, match=f"{case.op}.*{re.escape(reason)}.*TorchScript"):
        module(*(torch.from_numpy(v) for v in case.feeds.values()))
