"""Choosing the torch device from a user's setting ('auto', 'cpu', 'cuda', 'cuda:1', ...)."""

from __future__ import annotations

import torch

from stylex.errors import ConfigError


def pick_device(spec: str) -> torch.device:
    """'auto' = the first GPU when there is one, else the CPU. A CUDA device that is not there
    is an error, not a silent fallback."""
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except RuntimeError as exc:
        raise ConfigError(f"device {spec!r} is not a torch device ({exc})") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {spec!r} requested but CUDA is not available here")
    return device
