"""ONNX tensors and attributes as torch values: initializers, attribute tensors, Constant nodes."""

from __future__ import annotations

from typing import Any

import onnx
import torch
from onnx import numpy_helper
from torch import Tensor

from stylex.errors import ClassifierError

DTYPES: dict[int, torch.dtype] = {
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


def to_torch(tensor: onnx.TensorProto, source: str) -> Tensor:
    try:
        array = numpy_helper.to_array(tensor)
        return torch.from_numpy(array.copy())
    except Exception as e:
        raise ClassifierError(
            f"ONNX classifier {source}: cannot read tensor '{tensor.name}' "
            f"(data type {onnx.TensorProto.DataType.Name(tensor.data_type)}): {e}"
        ) from None


def attr_value(attr: onnx.AttributeProto, source: str) -> Any:
    value = onnx.helper.get_attribute_value(attr)
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, onnx.TensorProto):
        return to_torch(value, source)
    return value


def constant_value(name: str, attrs: dict[str, Any]) -> Tensor:
    """The value of a Constant node, which the graph keeps as a buffer."""
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
