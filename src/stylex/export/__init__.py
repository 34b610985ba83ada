"""ONNX export of a trained run into a versioned model directory (`stylex export`)."""

from stylex.export.parity import graph_parity
from stylex.export.store import export_model, export_run

__all__ = ["export_model", "export_run", "graph_parity"]
