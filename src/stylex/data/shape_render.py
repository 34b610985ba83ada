"""Drawing a shapes image from its factors: numpy and PIL, supersampled for smooth edges."""

from __future__ import annotations

import colorsys
import math
from collections.abc import Mapping

import numpy as np
from PIL import Image, ImageDraw

from stylex.data.shape_factors import SHAPES

SATURATION = 0.85  # object colour saturation; value is always 1
STRIPE_PERIOD = 1 / 6  # one dark and one bright band, relative to the image side
STRIPE_DARKNESS = 0.35  # dark bands are the object colour times this
STAR_INNER_RATIO = 0.5  # inner / outer radius of the star


def supersampling(resolution: int) -> int:
    """Samples per pixel side; small images need more to keep edges and stripes smooth."""
    return 4 if resolution <= 32 else 2


def render_shape(factors: Mapping[str, float], resolution: int) -> np.ndarray:
    """Render one image: float32 [3,R,R] in [-1, 1]."""
    ss = supersampling(resolution)
    side = resolution * ss
    mask = _object_mask(factors, side)  # [S,S] bool

    # How much object colour each sample gets: 0 off the object, dimmer on dark stripes.
    shade = mask.astype(np.float32)  # [S,S]
    if factors["stripes"]:
        # Bands run across the object's rotated x axis and move with it: measure sample
        # centres (image-relative) from the object centre along that axis.
        coords = (np.arange(side, dtype=np.float32) + 0.5) / side
        dx = coords[None, :] - np.float32(factors["pos_x"])
        dy = coords[:, None] - np.float32(factors["pos_y"])
        turn = 2 * math.pi * factors["angle"]
        along = dx * np.float32(math.cos(turn)) + dy * np.float32(math.sin(turn))
        dark = np.floor(along / (STRIPE_PERIOD / 2)).astype(np.int64) % 2 == 1
        shade[mask & dark] = STRIPE_DARKNESS

    # Averaging each ss x ss block is the antialiasing. Compositing is linear in the two maps,
    # so average them first and colour the small image: much cheaper than averaging RGB.
    coverage = _block_mean(mask.astype(np.float32), ss)  # [R,R]
    shade = _block_mean(shade, ss)
    colour = np.array(colorsys.hsv_to_rgb(factors["hue"], SATURATION, 1.0), dtype=np.float32)
    bg = np.float32(factors["bg"])
    rgb = shade[None] * colour[:, None, None] + (1.0 - coverage[None]) * bg  # [3,R,R]
    return (rgb * 2.0 - 1.0).astype(np.float32)


def _block_mean(a: np.ndarray, ss: int) -> np.ndarray:
    side = a.shape[0] // ss
    return a.reshape(side, ss, side, ss).sum(axis=3).sum(axis=1) / np.float32(ss * ss)


def _object_mask(factors: Mapping[str, float], side: int) -> np.ndarray:
    cx, cy = factors["pos_x"] * side, factors["pos_y"] * side
    radius = factors["size"] / 2 * side  # every shape fits in this circle, at any angle
    name = SHAPES[int(factors["shape"])]
    canvas = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(canvas)
    if name == "circle":
        draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=255)
    else:
        draw.polygon(_polygon(name, cx, cy, radius, factors["angle"]), fill=255)
    return np.asarray(canvas) > 127


def _polygon(
    name: str, cx: float, cy: float, radius: float, angle: float
) -> list[tuple[float, float]]:
    if name == "star":
        radii = [radius if k % 2 == 0 else radius * STAR_INNER_RATIO for k in range(10)]
    else:
        radii = [radius] * {"square": 4, "triangle": 3}[name]
    # Angle 0 puts a vertex straight up (image y grows downwards).
    start = 2 * math.pi * angle - math.pi / 2
    step = 2 * math.pi / len(radii)
    return [
        (cx + r * math.cos(start + k * step), cy + r * math.sin(start + k * step))
        for k, r in enumerate(radii)
    ]
