"""Inference engines: one interface (`InferenceEngine`), a PyTorch and an ONNX Runtime backend,
and the model directory format they load."""

from stylex.runtime.engine import InferenceEngine
from stylex.runtime.model_dir import (
    MANIFEST_NAME,
    SCHEMA_VERSION,
    ModelDir,
    ModelDirError,
    read_model_dir,
)
from stylex.runtime.ort_engine import OrtEngine, choose_providers
from stylex.runtime.threads import cpu_limit
from stylex.runtime.torch_engine import TorchEngine

__all__ = [
    "MANIFEST_NAME",
    "SCHEMA_VERSION",
    "InferenceEngine",
    "ModelDir",
    "ModelDirError",
    "OrtEngine",
    "TorchEngine",
    "choose_providers",
    "cpu_limit",
    "read_model_dir",
]
