"""Encoded images -> tensors, once for every caller (files, gRPC, OIP, TorchServe, batch jobs),
with the budgets that keep hostile input cheap:

- a cap on the decoded pixel count of one image, read from the header *before* decoding (a
  258 KB PNG can declare 9000 x 9000 pixels: 81 M pixels, about 1 GB to decode);
- refusal of truncated pixel data, including a PNG whose compressed stream ends cleanly before
  its last declared row (Pillow fills the missing rows and says nothing);
- a cap on the encoded size of request payloads.

Decoded images are resized (shorter side) and centre cropped to the model's resolution.
"""

from __future__ import annotations

import io
import math
import os
import struct
import zlib

import numpy as np
import torch
from PIL import Image, ImageOps

from stylex.errors import (
    DataError,
    ImageTooLargeError,
    InvalidArgumentError,
    PayloadTooLargeError,
)

# Formats the folder data set picks up; anything Pillow opens also loads through load_image.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
MAX_IMAGE_BYTES = 16 * 1024 * 1024  # a photo; larger request payloads are refused unread
# 4096 x 4096: any phone photo up to 16 M pixels. Decoding one costs about 4 bytes per pixel
# for each of ~3 copies Pillow and the conversion make (~200 MB at the cap; see
# docs/serving-budgets.md), so a 4 GiB pod with the default decode budget stays far below its
# limit. Larger images are refused from their header, before any pixel is decoded.
DEFAULT_MAX_IMAGE_PIXELS = 4096 * 4096
PIXELS_FLAG = "--max-image-pixels / STYLEX_MAX_IMAGE_PIXELS"

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # colour type -> samples per pixel
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
          (0, 1, 1, 2))  # fmt: skip  # (x0, y0, dx, dy) of each interlace pass


