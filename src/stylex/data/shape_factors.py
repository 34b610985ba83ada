"""The generating factors of a shapes image, drawn from a generator seeded by (seed, index).

Every image is fully described by its factors (rendering adds no randomness), so they are
ground truth for checking which attributes an explanation finds.
"""

from __future__ import annotations

import numpy as np

SHAPES = ("circle", "square", "triangle", "star")  # factor `shape` holds the index into this

# Ranges keep the object clearly visible: at least 40% of the image wide, fully inside it,
# a saturated bright colour on a background no brighter than mid grey.
SIZE_RANGE = (0.4, 0.8)  # diameter of the circle the object fits in, relative to the image side
MARGIN = 0.03  # minimum gap between that circle and the image border, relative to the side
BG_RANGE = (0.0, 0.6)  # background grey level

# name -> meaning; also the order they are drawn in, which must never change (it fixes the data).
FACTORS = {
    "shape": f"object shape, index into {list(SHAPES)}",
    "hue": "object hue in [0, 1), 0 = red, 1/3 = green, 2/3 = blue",
    "size": f"object diameter relative to the image side, in {list(SIZE_RANGE)}",
    "pos_x": "object centre x relative to the image width, 0 = left",
    "pos_y": "object centre y relative to the image height, 0 = top",
    "angle": "object rotation (and stripe direction) in turns, [0, 1)",
    "stripes": "1 if the object has dark stripes, else 0",
    "bg": f"background grey level in {list(BG_RANGE)}",
}
INTEGER_FACTORS = ("shape", "stripes")

# Poses: "aligned" puts every object at the centre, upright (a vertex up, stripes vertical), as
# StyleGAN-family generators expect their data (faces, animals, leaves are all aligned); "free"
# draws the centre anywhere the object fits and any rotation. An autoencoder of the same code
# keeps shape and stripes on aligned images and draws discs on free-pose ones
# (docs/experiments.md, round 4).
POSES = ("aligned", "free")
ALIGNED_POSE = {"pos_x": 0.5, "pos_y": 0.5, "angle": 0.0}


def sample_factors(seed: int, index: int, pose: str = "free") -> dict[str, int | float]:
    """The factors of image `index` in the data set with `seed`, as plain Python numbers.

    Both poses draw the same numbers in the same order, so an aligned image has the shape, hue,
    size, stripes and background of the free-pose image with the same seed and index."""
    rng = np.random.default_rng([seed, index])
    shape = int(rng.integers(len(SHAPES)))
    hue = float(rng.random())
    size = float(rng.uniform(*SIZE_RANGE))
    # The centre range depends on the size so that the whole object stays inside the image.
    reach = size / 2 + MARGIN
    pos_x = float(rng.uniform(reach, 1 - reach))
    pos_y = float(rng.uniform(reach, 1 - reach))
    angle = float(rng.random())
    stripes = int(rng.integers(2))
    bg = float(rng.uniform(*BG_RANGE))
    if pose == "aligned":
        pos_x, pos_y, angle = ALIGNED_POSE["pos_x"], ALIGNED_POSE["pos_y"], ALIGNED_POSE["angle"]
    elif pose != "free":
        raise ValueError(f"pose {pose!r} not in {POSES}")
    return {
        "shape": shape,
        "hue": hue,
        "size": size,
        "pos_x": pos_x,
        "pos_y": pos_y,
        "angle": angle,
        "stripes": stripes,
        "bg": bg,
    }


def sample_factor_table(seed: int, num_images: int, pose: str = "free") -> dict[str, np.ndarray]:
    """Factors of images 0..num_images-1 as columns: int64 for shape and stripes, else float64."""
    rows = [sample_factors(seed, i, pose) for i in range(num_images)]
    return {
        name: np.array(
            [row[name] for row in rows],
            dtype=np.int64 if name in INTEGER_FACTORS else np.float64,
        )
        for name in FACTORS
    }
