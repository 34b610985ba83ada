"""Tensors -> images, once for every caller: encoding a tensor as PNG / JPEG bytes or a file,
saving a grid of samples. (Decoding is `stylex.data.decode`.)"""

from __future__ import annotations

import io
import math
import os

import numpy as np
import torch
from PIL import Image

from stylex.errors import DataError, InvalidArgumentError
from stylex.fileio import atomic_path, write_bytes

# Formats of the images stylex returns; "none" returns no image bytes at all.
IMAGE_FORMATS = ("png", "jpeg", "none")


def check_image_format(image_format: str) -> str:
    """`image_format` if stylex returns images in it, else InvalidArgumentError."""
    if image_format not in IMAGE_FORMATS:
        raise InvalidArgumentError(
            f"image format {image_format!r} unknown; expected one of {list(IMAGE_FORMATS)}"
        )
    return image_format


def encode_image(x: torch.Tensor, image_format: str = "png") -> bytes:
    """x [3,H,W] in [-1, 1] -> PNG or JPEG bytes; b"" for "none". The one image encoder of
    every transport, file writer and report."""
    if check_image_format(image_format) == "none":
        return b""
    buf = io.BytesIO()
    Image.fromarray(to_uint8_image(x)).save(buf, format=image_format.upper())
    return buf.getvalue()


def write_png(x: torch.Tensor, path: str | os.PathLike[str]) -> None:
    """Write x [3,H,W] in [-1, 1] as a PNG file, atomically (never a half-written file)."""
    write_bytes(path, encode_image(x, "png"))


def to_uint8_image(x: torch.Tensor) -> np.ndarray:
    """Convert x [3,H,W] or [N,3,H,W] in [-1, 1] to uint8 [H,W,3] or [N,H,W,3] (clamped)."""
    if x.ndim not in (3, 4) or x.shape[-3] != 3 or not x.is_floating_point():
        raise DataError(
            f"image tensor of shape {tuple(x.shape)} and dtype {x.dtype} cannot be converted; "
            "expected a float tensor [3,H,W] or [N,3,H,W] in [-1, 1]"
        )
    x = ((x.detach().float().cpu().clamp(-1.0, 1.0) + 1.0) * 127.5).round().to(torch.uint8)
    return x.movedim(-3, -1).numpy()


def save_image_grid(images: torch.Tensor, path: str | os.PathLike[str], nrow: int) -> None:
    """Write images [N,3,H,W] in [-1, 1] as one PNG, `nrow` images per row, atomically.

    Unused cells of the last row are black.
    """
    if images.ndim != 4 or images.shape[0] == 0:
        raise DataError(
            f"image grid of shape {tuple(images.shape)} cannot be saved; expected [N,3,H,W], N >= 1"
        )
    if not isinstance(nrow, int) or nrow < 1:
        raise DataError(f"nrow {nrow!r} is not valid; expected a positive integer")
    pixels = to_uint8_image(images)  # [N,H,W,3]
    n, h, w, _ = pixels.shape
    num_cols = min(nrow, n)
    num_rows = math.ceil(n / num_cols)
    grid = np.zeros((num_rows * h, num_cols * w, 3), dtype=np.uint8)
    for k in range(n):
        r, c = divmod(k, num_cols)
        grid[r * h : (r + 1) * h, c * w : (c + 1) * w] = pixels[k]
    with atomic_path(path) as tmp:
        # The temporary file ends in .tmp, so Pillow cannot infer the format from its name.
        Image.fromarray(grid).save(tmp, format="PNG")
