"""Built-in sample images for the explain page: a few images of the data set the served model
was trained on (its manifest's provenance; the shapes set when it names none built in)."""

from __future__ import annotations

from typing import Any

from stylex.data import DATASET_NAMES, build_dataset, spec_of_description
from stylex.data.images import encode_image

SAMPLE_SEED = 7  # the seed `stylex demo` draws its samples with


def sample_pngs(engine: Any, num_images: int) -> list[bytes]:
    """`num_images` PNGs at the engine's resolution."""
    manifest = getattr(getattr(engine, "model", None), "manifest", None) or {}
    spec = spec_of_description((manifest.get("provenance") or {}).get("data") or {})
    spec = spec if spec in DATASET_NAMES else "shapes"
    ds = build_dataset(spec, engine.resolution, num_images=num_images, seed=SAMPLE_SEED)
    return [encode_image(ds[i][0], "png") for i in range(len(ds))]
