"""Extract the custom resources' field types from the projects' own PyPI wheels, for the
offline validation in tests/k8s/test_crds.py. The wheels' model classes are generated from
the CRDs' OpenAPI schemas: per class, `openapi_types` (python name -> type), `attribute_map`
(python name -> JSON name) and the setters that refuse None (the required fields). Nothing is
imported from the wheels; their files are parsed.

    pip download --no-deps kserve==0.21.0 kubeflow-training==1.9.4 -d wheels/
    python tests/k8s/crd_types/extract.py wheels/kserve-0.21.0-py3-none-any.whl \
        --prefix kserve/models/ --out tests/k8s/crd_types/kserve-0.21.0.json
    python tests/k8s/crd_types/extract.py wheels/kubeflow_training-1.9.4-py3-none-any.whl \
        --prefix kubeflow/training/models/ --out tests/k8s/crd_types/kubeflow-training-1.9.4.json
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import zipfile
from pathlib import Path

REQUIRED = re.compile(r"Invalid value for `(\w+)`, must not be `None`")


def classes_of(source: str) -> dict[str, dict]:
    out = {}
    for node in ast.parse(source).body:
        if not isinstance(node, ast.ClassDef):
            continue
        tables = {}
        for item in node.body:
            if isinstance(item, ast.Assign) and len(item.targets) == 1:
                target = item.targets[0]
                if isinstance(target, ast.Name) and target.id in ("openapi_types", "attribute_map"):
                    tables[target.id] = ast.literal_eval(item.value)
        if set(tables) != {"openapi_types", "attribute_map"}:
            continue
        required = set(REQUIRED.findall(ast.get_source_segment(source, node) or ""))
        types, names = tables["openapi_types"], tables["attribute_map"]
        out[node.name] = {
            "fields": {names[k]: types[k] for k in types},
            "required": sorted(names[k] for k in required if k in names),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("wheel")
    parser.add_argument("--prefix", required=True, help="folder of the model classes")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    found: dict[str, dict] = {}
    with zipfile.ZipFile(args.wheel) as wheel:
        for name in sorted(wheel.namelist()):
            if name.startswith(args.prefix) and name.endswith(".py"):
                found.update(classes_of(wheel.read(name).decode()))
    Path(args.out).write_text(
        json.dumps({"source": Path(args.wheel).name, "classes": found}, indent=1, sort_keys=True)
        + "\n"
    )
    print(f"{len(found)} classes -> {args.out}")


if __name__ == "__main__":
    main()
