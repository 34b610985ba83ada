"""`stylex train --dry-run`: what a configuration would train, without training it."""

from __future__ import annotations

from typing import Any

from stylex.models import Discriminator, Encoder, Generator
from stylex.training.config import TrainConfig
from stylex.training.trainer import arch_from


def describe(cfg: TrainConfig) -> dict[str, Any]:
    """The resolved configuration and the network sizes, without training."""
    if cfg.classifier is not None:
        from stylex.classifiers import load_classifier

        num_classes = load_classifier(cfg.classifier).num_classes
        source = "classifier"
    else:
        from stylex.data import build_dataset

        ds = build_dataset(
            cfg.data, cfg.resolution, num_images=cfg.num_images, seed=cfg.seed, rule=cfg.data_rule
        )
        num_classes = max(len(ds.class_names), 1)
        source = "data set (no classifier given)"
    arch = arch_from(cfg, num_classes)
    G, E, D = Generator(arch), Encoder(arch), Discriminator(arch)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    return {
        "train": cfg.to_dict(),
        "arch": arch.to_dict(),
        "num_classes_from": source,
        "num_style_coordinates": G.layout.num_conv,
        "num_torgb_styles": G.layout.num_rgb,
        "parameters": {"G": count(G), "E": count(E), "D": count(D)},
        "style_layers": [
            {
                "name": lay.name,
                "resolution": lay.resolution,
                "channels": lay.channels,
                "offset": lay.offset,
            }
            for lay in G.layout.conv_layers
        ],
    }