def image_pixels(data: bytes, what: str = "the image") -> tuple[int, int]:
    """(width, height) from the header alone; nothing is decoded. InvalidArgumentError when
    the bytes are not an image Pillow can open."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            return im.size
    except Image.DecompressionBombError as e:  # larger than Pillow's own limit: no size
        raise ImageTooLargeError(f"{what} is too large to decode ({e})") from None
    except Exception as e:
        raise InvalidArgumentError(_undecodable(what, data, e)) from None


def check_pixels(size: tuple[int, int], max_pixels: int, what: str = "the image") -> int:
    """The decoded pixel count of an image of `size`; ImageTooLargeError over the cap."""
    w, h = size
    if w * h > max_pixels:
        raise ImageTooLargeError(
            f"{what} is {w} x {h} = {w * h:,} pixels, over the cap of {max_pixels:,} pixels per "
            f"image ({PIXELS_FLAG}); send it downscaled"
        )
    return w * h


def decode_image_bytes(
    data: bytes,
    resolution: int,
    max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
    max_bytes: int = MAX_IMAGE_BYTES,
    size: tuple[int, int] | None = None,  # (width, height) the caller already read with
    # `image_pixels`: the header is then not read again
) -> torch.Tensor:
    """A request's encoded image -> x [3,R,R] in [-1, 1]. InvalidArgumentError names what is
    wrong (not an image, truncated, over the pixel cap); ResourceExhaustedError when the
    payload is over `max_bytes`."""
    if not data:
        raise InvalidArgumentError("image is empty; expected PNG or JPEG bytes")
    if len(data) > max_bytes:
        raise PayloadTooLargeError(
            f"image of {len(data)} bytes is larger than the limit of {max_bytes} bytes"
        )
    return _decode(bytes(data), resolution, max_pixels, "the image", size)


def load_image(
    path: str | os.PathLike[str], resolution: int, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
) -> torch.Tensor:
    """Read an image file as x [3,R,R] in [-1, 1]: shorter side resized to R, centre cropped.

    Raises DataError naming the file if it cannot be read, is truncated or over the cap.
    """
    if not isinstance(resolution, int) or resolution < 1:
        raise DataError(f"resolution {resolution!r} is not valid; expected a positive integer")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise DataError(f"cannot read image {os.fspath(path)!r}: {e}") from None
    return load_image_bytes(data, resolution, os.fspath(path), max_pixels)


def load_image_bytes(
    data: bytes, resolution: int, name: str, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
) -> torch.Tensor:
    """`load_image` for a file's bytes already in memory; `name` (a path or URL) is what an
    error names."""
    if not isinstance(resolution, int) or resolution < 1:
        raise DataError(f"resolution {resolution!r} is not valid; expected a positive integer")
    try:
        return _decode(data, resolution, max_pixels, f"image {name!r}")
    except InvalidArgumentError as e:
        raise DataError(str(e)) from None


def _decode(
    data: bytes, resolution: int, max_pixels: int, what: str, size: tuple[int, int] | None = None
) -> torch.Tensor:
    check_pixels(image_pixels(data, what) if size is None else size, max_pixels, what)
    if data.startswith(_PNG_SIGNATURE):
        _check_png_complete(data, what)
    try:
        with Image.open(io.BytesIO(data)) as im:
            return image_to_tensor(im, resolution)
    # Pillow signals a bad file with many exception types (truncated data, unknown format,
    # bad header fields); each means the same thing here.
    except Exception as e:
        raise InvalidArgumentError(_undecodable(what, data, e)) from None


def _undecodable(what: str, data: bytes, e: Exception) -> str:
    return (
        f"cannot decode {what} ({len(data)} bytes; {type(e).__name__}: {e}); expected PNG or "
        f"JPEG bytes (or another format Pillow opens: {', '.join(IMAGE_SUFFIXES)})"
    )


def _check_png_complete(data: bytes, what: str) -> None:
    """Refuse a PNG whose image data holds fewer bytes than its header's rows need."""
    pos, idat = len(_PNG_SIGNATURE), []
    header = None
    while pos + 8 <= len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR" and len(body) >= 13:
            header = struct.unpack_from(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        pos += 12 + length
    if header is None:
        return  # Pillow refuses it with its own message
    w, h, depth, colour, _, _, interlace = header
    channels = _PNG_CHANNELS.get(colour)
    if channels is None:
        return
    passes = _ADAM7 if interlace else ((0, 0, 1, 1),)
    needed = 0
    for x0, y0, dx, dy in passes:
        pw, ph = math.ceil(max(w - x0, 0) / dx), math.ceil(max(h - y0, 0) / dy)
        if pw and ph:
            needed += ph * (1 + math.ceil(pw * channels * depth / 8))
    # Count the decompressed bytes without holding them (bounded: at most `needed` + 1).
    stream, have = zlib.decompressobj(), 0
    try:
        for chunk in idat:
            while chunk and have <= needed:
                have += len(stream.decompress(chunk, 1 << 20))
                chunk = stream.unconsumed_tail
            if have > needed:
                break
    except zlib.error:
        return  # corrupt data: Pillow refuses it with its own message
    if have < needed:
        raise InvalidArgumentError(
            f"{what} is truncated: its header declares {w} x {h} pixels, but its data holds "
            f"{have:,} of the {needed:,} bytes those rows need"
        )


def image_to_tensor(im: Image.Image, resolution: int) -> torch.Tensor:
    """An opened Pillow image -> x [3,R,R] in [-1, 1]: EXIF rotation applied, alpha composited
    on white, shorter side resized to R, centre cropped. Files and request bytes share this."""
    pixels = _resize_centre_crop(_to_rgb(im), resolution)
    x = torch.from_numpy(pixels).permute(2, 0, 1)  # [3,R,R] uint8
    return x.to(torch.float32) / 127.5 - 1.0


def _to_rgb(im: Image.Image) -> Image.Image:
    # Phone photos store their rotation in EXIF; without this they come out sideways.
    im = ImageOps.exif_transpose(im)
    has_alpha = im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info
    if has_alpha:
        # Dropping alpha would expose whatever colour transparent pixels happen to hold;
        # composite onto white, as viewers show them.
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return im.convert("RGB")


def _resize_centre_crop(im: Image.Image, resolution: int) -> np.ndarray:
    w, h = im.size
    side = min(w, h)
    # Crop and resize in one resampling pass; the box may sit on fractional pixels.
    box = ((w - side) / 2, (h - side) / 2, (w + side) / 2, (h + side) / 2)
    out = im.resize((resolution, resolution), Image.Resampling.LANCZOS, box=box)
    return np.array(out, dtype=np.uint8)  # [R,R,3], a writable copy for torch
