"""A small differentiable ONNX interpreter: runs an ONNX graph node by node with torch ops.

StylEx backpropagates the classifier's KL loss into the generator, so a user's ONNX classifier
must run inside autograd; ONNX Runtime cannot give input gradients. The interpreter covers the
operators that `torch.onnx.export` emits for ordinary image classifiers (opsets 13-21, older
attribute forms where cheap). Initializers and Constant nodes become buffers, so `.to(device)`
moves them; shape arithmetic (Shape, Gather, Concat, Reshape) runs eagerly on int64 tensors.

`graph` walks the nodes; `registry` maps each operator type to a function, and each family
module below fills it when imported.
"""

from stylex.classifiers.onnx_torch import (  # noqa: F401  (importing registers the operators)
    activations,
    arithmetic,
    conv,
    creation,
    identity,
    indexing,
    linear,
    logic,
    normalization,
    pad,
    pooling,
    reductions,
    resize,
    shape,
)
from stylex.classifiers.onnx_torch.graph import (
    OnnxModule,
    check_onnx_model,
    onnx_to_torch,
    supported_ops,
    unsupported_ops,
)

__all__ = [
    "OnnxModule",
    "check_onnx_model",
    "onnx_to_torch",
    "supported_ops",
    "unsupported_ops",
]
