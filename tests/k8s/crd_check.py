"""Offline validation of custom resources (KServe, Kubeflow training) against their schemas.

The custom types come from the projects' PyPI wheels (`crd_types/*.json`, written by
`crd_types/extract.py`: every field's JSON name and type, and the required fields); the
Kubernetes types they embed (V1Container, V1ObjectMeta, V1PodTemplateSpec, ...) are checked
against kubernetes-validate's strict schemas of the same Kubernetes version as the other
manifests. Unknown fields, wrong types and missing required fields are errors.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
from referencing import Registry, Resource

CRD_TYPES = Path(__file__).resolve().parent / "crd_types"
# (apiVersion, kind) -> the generated class of the whole resource
ROOTS = {
    ("serving.kserve.io/v1alpha1", "ServingRuntime"): "V1alpha1ServingRuntime",
    ("serving.kserve.io/v1alpha1", "ClusterServingRuntime"): "V1alpha1ClusterServingRuntime",
    ("serving.kserve.io/v1beta1", "InferenceService"): "V1beta1InferenceService",
    ("kubeflow.org/v1", "PyTorchJob"): "KubeflowOrgV1PyTorchJob",
}
PRIMITIVES: dict[str, tuple[type, ...]] = {
    "str": (str,), "int": (int,), "float": (int, float), "bool": (bool,),
    "datetime": (str,), "date": (str,),
}  # fmt: skip
LIST = re.compile(r"^list\[(.+)\]$")
DICT = re.compile(r"^dict\(str, (.+)\)$")


@functools.cache
def custom_classes() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(CRD_TYPES.glob("*.json")):
        out.update(json.loads(path.read_text())["classes"])
    return out


@functools.cache
def _kubernetes(version: str) -> tuple[Registry, dict[str, str]]:
    """The strict schemas' registry, and python client class name -> $defs key."""
    folder = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    defs = json.loads((folder / f"v{version}-local-strict" / "_definitions.json").read_text())
    registry = Resource.from_contents(defs) @ Registry()
    names: dict[str, str] = {}
    # Core types first, then meta, then the rest: the python client's V1Volume is core's.
    for key in sorted(defs["$defs"], key=lambda k: (not k.startswith("io.k8s.api.core."),
                                                    "apimachinery" not in k, k)):  # fmt: skip
        parts = key.split(".")
        names.setdefault(parts[-2].capitalize() + parts[-1], key)
    return registry, names


def _kubernetes_errors(value: Any, class_name: str, path: str, version: str) -> list[str]:
    registry, names = _kubernetes(version)
    if class_name not in names:
        return [f"{path}: no schema for the Kubernetes type {class_name}"]
    schema = {"$id": "https://kubernetes.io/api/stylex-check",
              "$ref": f"/api/_definitions.json#/$defs/{names[class_name]}"}  # fmt: skip
    validator = jsonschema.validators.Draft202012Validator(schema, registry=registry)
    return [
        f"{path}.{'.'.join(str(p) for p in e.absolute_path)}: {e.message}".rstrip(".:")
        for e in validator.iter_errors(value)
    ]


def errors(value: Any, type_name: str, path: str, version: str) -> list[str]:
    """Everything wrong with `value` as a `type_name` (a generated type string)."""
    if type_name == "object":
        return []
    if type_name in PRIMITIVES:
        ok = isinstance(value, PRIMITIVES[type_name]) and not (
            type_name in ("int", "float") and isinstance(value, bool)
        )
        return [] if ok else [f"{path}: {value!r} is not a {type_name}"]
    if m := LIST.match(type_name):
        if not isinstance(value, list):
            return [f"{path}: expected a list, got {type(value).__name__}"]
        return [e for i, v in enumerate(value) for e in errors(v, m[1], f"{path}[{i}]", version)]
    if m := DICT.match(type_name):
        if not isinstance(value, dict):
            return [f"{path}: expected a map, got {type(value).__name__}"]
        return [e for k, v in value.items() for e in errors(v, m[1], f"{path}.{k}", version)]
    custom = custom_classes().get(type_name)
    if custom is None:
        return _kubernetes_errors(value, type_name, path, version)
    if not isinstance(value, dict):
        return [f"{path}: expected an object ({type_name}), got {type(value).__name__}"]
    known = custom["fields"]
    found = [f"{path}: unknown field {k!r} of {type_name}" for k in value if k not in known]
    found += [f"{path}: missing required field {k!r}" for k in custom["required"] if k not in value]
    for k, v in value.items():
        if k in custom["fields"]:
            found += errors(v, custom["fields"][k], f"{path}.{k}", version)
    return found


def validate(doc: dict[str, Any], version: str) -> list[str]:
    """Errors of one custom resource document; a kind with no schema here is an error too."""
    root = ROOTS.get((doc.get("apiVersion"), doc.get("kind")))
    if root is None:
        return [f"no schema for {doc.get('apiVersion')} {doc.get('kind')}"]
    return errors(doc, root, doc["kind"], version)
