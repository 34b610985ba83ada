"""The fidelity measures of `stylex evaluate` for an exported model folder (ONNX Runtime), for
models whose training run is not at hand (the shipped `shapes32/3`).

    python docs/scripts/model_dir_measures.py model_store/shapes32/3 \
        --probe-dir runs/probes/shapes32

The probe folder is one `stylex evaluate --probe-dir DIR` wrote (same resolution and data seed).
Held-out images: the `shapes` data with seed 2000 (the evaluation seed of a run with seed 0).
"""

from __future__ import annotations

import argparse
import json

import torch
from safetensors.torch import load_file

from stylex.data import build_dataset
from stylex.explain.vocabulary.attributes import apply_attributes
from stylex.explain.evaluation.faithfulness import (
    counterfactual_minimality,
    reconstruction_faithfulness,
)
from stylex.explain.evaluation.probes import FactorProbe
from stylex.runtime import OrtEngine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model_dir")
    parser.add_argument("--probe-dir", required=True)
    parser.add_argument("--num-images", type=int, default=200)
    parser.add_argument("--rule", default="hue_red")
    parser.add_argument("--seed", type=int, default=2000)
    args = parser.parse_args()
    eng = OrtEngine.load(args.model_dir, device="cpu")
    data = build_dataset("shapes", 32, num_images=args.num_images, seed=args.seed, rule=args.rule)
    x = torch.stack([data[i][0] for i in range(len(data))])
    info = json.load(open(f"{args.probe_dir}/factor_probe.json"))
    probe = FactorProbe(**info["config"])
    probe.load_state_dict(load_file(f"{args.probe_dir}/factor_probe.safetensors"))
    probe.eval()
    explanations = eng.explain(x, top_k=5)
    recs = torch.stack([e.reconstruction for e in explanations])
    top1 = torch.stack([e.counterfactuals[0].image for e in explanations])
    p = torch.softmax(eng.classify(x), 1)
    conv, rgb = eng.styles(eng.encode(x), p)
    joint, joint_ok = [], []
    for i, e in enumerate(explanations):
        attrs = [cf.attribute for cf in e.counterfactuals]
        img, logits = eng.synthesize_classify(
            apply_attributes(conv[i : i + 1], eng.catalog.stats, attrs), rgb[i : i + 1]
        )
        joint.append(img[0])
        joint_ok.append(float(torch.softmax(logits, 1)[0, e.target]) >= 0.5)
    rule_factors = data.describe()["rule_factors"]
    out = {
        "l1": float((recs - x).abs().mean()),
        "faithfulness": reconstruction_faithfulness(probe, x, recs, data.factor_table()),
        "per_image_success": {
            "top1": sum(float(e.counterfactuals[0].probs[e.target]) >= 0.5 for e in explanations)
            / len(explanations),
            "joint": sum(joint_ok) / len(joint_ok),
            "top_k": 5,
        },
        "minimality": {
            kind: counterfactual_minimality(probe, recs, imgs, rule_factors)
            for kind, imgs in (("top1", top1), ("joint", torch.stack(joint)))
        },
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
