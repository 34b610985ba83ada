"""Suggested names for the catalog attributes of an exported model folder (ONNX Runtime), as
`stylex evaluate` suggests them for a run, for models whose training run is not at hand (the
shipped `shapes32/3`). Writes a file `stylex label MODEL --names FILE` reads.

    python docs/scripts/suggest_model_names.py model_store/shapes32/3 \
        --out docs/shapes32-3-suggested-names.json

A factor probe is trained on freshly rendered `shapes` images (seed 11), then every catalog
edit is applied to held-out images (seed 9091) and named after the factor it changes most.
"""

from __future__ import annotations

import argparse

import torch

from stylex.data import build_dataset
from stylex.explain.vocabulary.attributes import direction_name
from stylex.explain.evaluation.probes import attribute_factors, train_factor_probe
from stylex.fileio import write_json
from stylex.models import Styles
from stylex.runtime import OrtEngine


class OrtSynthesis:
    """The model's synthesis graph where `attribute_factors` expects a generator."""

    def __init__(self, engine: OrtEngine) -> None:
        self.engine = engine

    def synthesize(self, styles: Styles, noise_mode: str = "const") -> torch.Tensor:
        return self.engine.synthesize(styles.conv, styles.rgb)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model_dir")
    parser.add_argument("--out", required=True)
    parser.add_argument("--probe-images", type=int, default=8000)
    parser.add_argument("--probe-epochs", type=int, default=8)
    parser.add_argument("--num-images", type=int, default=64, help="held-out images edited")
    args = parser.parse_args()
    engine = OrtEngine.load(args.model_dir, device="cpu")
    res = engine.resolution
    probe, scores = train_factor_probe(
        build_dataset("shapes", res, num_images=args.probe_images, seed=11),
        epochs=args.probe_epochs, width=32,
    )  # fmt: skip
    held = build_dataset("shapes", res, num_images=args.num_images, seed=9091)
    x = torch.stack([held[i][0] for i in range(len(held))])
    conv, rgb = engine.encode_styles(x, torch.softmax(engine.classify(x), dim=1))
    catalog = engine.catalog
    keys = list(dict.fromkeys(a.key for attrs in catalog.classes.values() for a in attrs))
    rows = attribute_factors(OrtSynthesis(engine), probe, Styles(conv, rgb), catalog.stats, keys)
    names = [
        {"index": r["index"], "direction": direction_name(r["direction"]), "factor": r["factor"],
         "name": r["name"], "main_change": round(r["changes"][r["factor"]], 3)}
        for r in rows
    ]  # fmt: skip
    write_json(args.out, {
        "model": {"name": engine.model.manifest["name"],
                  "version": engine.model.manifest["version"]},
        "probe_scores": {k: round(v, 4) if isinstance(v, float) else v for k, v in scores.items()},
        "held_out_images": args.num_images,
        "alignment": {"suggested_names": names},
    })  # fmt: skip
    for n in names:
        print(f"{n['index']:>4}:{n['direction']:<4} {n['name']:<22} ({n['factor']} changed "
              f"{n['main_change']})")  # fmt: skip


if __name__ == "__main__":
    main()
