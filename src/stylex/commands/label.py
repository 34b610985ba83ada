"""`stylex label`: human names for attributes, in a run's catalog or a new model version, and
for a model's classes."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from stylex.errors import InvalidArgumentError

NAME = "label"
HELP = "name attributes (a run's attributes.json, or a new version of an exported model)"
CLASS_NAMES_HELP = (
    "model: rename its classes, one name per class in the classifier's output order, e.g. "
    "--class-names dark_bg light_bg for a condition rule's false/true"
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", help="run directory (attributes.json) or exported model directory")
    p.add_argument(
        "--set", action="append", default=[], metavar="INDEX:DIR=NAME",
        help='one name, e.g. --set "290:max=hue toward red" (repeatable; wins over files)',
    )  # fmt: skip
    p.add_argument(
        "--names", metavar="FILE", help='JSON names: {"290:max": "hue toward red"} or a list'
    )  # fmt: skip
    p.add_argument(
        "--suggested", nargs="?", const="", metavar="METRICS",
        help="accept the names `stylex evaluate` suggested (default: TARGET/metrics.json)",
    )  # fmt: skip
    p.add_argument("--class-names", nargs="+", metavar="NAME", help=CLASS_NAMES_HELP)
    p.add_argument("--version", help="model: the new version (default: the next number)")
    p.add_argument("--out", help="model: the new version's folder (default: beside the old)")


def run(args: argparse.Namespace) -> int:
    from stylex.explain.vocabulary.catalog import AttributeCatalog
    from stylex.explain.vocabulary.labels import apply_labels, parse_assignment, read_labels
    from stylex.rundir import CATALOG_NAME, RunPaths
    from stylex.runtime.model_dir import MANIFEST_NAME

    target = Path(args.target)
    labels = {}
    if args.suggested is not None:
        labels.update(read_labels(args.suggested or RunPaths(target).metrics))
    if args.names:
        labels.update(read_labels(args.names))
    labels.update(parse_assignment(text) for text in args.set)
    if not labels and not args.class_names:
        raise InvalidArgumentError(
            "no names given: use --set, --names or --suggested (or --class-names for a model)"
        )
    if (target / MANIFEST_NAME).is_file():
        from stylex.export.relabel import label_model, rename_classes_model

        if args.class_names:
            written = rename_classes_model(
                target, args.class_names, labels=labels, version=args.version, out=args.out
            )
        else:
            written = label_model(target, labels, version=args.version, out=args.out)
    elif (target / CATALOG_NAME).is_file():
        if args.version or args.out or args.class_names:
            raise InvalidArgumentError(
                "--version, --out and --class-names are for model directories: export the run "
                "first (`stylex export`), then rename its classes"
            )
        catalog = apply_labels(AttributeCatalog.load(target), labels)
        written = target / CATALOG_NAME
        catalog.save(written)  # atomic: a reader sees the old catalog or the new one
    else:
        raise InvalidArgumentError(
            f"{target} holds neither {MANIFEST_NAME} (a model) nor {CATALOG_NAME} (a run)"
        )
    summary = {"written": str(written), "labelled": len(labels)}
    if args.class_names:  # as written, after check_class_names's clean-up
        manifest = json.loads((written / MANIFEST_NAME).read_text(encoding="utf-8"))
        summary["class_names"] = manifest["class_names"]
    print(json.dumps(summary, indent=2))
    return 0
