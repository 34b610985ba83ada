"""The measures of `stylex evaluate` for an exported model folder (ONNX Runtime), for models
whose training run is not at hand (the shipped ones): fidelity, per-image success, realism
and, with a factor probe, faithfulness and minimality.

    python docs/scripts/model_dir_measures.py model_store/shapes32/7 --rule 'bg>0.3' \
        [--probe-dir runs/probes/shapes32]

The probe folder is one `stylex evaluate --probe-dir DIR` wrote (same resolution and data seed).
Held-out images: the `shapes` data with seed 2000 (the evaluation seed of a run with seed 0).
"""

from __future__ import annotations

import argparse
import json

import torch
from safetensors.torch import load_file

from stylex.data import build_dataset
from stylex.explain.evaluation.faithfulness import (
    counterfactual_minimality,
    per_image_success,
    reconstruction_faithfulness,
)
from stylex.explain.evaluation.probes import FactorProbe
from stylex.explain.evaluation.realism import STEPS, realism_report
from stylex.runtime import OrtEngine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model_dir")
    parser.add_argument("--probe-dir", help="factor probe for faithfulness and minimality")
    parser.add_argument("--num-images", type=int, default=200)
    parser.add_argument("--rule", default="hue_red", help="the label rule the model explains")
    parser.add_argument("--seed", type=int, default=2000)
    parser.add_argument("--realism-steps", type=int, default=STEPS)
    args = parser.parse_args()
    eng = OrtEngine.load(args.model_dir, device="cpu")
    data = build_dataset("shapes", 32, num_images=args.num_images, seed=args.seed, rule=args.rule)
    x = torch.stack([data[i][0] for i in range(len(data))])
    success, images = per_image_success(eng, x, top_k=5)
    recs = images["reconstruction"]
    out = {
        "l1": float((recs - x).abs().mean()),
        "per_image_success": success,
        "realism": realism_report(
            x, {k: images[k] for k in ("reconstruction", "top1", "joint")},
            top1_flipped=images["top1_success"], steps=args.realism_steps,
        ),  # fmt: skip
    }
    if args.probe_dir:
        info = json.load(open(f"{args.probe_dir}/factor_probe.json"))
        probe = FactorProbe(**info["config"])
        probe.load_state_dict(load_file(f"{args.probe_dir}/factor_probe.safetensors"))
        probe.eval()
        rule_factors = data.describe()["rule_factors"]
        out["faithfulness"] = reconstruction_faithfulness(probe, x, recs, data.factor_table())
        out["minimality"] = {
            kind: counterfactual_minimality(probe, recs, images[kind], rule_factors)
            for kind in ("top1", "joint")
        }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
