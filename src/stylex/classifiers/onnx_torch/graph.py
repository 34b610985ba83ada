"""Running an ONNX graph: the torch module that walks the nodes, and the checks before it runs."""

from __future__ import annotations

import onnx
import torch
from torch import Tensor

from stylex.classifiers.onnx_torch.registry import OPS, Node
from stylex.classifiers.onnx_torch.tensors import attr_value, constant_value, to_torch
from stylex.errors import ClassifierError

_DEFAULT_DOMAINS = ("", "ai.onnx")


def supported_ops() -> list[str]:
    """Operator types (default ONNX domain) the interpreter can run."""
    return sorted([*OPS, "Constant"])


def live_nodes(graph: onnx.GraphProto) -> list[int]:
    """Indices of the nodes an output depends on, in graph order. torch.onnx.export leaves
    checks whose result nothing reads (e.g. a `Loop` over a shape in group normalization);
    they need not run, so they need not be supported."""
    needed = {o.name for o in graph.output}
    keep = []
    nodes = list(graph.node)
    for i in range(len(nodes) - 1, -1, -1):
        if any(name in needed for name in nodes[i].output):
            keep.append(i)
            needed.update(name for name in nodes[i].input if name)
    return keep[::-1]


def unsupported_ops(model: onnx.ModelProto) -> list[str]:
    """Operator types in `model` the interpreter cannot run (nodes no output depends on are
    never run, see `live_nodes`); other domains are prefixed."""
    missing = set()
    nodes = list(model.graph.node)
    for node in (nodes[i] for i in live_nodes(model.graph)):
        if node.domain not in _DEFAULT_DOMAINS:
            missing.add(f"{node.domain}.{node.op_type}")
        elif node.op_type not in OPS and node.op_type != "Constant":
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
            self._add_constant(init.name, to_torch(init, source))
        self._nodes: list[Node] = []
        live = set(live_nodes(graph))
        for i, node in enumerate(graph.node):
            if i not in live:
                continue
            name = node.name or f"{node.op_type}_{i}"
            attrs = {a.name: attr_value(a, source) for a in node.attribute}
            if node.op_type == "Constant":
                self._add_constant(node.output[0], constant_value(name, attrs))
                continue
            self._nodes.append(
                Node(node.op_type, name, list(node.input), list(node.output), attrs, opset)
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
            result = OPS[node.op_type](node, *args)
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
