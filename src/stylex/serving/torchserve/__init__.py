"""TorchServe: the work behind `handlers/stylex_handler.py` (request decoding, batched explain,
JSON responses) and `stylex archive` (the .mar and its config.properties)."""

from stylex.serving.torchserve.requests import TorchServeRequest, decode_request
from stylex.serving.torchserve.service import TorchServeExplainer

__all__ = [
    "TorchServeExplainer",
    "TorchServeRequest",
    "decode_request",
]
