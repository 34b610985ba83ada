"""Explanations to files, one layout for local and remote explanations: per image a folder with
explanation.json (the `explanation_to_dict` layout) and the reconstruction and counterfactual
PNGs, and the joint counterfactual (every attribute applied together) as joint.png."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stylex.fileio import write_bytes, write_json


def write_explanation_files(
    folder: Path,
    layout: dict[str, Any],  # explanation_to_dict(..., image_format="png", reconstruction=True)
    image: str,  # the input's path, recorded in explanation.json
) -> dict[str, Any]:
    """Write FOLDER/{reconstruction.png, counterfactual-<rank>.png, joint.png,
    explanation.json}; return
    the JSON written (images replaced by nothing: they are the files)."""
    if layout.get("image_format") != "png":
        raise ValueError(
            f"explanation files hold PNGs; got image format {layout.get('image_format')!r}"
        )
    write_bytes(folder / "reconstruction.png", layout["reconstruction"])
    attributes = []
    for attr in layout["attributes"]:
        write_bytes(folder / f"counterfactual-{attr['rank']}.png", attr["counterfactual"])
        attributes.append({k: v for k, v in attr.items() if k != "counterfactual"})
    joint = layout.get("joint")
    if joint is not None:
        write_bytes(folder / "joint.png", joint["counterfactual"])
        joint = {k: v for k, v in joint.items() if k != "counterfactual"}
    skip = ("reconstruction", "image_format", "attributes", "joint")
    result = {"image": image, **{k: v for k, v in layout.items() if k not in skip}}
    result["attributes"] = attributes
    result["joint"] = joint
    write_json(folder / "explanation.json", result)
    return result
