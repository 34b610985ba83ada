"""The one image decoder: the pixel cap is read from the header before decoding, truncated data
is refused, and every failure is a typed error that names the problem."""

from __future__ import annotations

import io
import math
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from stylex.data import decode
from stylex.data.decode import (
    DEFAULT_MAX_IMAGE_PIXELS,
    decode_image_bytes,
    image_pixels,
    load_image,
)
from stylex.errors import DataError, InvalidArgumentError, ResourceExhaustedError

ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
         (0, 1, 1, 2))  # fmt: skip


def _chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def rgb_png(w: int, h: int, rows: bytes, interlace: int = 0) -> bytes:
    """A PNG (8-bit RGB) whose IDAT holds exactly `rows` (filter bytes included)."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, interlace)
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(rows))
        + _chunk(b"IEND", b"")
    )  # fmt: skip


def raw_rows(w: int, h: int, interlace: int = 0) -> bytes:
    """Unfiltered rows of a w x h RGB image, in PNG order (per pass when interlaced)."""
    passes = ADAM7 if interlace else ((0, 0, 1, 1),)
    out = b""
    for x0, y0, dx, dy in passes:
        pw, ph = math.ceil(max(w - x0, 0) / dx), math.ceil(max(h - y0, 0) / dy)
        if pw and ph:
            out += (b"\x00" + bytes(range(3 * pw))) * ph
    return out


def pillow_bytes(mode: str, size=(40, 24), fmt="PNG", **save) -> bytes:
    rng = np.random.default_rng(0)
    channels = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4, "P": 1, "1": 1}[mode]
    arr = rng.integers(0, 255, (size[1], size[0], channels), dtype=np.uint8)
    im = Image.fromarray(arr.squeeze(-1) if channels == 1 else arr)
    if mode in ("P", "1"):
        im = im.convert(mode)
    buf = io.BytesIO()
    im.save(buf, format=fmt, **save)
    return buf.getvalue()


def test_a_9000_px_png_is_refused_from_its_header(monkeypatch):
    """258 KB that decode to 81 M pixels (~1 GB): refused without decoding a pixel."""
    data = rgb_png(9000, 9000, b"")  # the header is all the cap needs
    assert image_pixels(data) == (9000, 9000)

    def never(*args, **kwargs):
        raise AssertionError("decoded an image over the cap")

    monkeypatch.setattr(decode, "image_to_tensor", never)
    monkeypatch.setattr(decode, "_check_png_complete", never)
    with pytest.raises(InvalidArgumentError) as info:
        decode_image_bytes(data, 32)
    message = str(info.value)
    assert "9000 x 9000 = 81,000,000 pixels" in message
    assert f"cap of {DEFAULT_MAX_IMAGE_PIXELS:,} pixels" in message
    assert "STYLEX_MAX_IMAGE_PIXELS" in message


def test_the_cap_is_configurable():
    data = pillow_bytes("RGB", (40, 24))
    assert decode_image_bytes(data, 16, max_pixels=40 * 24).shape == (3, 16, 16)
    with pytest.raises(InvalidArgumentError, match="40 x 24 = 960 pixels, over the cap of 959"):
        decode_image_bytes(data, 16, max_pixels=959)


def test_a_png_with_fewer_rows_than_declared_is_refused():
    """1 x 10,000,000 declared, 16 rows of data: Pillow alone accepts it."""
    data = rgb_png(1, 10_000_000, raw_rows(1, 16))
    with Image.open(io.BytesIO(data)) as im:
        im.load()  # the case: Pillow fills the missing rows and raises nothing
    with pytest.raises(InvalidArgumentError, match=r"truncated: its header declares 1 x 10000000"):
        decode_image_bytes(data, 32)


@pytest.mark.parametrize("interlace", [0, 1])
def test_complete_pngs_pass_and_one_row_short_fails(interlace):
    w, h = 13, 11
    full = raw_rows(w, h, interlace)
    x = decode_image_bytes(rgb_png(w, h, full, interlace), 8)
    assert x.shape == (3, 8, 8) and bool(torch.isfinite(x).all())
    short = rgb_png(w, h, full[: -(1 + 3 * w)], interlace)  # the last row (of the last pass)
    with pytest.raises(InvalidArgumentError, match="truncated"):
        decode_image_bytes(short, 8)


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA", "P", "1"])
def test_every_png_colour_type_decodes(mode):
    x = decode_image_bytes(pillow_bytes(mode), 16)
    assert x.shape == (3, 16, 16) and float(x.min()) >= -1 and float(x.max()) <= 1


@pytest.mark.parametrize(("fmt", "save"), [("JPEG", {}), ("GIF", {}), ("WEBP", {}),
                                           ("BMP", {}), ("TIFF", {})])  # fmt: skip
def test_other_formats_decode_and_their_truncations_are_typed_errors(fmt, save):
    data = pillow_bytes("RGB", fmt=fmt, **save)
    assert decode_image_bytes(data, 16).shape == (3, 16, 16)
    for cut in (len(data) // 2, len(data) - 7, 20):
        try:
            x = decode_image_bytes(data[:cut], 16)
        except InvalidArgumentError:
            continue
        # Some formats carry their pixels early; what decodes must still be a valid image.
        assert x.shape == (3, 16, 16) and bool(torch.isfinite(x).all())


def test_payload_limits():
    with pytest.raises(InvalidArgumentError, match="image is empty"):
        decode_image_bytes(b"", 16)
    with pytest.raises(ResourceExhaustedError, match="larger than the limit of 10 bytes"):
        decode_image_bytes(b"x" * 11, 16, max_bytes=10)
    with pytest.raises(InvalidArgumentError, match=r"cannot decode the image \(9 bytes"):
        decode_image_bytes(b"not a png", 16)


def test_files_follow_the_same_rules(tmp_path):
    big = tmp_path / "big.png"
    big.write_bytes(rgb_png(9000, 9000, b""))
    with pytest.raises(DataError, match=r"image '.*big.png' is 9000 x 9000 = 81,000,000 pixels"):
        load_image(big, 16)
    cut = tmp_path / "cut.png"
    cut.write_bytes(rgb_png(1, 10_000_000, raw_rows(1, 16)))
    with pytest.raises(DataError, match=r"image '.*cut.png' is truncated"):
        load_image(cut, 16)
    with pytest.raises(DataError, match="cannot read image"):
        load_image(tmp_path / "missing.png", 16)
