"""A small differentiable ONNX interpreter: runs an ONNX graph node by node with torch ops.

StylEx backpropagates the classifier's KL loss into the generator, so a user's ONNX classifier
must run inside autograd; ONNX Runtime cannot give input gradients. The interpreter covers the
operators that `torch.onnx.export` emits for ordinary image classifiers (opsets 13-21, older
attribute forms where cheap). Initializers and Constant nodes become buffers, so `.to(device)`
moves them; shape arithmetic (Shape, Gather, Concat, Reshape) runs eagerly on int64 tensors.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper
from torch import Tensor

from stylex.errors import ClassifierError

_DEFAULT_DOMAINS = ("", "ai.onnx")

_DTYPES: dict[int, torch.dtype] = {
    onnx.TensorProto.FLOAT: torch.float32,
    onnx.TensorProto.DOUBLE: torch.float64,
    onnx.TensorProto.FLOAT16: torch.float16,
    onnx.TensorProto.BFLOAT16: torch.bfloat16,
    onnx.TensorProto.INT64: torch.int64,
    onnx.TensorProto.INT32: torch.int32,
    onnx.TensorProto.INT16: torch.int16,
    onnx.TensorProto.INT8: torch.int8,
    onnx.TensorProto.UINT8: torch.uint8,
    onnx.TensorProto.BOOL: torch.bool,
}


@dataclass
class _Node:
    op_type: str
    name: str
    inputs: list[str]  # "" marks an omitted optional input
    outputs: list[str]
    attrs: dict[str, Any]
    opset: int  # version of the default domain the model was exported for

    def fail(self, what: str) -> ClassifierError:
        return ClassifierError(
            f"ONNX node '{self.name}' ({self.op_type}): {what} is not supported by the stylex "
            f"ONNX interpreter; export the classifier as TorchScript instead"
        )


_Op = Callable[..., Tensor | tuple[Tensor, ...]]
_OPS: dict[str, _Op] = {}


def _op(*names: str) -> Callable[[_Op], _Op]:
    def register(fn: _Op) -> _Op:
        for name in names:
            _OPS[name] = fn
        return fn

    return register


def supported_ops() -> list[str]:
    """Operator types (default ONNX domain) the interpreter can run."""
    return sorted([*_OPS, "Constant"])


def unsupported_ops(model: onnx.ModelProto) -> list[str]:
    """Operator types in `model` the interpreter cannot run; other domains are prefixed."""
    missing = set()
    for node in model.graph.node:
        if node.domain not in _DEFAULT_DOMAINS:
            missing.add(f"{node.domain}.{node.op_type}")
        elif node.op_type not in _OPS and node.op_type != "Constant":
            missing.add(node.op_type)
    return sorted(missing)


def check_onnx_model(model: onnx.ModelProto, source: str) -> None:
    """onnx.checker.check_model, as a ClassifierError naming `source`."""
    try:
        onnx.checker.check_model(model)
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ClassifierError(f"ONNX classifier {source} is not a valid model: {first}") from None


class OnnxModule(torch.nn.Module):
    """An ONNX graph run with torch ops, so gradients flow to its inputs.

    forward(*inputs) takes the graph's non-initializer inputs in order and returns its single
    output, or a tuple when the graph has several.
    """

    def __init__(self, model: onnx.ModelProto, *, source: str = "<onnx>", check: bool = True):
        super().__init__()
        if check:
            check_onnx_model(model, source)
        missing = unsupported_ops(model)
        if missing:
            raise ClassifierError(
                f"ONNX classifier {source} uses operator(s) {missing} that the stylex ONNX "
                f"interpreter does not support; export the classifier as TorchScript "
                f"(torch.jit.script / torch.jit.trace) instead"
            )
        opset = max(
            (imp.version for imp in model.opset_import if imp.domain in _DEFAULT_DOMAINS),
            default=1,
        )
        graph = model.graph
        # Buffer names must be Python identifiers, ONNX value names need not be.
        self._buffer_of: dict[str, str] = {}
        for init in graph.initializer:
            self._add_constant(init.name, _to_torch(init, source))
        self._nodes: list[_Node] = []
        for i, node in enumerate(graph.node):
            name = node.name or f"{node.op_type}_{i}"
            attrs = {a.name: _attr_value(a, source) for a in node.attribute}
            if node.op_type == "Constant":
                self._add_constant(node.output[0], _constant_value(name, attrs))
                continue
            self._nodes.append(
                _Node(node.op_type, name, list(node.input), list(node.output), attrs, opset)
            )
        self.input_names = [i.name for i in graph.input if i.name not in self._buffer_of]
        self.output_names = [o.name for o in graph.output]

    def _add_constant(self, onnx_name: str, value: Tensor) -> None:
        buffer_name = f"_const{len(self._buffer_of)}"
        self.register_buffer(buffer_name, value, persistent=False)
        self._buffer_of[onnx_name] = buffer_name

    def forward(self, *inputs: Tensor) -> Tensor | tuple[Tensor, ...]:
        if len(inputs) != len(self.input_names):
            raise ClassifierError(
                f"ONNX graph takes {len(self.input_names)} input(s) {self.input_names}, "
                f"got {len(inputs)}"
            )
        env: dict[str, Tensor] = {k: getattr(self, v) for k, v in self._buffer_of.items()}
        env.update(zip(self.input_names, inputs, strict=True))
        for node in self._nodes:
            args = [env[name] if name else None for name in node.inputs]
            result = _OPS[node.op_type](node, *args)
            results = result if isinstance(result, tuple) else (result,)
            for name, value in zip(node.outputs, results, strict=False):
                if name:
                    env[name] = value
        outputs = tuple(env[name] for name in self.output_names)
        return outputs[0] if len(outputs) == 1 else outputs


def onnx_to_torch(model: onnx.ModelProto, *, source: str = "<onnx>") -> torch.nn.Module:
    """A torch module running `model`: the interpreter, else `onnx2torch` if it is installed.

    onnx2torch is only a fallback for operators the interpreter lacks; it is optional and
    imported lazily because it is heavy.
    """
    check_onnx_model(model, source)
    missing = unsupported_ops(model)
    if not missing:
        return OnnxModule(model, source=source, check=False)
    try:
        import onnx2torch  # type: ignore[import-not-found]
    except ImportError:
        return OnnxModule(model, source=source, check=False)  # raises, naming the ops
    try:
        return onnx2torch.convert(model)
    except Exception as e:
        raise ClassifierError(
            f"ONNX classifier {source} uses operator(s) {missing} that the stylex ONNX "
            f"interpreter does not support, and onnx2torch failed on it too ({e}); export the "
            f"classifier as TorchScript instead"
        ) from None


# ---------------------------------------------------------------------------------------------
# Conversion of initializers and attributes.


def _to_torch(tensor: onnx.TensorProto, source: str) -> Tensor:
    try:
        array = numpy_helper.to_array(tensor)
        return torch.from_numpy(array.copy())
    except Exception as e:
        raise ClassifierError(
            f"ONNX classifier {source}: cannot read tensor '{tensor.name}' "
            f"(data type {onnx.TensorProto.DataType.Name(tensor.data_type)}): {e}"
        ) from None


def _attr_value(attr: onnx.AttributeProto, source: str) -> Any:
    value = onnx.helper.get_attribute_value(attr)
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, onnx.TensorProto):
        return _to_torch(value, source)
    return value


def _constant_value(name: str, attrs: dict[str, Any]) -> Tensor:
    if "value" in attrs:
        return attrs["value"]
    if "value_float" in attrs:
        return torch.tensor(attrs["value_float"], dtype=torch.float32)
    if "value_floats" in attrs:
        return torch.tensor(attrs["value_floats"], dtype=torch.float32)
    if "value_int" in attrs:
        return torch.tensor(attrs["value_int"], dtype=torch.int64)
    if "value_ints" in attrs:
        return torch.tensor(attrs["value_ints"], dtype=torch.int64)
    raise ClassifierError(
        f"ONNX node '{name}' (Constant): attribute(s) {sorted(attrs)} are not supported; "
        f"expected value, value_float(s) or value_int(s)"
    )


def _ints(t: Tensor | None) -> list[int] | None:
    return None if t is None else [int(v) for v in t.reshape(-1).tolist()]


def _axes(node: _Node, t: Tensor | None, first_input_opset: int) -> list[int] | None:
    """Axes from the input (newer opsets) or the attribute (older ones)."""
    if node.opset >= first_input_opset:
        return _ints(t)
    axes = node.attrs.get("axes")
    return None if axes is None else list(axes)


# ---------------------------------------------------------------------------------------------
# Elementwise.

_UNARY: dict[str, Callable[[Tensor], Tensor]] = {
    "Relu": torch.relu,
    "Sigmoid": torch.sigmoid,
    "Tanh": torch.tanh,
    "Erf": torch.erf,
    "Sqrt": torch.sqrt,
    "Exp": torch.exp,
    "Log": torch.log,
    "Neg": torch.neg,
    "Abs": torch.abs,
    "Reciprocal": torch.reciprocal,
    "Floor": torch.floor,
    "Ceil": torch.ceil,
    "Sign": torch.sign,
    "Softplus": F.softplus,
    "Softsign": F.softsign,
    "Mish": F.mish,
    "HardSwish": F.hardswish,
    "Not": torch.logical_not,
    "Identity": lambda x: x,
}


def _unary(node: _Node, x: Tensor) -> Tensor:
    return _UNARY[node.op_type](x)


_op(*_UNARY)(_unary)

_BINARY: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "Add": torch.add,
    "Sub": torch.sub,
    "Mul": torch.mul,
    "Equal": torch.eq,
    "Less": torch.lt,
    "LessOrEqual": torch.le,
    "Greater": torch.gt,
    "GreaterOrEqual": torch.ge,
    "And": torch.logical_and,
    "Or": torch.logical_or,
    "MatMul": torch.matmul,
}


def _binary(node: _Node, a: Tensor, b: Tensor) -> Tensor:
    return _BINARY[node.op_type](a, b)


_op(*_BINARY)(_binary)


@_op("Div")
def _div(node: _Node, a: Tensor, b: Tensor) -> Tensor:
    # ONNX integer division truncates; torch.div would promote to float.
    if not a.is_floating_point() and not b.is_floating_point():
        return torch.div(a, b, rounding_mode="trunc")
    return a / b


@_op("Pow")
def _pow(node: _Node, a: Tensor, b: Tensor) -> Tensor:
    return torch.pow(a, b).to(a.dtype)  # ONNX Pow keeps the base's type


@_op("Max", "Min", "Sum", "Mean")
def _variadic(node: _Node, *xs: Tensor) -> Tensor:
    fn = {"Max": torch.maximum, "Min": torch.minimum}.get(node.op_type, torch.add)
    y = functools.reduce(fn, xs)
    return y / len(xs) if node.op_type == "Mean" else y


@_op("Where")
def _where(node: _Node, cond: Tensor, a: Tensor, b: Tensor) -> Tensor:
    return torch.where(cond, a, b)


@_op("LeakyRelu")
def _leaky_relu(node: _Node, x: Tensor) -> Tensor:
    return F.leaky_relu(x, node.attrs.get("alpha", 0.01))


@_op("Elu")
def _elu(node: _Node, x: Tensor) -> Tensor:
    return F.elu(x, node.attrs.get("alpha", 1.0))


@_op("Selu")
def _selu(node: _Node, x: Tensor) -> Tensor:
    alpha = node.attrs.get("alpha", 1.67326319217681884765625)
    gamma = node.attrs.get("gamma", 1.05070102214813232421875)
    return gamma * torch.where(x > 0, x, alpha * (torch.exp(x) - 1))


@_op("PRelu")
def _prelu(node: _Node, x: Tensor, slope: Tensor) -> Tensor:
    return torch.where(x < 0, x * slope, x)


@_op("HardSigmoid")
def _hard_sigmoid(node: _Node, x: Tensor) -> Tensor:
    alpha = node.attrs.get("alpha", 0.2)
    beta = node.attrs.get("beta", 0.5)
    return torch.clamp(alpha * x + beta, 0.0, 1.0)


@_op("Gelu")
def _gelu(node: _Node, x: Tensor) -> Tensor:
    return F.gelu(x, approximate=node.attrs.get("approximate", "none"))


@_op("Clip")
def _clip(node: _Node, x: Tensor, lo: Tensor | None = None, hi: Tensor | None = None) -> Tensor:
    if node.opset < 11:
        lo_v, hi_v = node.attrs.get("min"), node.attrs.get("max")
        return torch.clamp(x, lo_v, hi_v)
    return torch.clamp(x, lo, hi)


@_op("Softmax", "LogSoftmax")
def _softmax(node: _Node, x: Tensor) -> Tensor:
    fn = torch.softmax if node.op_type == "Softmax" else torch.log_softmax
    if node.opset >= 13:
        return fn(x, dim=node.attrs.get("axis", -1))
    # Before opset 13 the input is coerced to 2-D at `axis` and normalised over the tail.
    axis = node.attrs.get("axis", 1) % max(x.ndim, 1)
    return fn(x.reshape(math.prod(x.shape[:axis]), -1), dim=1).reshape(x.shape)


@_op("Cast")
def _cast(node: _Node, x: Tensor) -> Tensor:
    to = node.attrs["to"]
    if to not in _DTYPES:
        raise node.fail(f"to={onnx.TensorProto.DataType.Name(to)}")
    return x.to(_DTYPES[to])


@_op("CastLike")
def _cast_like(node: _Node, x: Tensor, like: Tensor) -> Tensor:
    return x.to(like.dtype)


@_op("Dropout")
def _dropout(node: _Node, x: Tensor, *_: Tensor | None) -> Tensor | tuple[Tensor, ...]:
    # Inference: dropout is the identity, the optional mask keeps everything.
    if len(node.outputs) > 1 and node.outputs[1]:
        return x, torch.ones_like(x, dtype=torch.bool)
    return x


@_op("Einsum")
def _einsum(node: _Node, *xs: Tensor) -> Tensor:
    return torch.einsum(node.attrs["equation"], *xs)


# ---------------------------------------------------------------------------------------------
# Shapes and indexing.


@_op("Shape")
def _shape(node: _Node, x: Tensor) -> Tensor:
    dims = list(x.shape)[node.attrs.get("start", 0) : node.attrs.get("end", x.ndim)]
    return torch.tensor(dims, dtype=torch.int64, device=x.device)


@_op("Size")
def _size(node: _Node, x: Tensor) -> Tensor:
    return torch.tensor(x.numel(), dtype=torch.int64, device=x.device)


@_op("Flatten")
def _flatten(node: _Node, x: Tensor) -> Tensor:
    axis = node.attrs.get("axis", 1)
    axis = axis + x.ndim if axis < 0 else axis
    return x.reshape(math.prod(x.shape[:axis]), math.prod(x.shape[axis:]))


@_op("Reshape")
def _reshape(node: _Node, x: Tensor, shape: Tensor) -> Tensor:
    dims = _ints(shape) or []
    if not node.attrs.get("allowzero", 0):
        # 0 copies the input's size at that position (unless allowzero asks for a real 0).
        dims = [x.shape[i] if d == 0 else d for i, d in enumerate(dims)]
    return x.reshape(dims)


@_op("Transpose")
def _transpose(node: _Node, x: Tensor) -> Tensor:
    perm = node.attrs.get("perm", list(reversed(range(x.ndim))))
    return x.permute(*perm)


@_op("Squeeze")
def _squeeze(node: _Node, x: Tensor, axes_t: Tensor | None = None) -> Tensor:
    axes = _axes(node, axes_t, 13)
    if axes is None:
        return x.squeeze()
    return x.squeeze(tuple(a % x.ndim for a in axes)) if axes else x


@_op("Unsqueeze")
def _unsqueeze(node: _Node, x: Tensor, axes_t: Tensor | None = None) -> Tensor:
    axes = _axes(node, axes_t, 13) or []
    rank = x.ndim + len(axes)
    for a in sorted(a % rank for a in axes):
        x = x.unsqueeze(a)
    return x


@_op("Concat")
def _concat(node: _Node, *xs: Tensor) -> Tensor:
    return torch.cat(xs, dim=node.attrs["axis"])


@_op("Split")
def _split(node: _Node, x: Tensor, split_t: Tensor | None = None) -> tuple[Tensor, ...]:
    axis = node.attrs.get("axis", 0)
    sizes = _ints(split_t) if node.opset >= 13 else node.attrs.get("split")
    if not sizes:
        parts = node.attrs.get("num_outputs", len(node.outputs))
        chunk = -(-x.shape[axis] // parts)  # ceil: the last part may be smaller
        sizes = [min(chunk, x.shape[axis] - i * chunk) for i in range(parts)]
    return tuple(torch.split(x, list(sizes), dim=axis))


@_op("Expand")
def _expand(node: _Node, x: Tensor, shape: Tensor) -> Tensor:
    # ONNX Expand broadcasts both ways: a 1 in `shape` keeps the input's size.
    return x.expand(torch.broadcast_shapes(x.shape, tuple(_ints(shape) or [])))


@_op("Tile")
def _tile(node: _Node, x: Tensor, repeats: Tensor) -> Tensor:
    return x.repeat(*(_ints(repeats) or []))


@_op("ConstantOfShape")
def _constant_of_shape(node: _Node, shape: Tensor) -> Tensor:
    value = node.attrs.get("value", torch.zeros(1, dtype=torch.float32))
    return torch.full(_ints(shape) or [], value.item(), dtype=value.dtype, device=shape.device)


@_op("Range")
def _range(node: _Node, start: Tensor, limit: Tensor, delta: Tensor) -> Tensor:
    return torch.arange(start.item(), limit.item(), delta.item(), dtype=start.dtype).to(
        start.device
    )


@_op("Gather")
def _gather(node: _Node, x: Tensor, indices: Tensor) -> Tensor:
    axis = node.attrs.get("axis", 0) % x.ndim
    idx = indices.long()
    idx = torch.where(idx < 0, idx + x.shape[axis], idx)
    out = x.index_select(axis, idx.reshape(-1))
    return out.reshape((*x.shape[:axis], *idx.shape, *x.shape[axis + 1 :]))


@_op("GatherElements")
def _gather_elements(node: _Node, x: Tensor, indices: Tensor) -> Tensor:
    axis = node.attrs.get("axis", 0) % x.ndim
    idx = indices.long()
    return torch.gather(x, axis, torch.where(idx < 0, idx + x.shape[axis], idx))


@_op("Slice")
def _slice(
    node: _Node,
    x: Tensor,
    starts_t: Tensor | None = None,
    ends_t: Tensor | None = None,
    axes_t: Tensor | None = None,
    steps_t: Tensor | None = None,
) -> Tensor:
    if node.opset >= 10:
        starts, ends = _ints(starts_t) or [], _ints(ends_t) or []
        axes, steps = _ints(axes_t), _ints(steps_t)
    else:
        starts, ends = node.attrs["starts"], node.attrs["ends"]
        axes, steps = node.attrs.get("axes"), None
    axes = axes if axes is not None else list(range(len(starts)))
    steps = steps if steps is not None else [1] * len(starts)
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
        dim = x.shape[axis]
        start = start + dim if start < 0 else start
        end = end + dim if end < 0 else end
        if step == 1:
            start, end = min(max(start, 0), dim), min(max(end, 0), dim)
            x = x.narrow(axis, start, max(end - start, 0))
            continue
        if step > 0:
            start, end = min(max(start, 0), dim), min(max(end, 0), dim)
        else:
            # Walking backwards, an end of -1 after clamping means "through index 0".
            start, end = min(max(start, 0), dim - 1), min(max(end, -1), dim - 1)
        x = x.index_select(axis, torch.arange(start, end, step, device=x.device))
    return x


@_op("Pad")
def _pad(
    node: _Node,
    x: Tensor,
    pads_t: Tensor | None = None,
    value_t: Tensor | None = None,
    axes_t: Tensor | None = None,
) -> Tensor:
    if node.opset >= 11:
        pads = _ints(pads_t) or []
        value = 0.0 if value_t is None else value_t.item()
    else:
        pads, value = list(node.attrs["pads"]), node.attrs.get("value", 0.0)
    axes = _ints(axes_t) if axes_t is not None else list(range(x.ndim))
    axes = [a % x.ndim for a in axes]
    per_dim = [(0, 0)] * x.ndim
    for i, a in enumerate(axes):
        per_dim[a] = (pads[i], pads[i + len(axes)])
    mode = node.attrs.get("mode", "constant")
    if mode == "constant":
        flat = [p for pair in reversed(per_dim) for p in pair]
        return F.pad(x, flat, value=value)
    torch_mode = {"reflect": "reflect", "edge": "replicate", "wrap": "circular"}.get(mode)
    padded = [d for d, p in enumerate(per_dim) if p != (0, 0)]
    if torch_mode is None or not padded or min(padded) < 2 or x.ndim - 2 > 3:
        if not padded:
            return x
        raise node.fail(f"mode={mode} on axes {padded}")
    # torch pads only the trailing (spatial) dims in these modes.
    flat = [p for pair in reversed(per_dim[2:]) for p in pair]
    return F.pad(x, flat, mode=torch_mode)


# ---------------------------------------------------------------------------------------------
# Dense, convolution, pooling.


@_op("Gemm")
def _gemm(node: _Node, a: Tensor, b: Tensor, c: Tensor | None = None) -> Tensor:
    if node.attrs.get("transA", 0):
        a = a.t()
    if node.attrs.get("transB", 0):
        b = b.t()
    y = a @ b
    alpha, beta = node.attrs.get("alpha", 1.0), node.attrs.get("beta", 1.0)
    if alpha != 1.0:
        y = alpha * y
    if c is not None:
        y = y + (c if beta == 1.0 else beta * c)
    return y


def _spatial_pads(
    node: _Node,
    in_sizes: Sequence[int],
    kernel: Sequence[int],
    strides: Sequence[int],
    dilations: Sequence[int],
) -> list[int]:
    """ONNX pads [begin_1..begin_n, end_1..end_n], resolving auto_pad."""
    nd = len(in_sizes)
    auto_pad = node.attrs.get("auto_pad", "NOTSET")
    if auto_pad == "NOTSET":
        return list(node.attrs.get("pads", [0] * (2 * nd)))
    if auto_pad == "VALID":
        return [0] * (2 * nd)
    if auto_pad not in ("SAME_UPPER", "SAME_LOWER"):
        raise node.fail(f"auto_pad={auto_pad}")
    begins, ends = [], []
    for size, k, s, d in zip(in_sizes, kernel, strides, dilations, strict=True):
        total = max(0, (-(-size // s) - 1) * s + (k - 1) * d + 1 - size)
        small, large = total // 2, total - total // 2
        begins.append(small if auto_pad == "SAME_UPPER" else large)
        ends.append(large if auto_pad == "SAME_UPPER" else small)
    return begins + ends


def _torch_pad(pads: Sequence[int]) -> list[int]:
    """ONNX [b1..bn, e1..en] -> torch F.pad order (last dim first)."""
    nd = len(pads) // 2
    return [p for i in reversed(range(nd)) for p in (pads[i], pads[i + nd])]


def _native_padding(pads: Sequence[int], kernel: Sequence[int]) -> list[int] | None:
    """The symmetric padding torch pooling can take itself, or None."""
    nd = len(pads) // 2
    begins, ends = list(pads[:nd]), list(pads[nd:])
    if begins == ends and all(p <= k // 2 for p, k in zip(begins, kernel, strict=True)):
        return begins
    return None


def _conv_fn(node: _Node, nd: int, transpose: bool = False) -> Callable[..., Tensor]:
    fns = (
        {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
        if transpose
        else {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
    )
    if nd not in fns:
        raise node.fail(f"{nd}-D input")
    return fns[nd]


@_op("Conv")
def _conv(node: _Node, x: Tensor, w: Tensor, b: Tensor | None = None) -> Tensor:
    nd = x.ndim - 2
    kernel = list(w.shape[2:])
    strides = node.attrs.get("strides", [1] * nd)
    dilations = node.attrs.get("dilations", [1] * nd)
    pads = _spatial_pads(node, x.shape[2:], kernel, strides, dilations)
    if pads[:nd] == pads[nd:]:
        padding = pads[:nd]
    else:
        x, padding = F.pad(x, _torch_pad(pads)), [0] * nd
    return _conv_fn(node, nd)(x, w, b, strides, padding, dilations, node.attrs.get("group", 1))


@_op("ConvTranspose")
def _conv_transpose(node: _Node, x: Tensor, w: Tensor, b: Tensor | None = None) -> Tensor:
    nd = x.ndim - 2
    if node.attrs.get("auto_pad", "NOTSET") != "NOTSET" or "output_shape" in node.attrs:
        raise node.fail("auto_pad / output_shape")
    strides = node.attrs.get("strides", [1] * nd)
    dilations = node.attrs.get("dilations", [1] * nd)
    out_pad = node.attrs.get("output_padding", [0] * nd)
    pads = node.attrs.get("pads", [0] * (2 * nd))
    fn = _conv_fn(node, nd, transpose=True)
    y = fn(x, w, b, strides, 0, out_pad, node.attrs.get("group", 1), dilations)
    # ONNX pads crop the full transposed output, possibly asymmetrically.
    for i in range(nd):
        begin, end = pads[i], pads[i + nd]
        y = y.narrow(2 + i, begin, y.shape[2 + i] - begin - end)
    return y


def _pool_args(node: _Node, x: Tensor) -> tuple[int, list[int], list[int], list[int], list[int]]:
    nd = x.ndim - 2
    if nd not in (1, 2, 3):
        raise node.fail(f"{nd}-D input")
    kernel = list(node.attrs["kernel_shape"])
    strides = list(node.attrs.get("strides", [1] * nd))
    dilations = list(node.attrs.get("dilations", [1] * nd))
    pads = _spatial_pads(node, x.shape[2:], kernel, strides, dilations)
    return nd, kernel, strides, dilations, pads


@_op("MaxPool")
def _max_pool(node: _Node, x: Tensor) -> Tensor:
    if len(node.outputs) > 1 and node.outputs[1]:
        raise node.fail("the Indices output")
    nd, kernel, strides, dilations, pads = _pool_args(node, x)
    ceil_mode = bool(node.attrs.get("ceil_mode", 0))
    padding = _native_padding(pads, kernel)
    if padding is None:
        x, padding = F.pad(x, _torch_pad(pads), value=-math.inf), [0] * nd
    fn = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[nd]
    return fn(x, kernel, strides, padding, dilations, ceil_mode)


@_op("AveragePool")
def _avg_pool(node: _Node, x: Tensor) -> Tensor:
    nd, kernel, strides, dilations, pads = _pool_args(node, x)
    if any(d != 1 for d in dilations):
        raise node.fail(f"dilations={dilations}")
    ceil_mode = bool(node.attrs.get("ceil_mode", 0))
    include_pad = bool(node.attrs.get("count_include_pad", 0))
    fn = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}[nd]
    padding = _native_padding(pads, kernel)
    if padding is not None:
        return fn(x, kernel, strides, padding, ceil_mode, include_pad)
    if include_pad:
        return fn(F.pad(x, _torch_pad(pads)), kernel, strides, 0, ceil_mode, True)
    if nd == 1:
        raise node.fail("asymmetric pads with count_include_pad=0 on 1-D input")
    # Asymmetric pads that must not count: window sums divided by the real pixels in each.
    ones = torch.ones_like(x[:1, :1])
    total = fn(F.pad(x, _torch_pad(pads)), kernel, strides, 0, ceil_mode, True, 1)
    count = fn(F.pad(ones, _torch_pad(pads)), kernel, strides, 0, ceil_mode, True, 1)
    return total / count


@_op("GlobalAveragePool", "GlobalMaxPool")
def _global_pool(node: _Node, x: Tensor) -> Tensor:
    dims = tuple(range(2, x.ndim))
    if node.op_type == "GlobalAveragePool":
        return x.mean(dim=dims, keepdim=True)
    return x.amax(dim=dims, keepdim=True)


_REDUCE: dict[str, tuple[Callable[..., Tensor], int]] = {
    # op -> (torch reduction, first opset taking axes as an input)
    "ReduceMean": (torch.mean, 18),
    "ReduceSum": (torch.sum, 13),
    "ReduceMax": (torch.amax, 18),
    "ReduceMin": (torch.amin, 18),
}


@_op(*_REDUCE)
def _reduce(node: _Node, x: Tensor, axes_t: Tensor | None = None) -> Tensor:
    fn, axes_input_opset = _REDUCE[node.op_type]
    axes = _axes(node, axes_t, axes_input_opset)
    if not axes:
        if node.attrs.get("noop_with_empty_axes", 0):
            return x
        axes = list(range(x.ndim))
    return fn(x, dim=tuple(axes), keepdim=bool(node.attrs.get("keepdims", 1)))


# ---------------------------------------------------------------------------------------------
# Normalisation.


def _channel_view(t: Tensor, ndim: int) -> Tensor:
    return t.reshape(1, -1, *([1] * (ndim - 2)))


@_op("BatchNormalization")
def _batch_norm(
    node: _Node, x: Tensor, scale: Tensor, bias: Tensor, mean: Tensor, var: Tensor
) -> Tensor:
    if node.attrs.get("training_mode", 0) or any(node.outputs[1:]):
        raise node.fail("training_mode")
    # Inference with running statistics only: the classifier is frozen inside StylEx.
    inv = scale / torch.sqrt(var + node.attrs.get("epsilon", 1e-5))
    return (x - _channel_view(mean, x.ndim)) * _channel_view(inv, x.ndim) + _channel_view(
        bias, x.ndim
    )


@_op("InstanceNormalization")
def _instance_norm(node: _Node, x: Tensor, scale: Tensor, bias: Tensor) -> Tensor:
    return F.instance_norm(x, weight=scale, bias=bias, eps=node.attrs.get("epsilon", 1e-5))


@_op("GroupNormalization")
def _group_norm(node: _Node, x: Tensor, scale: Tensor, bias: Tensor) -> Tensor:
    # Per-channel scale and bias (opset 21); the per-group opset-18 form is deprecated and
    # rejected by the ONNX checker before it gets here.
    y = F.group_norm(x, node.attrs["num_groups"], eps=node.attrs.get("epsilon", 1e-5))
    return y * _channel_view(scale, x.ndim) + _channel_view(bias, x.ndim)


@_op("LayerNormalization")
def _layer_norm(
    node: _Node, x: Tensor, scale: Tensor, bias: Tensor | None = None
) -> Tensor | tuple[Tensor, ...]:
    axis = node.attrs.get("axis", -1) % x.ndim
    dims = tuple(range(axis, x.ndim))
    mean = x.mean(dim=dims, keepdim=True)
    var = (x - mean).square().mean(dim=dims, keepdim=True)
    inv_std = torch.rsqrt(var + node.attrs.get("epsilon", 1e-5))
    y = (x - mean) * inv_std * scale
    if bias is not None:
        y = y + bias
    return y, mean, inv_std


# ---------------------------------------------------------------------------------------------
# Resize.


@_op("Resize")
def _resize(
    node: _Node,
    x: Tensor,
    roi: Tensor | None = None,
    scales: Tensor | None = None,
    sizes: Tensor | None = None,
) -> Tensor:
    if node.opset < 11:
        scales, sizes = roi, None  # opset 10: Resize(X, scales)
    nd = x.ndim - 2
    if nd not in (1, 2, 3) or "axes" in node.attrs:
        raise node.fail(f"{nd}-D input or the axes attribute")
    size_list = _ints(sizes) if sizes is not None and sizes.numel() else None
    scale_list = scales.reshape(-1).tolist() if scales is not None and scales.numel() else None
    if size_list is not None:
        if size_list[:2] != list(x.shape[:2]):
            raise node.fail(f"resizing batch or channel dims to {size_list[:2]}")
        target: dict[str, Any] = {"size": size_list[2:]}
    elif scale_list is not None:
        if scale_list[:2] != [1.0, 1.0]:
            raise node.fail(f"scales {scale_list[:2]} on batch or channel dims")
        target = {"scale_factor": scale_list[2:], "recompute_scale_factor": False}
    else:
        raise node.fail("a Resize without scales or sizes")
    mode = node.attrs.get("mode", "nearest")
    coord = node.attrs.get("coordinate_transformation_mode", "half_pixel")
    antialias = bool(node.attrs.get("antialias", 0))
    if mode == "nearest":
        nearest = node.attrs.get("nearest_mode", "round_prefer_floor")
        if coord == "asymmetric" and nearest == "floor":
            return F.interpolate(x, mode="nearest", **target)
        if coord in ("half_pixel", "pytorch_half_pixel") and nearest == "round_prefer_ceil":
            return F.interpolate(x, mode="nearest-exact", **target)
        raise node.fail(f"nearest resize with {coord} / {nearest}")
    if mode in ("linear", "cubic"):
        if mode == "cubic" and (
            nd != 2
            or node.attrs.get("cubic_coeff_a", -0.75) != -0.75
            or node.attrs.get("exclude_outside", 0)
        ):
            raise node.fail("cubic resize other than torch's bicubic")
        if coord not in ("half_pixel", "pytorch_half_pixel", "align_corners"):
            raise node.fail(f"coordinate_transformation_mode={coord}")
        torch_mode = "bicubic" if mode == "cubic" else ("linear", "bilinear", "trilinear")[nd - 1]
        return F.interpolate(
            x,
            mode=torch_mode,
            align_corners=coord == "align_corners",
            antialias=antialias,
            **target,
        )
    raise node.fail(f"mode={mode}")
