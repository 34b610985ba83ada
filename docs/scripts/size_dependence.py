"""Does a background classifier's decision move with the object's size? Renders aligned shapes
whose factors are those of the data set except the background (held at each grey level) and
the size (0.4, 0.6, 0.8), and prints the mean P(class 1) and the share classified as class 1.

    python docs/scripts/size_dependence.py runs/rules/clf-bg/classifier.pt
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from stylex.classifiers.loading import load_classifier
from stylex.data.shape_factors import sample_factors
from stylex.data.shape_render import render_shape

BACKGROUNDS = (0.22, 0.26, 0.28, 0.30, 0.32, 0.34, 0.38)
SIZES = (0.4, 0.6, 0.8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("classifier", help="a 32 px classifier with two classes")
    parser.add_argument("--num-objects", type=int, default=60)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    clf = load_classifier(args.classifier, device="cpu")
    print("bg    " + "  ".join(f"size {s}: P(1) share(1)" for s in SIZES))
    for bg in BACKGROUNDS:
        cells = []
        for size in SIZES:
            images = []
            for i in range(args.num_objects):
                factors = sample_factors(args.seed, i, "aligned")
                factors.update(bg=bg, size=size)
                images.append(torch.from_numpy(render_shape(factors, 32)))
            with torch.no_grad():
                p = torch.softmax(clf(torch.stack(images)), dim=1)[:, 1].numpy()
            cells.append(f"{np.mean(p):17.3f} {np.mean(p > 0.5):8.2f}")
        print(f"{bg:.2f}  " + "  ".join(cells))


if __name__ == "__main__":
    main()
