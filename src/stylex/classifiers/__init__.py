"""Classifiers that StylEx explains: loading users' TorchScript / ONNX files, the built-in CNN.

A classifier file always travels with a JSON sidecar named `<file>.json` (see `spec.py`).
"""

from stylex.classifiers.cnn import SmallCNN
from stylex.classifiers.loading import (
    Classifier,
    check_classifier,
    freeze,
    load_classifier,
)
from stylex.classifiers.onnx_torch import OnnxModule, onnx_to_torch, supported_ops, unsupported_ops
from stylex.classifiers.spec import ClassifierSpec, sidecar_path
from stylex.classifiers.train import fit_classifier, train_classifier

__all__ = [
    "Classifier",
    "ClassifierSpec",
    "OnnxModule",
    "SmallCNN",
    "check_classifier",
    "fit_classifier",
    "freeze",
    "load_classifier",
    "onnx_to_torch",
    "sidecar_path",
    "supported_ops",
    "train_classifier",
    "unsupported_ops",
]
