"""The model directory: what `stylex export` writes and every engine loads.

MODEL_STORE/<name>/<version>/
    encoder.onnx      x [N, 3, R, R] in [-1, 1] -> w [N, w_dim]
    style.onnx        w, p [N, num_classes] -> conv_styles [N, S], rgb_styles [N, T]
    synthesis.onnx    conv_styles, rgb_styles -> image [N, 3, R, R] (noise constant)
    classifier.onnx   x -> logits [N, num_classes] (the classifier's preprocessing included)
    manifest.json     schema, shapes, class names, StyleSpace layout, attribute catalog,
                      sha256 and size of every file, exporter and training provenance
    *.fp16.onnx       optional fp16 variant of encoder, style and synthesis (float32 inputs
                      and outputs), listed under manifest "variants" with its acceptance check

Reading a directory checks the schema and every checksum and returns the verified bytes, so
what is loaded is exactly what was checked; any problem is a ModelDirError naming the file.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from stylex.errors import CheckpointError
from stylex.explain.search.screen import ScreenPrior
from stylex.explain.vocabulary.catalog import AttributeCatalog

MANIFEST_NAME = "manifest.json"
# The shipped model, relative to the repository root and, in a wheel, to the package: the build
# (setup.py) copies this folder into the package, so git holds it once.
SHIPPED_MODEL = Path("model_store") / "shapes32" / "7"
MODEL_DIR_ENV = "STYLEX_MODEL_DIR"  # overrides the default everywhere (containers set it)
SCHEMA_VERSION = 1
# graph name -> (file, input names, output names)
GRAPHS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "encoder": ("encoder.onnx", ("x",), ("w",)),
    "style": ("style.onnx", ("w", "p"), ("conv_styles", "rgb_styles")),
    "synthesis": ("synthesis.onnx", ("conv_styles", "rgb_styles"), ("image",)),
    "classifier": ("classifier.onnx", ("x",), ("logits",)),
}
_REQUIRED_KEYS = ("name", "version", "resolution", "class_names", "catalog", "files")
PRECISIONS = ("fp32", "fp16")


class ModelDirError(CheckpointError):
    """A model directory is missing a file, has a corrupt or tampered one, or another schema."""


def shipped_model_dir() -> Path:
    """The model shipped with stylex: inside the installed package (a wheel carries it as
    package data), else in the source checkout the package runs from (`src/stylex` in
    `<repo>/src`). Where neither holds it, the package location, which readers report missing."""
    package = Path(str(resources.files("stylex")))
    candidates = [package / SHIPPED_MODEL]
    if package.parent.name == "src":
        candidates.append(package.parent.parent / SHIPPED_MODEL)
    for folder in candidates:
        if (folder / MANIFEST_NAME).is_file():
            return folder
    return candidates[0]


def default_model_dir() -> Path:
    """The model `stylex serve`, `demo` and `batch` use without --model: $STYLEX_MODEL_DIR when
    set, else the shipped model."""
    override = os.environ.get(MODEL_DIR_ENV, "")
    return Path(override) if override else shipped_model_dir()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_entry(path: Path) -> dict[str, Any]:
    """The manifest's record of one file: its sha256 and size in bytes."""
    data = Path(path).read_bytes()
    return {"sha256": sha256_bytes(data), "size_bytes": len(data)}


@dataclass(frozen=True)
class ModelDir:
    """A verified model directory: its manifest, catalog and the checked bytes of each graph."""

    path: Path
    manifest: dict[str, Any]
    catalog: AttributeCatalog
    graphs: dict[str, bytes]  # graph name -> ONNX bytes, verified against the manifest
    precision: str = "fp32"  # which variant's graphs `graphs` holds
    screen: ScreenPrior | None = None  # IMAGE mode's prior, where the manifest has "screen"

    @property
    def resolution(self) -> int:
        return int(self.manifest["resolution"])

    @property
    def class_names(self) -> list[str]:
        return list(self.manifest["class_names"])

    @property
    def precisions(self) -> list[str]:
        return available_precisions(self.manifest)


def available_precisions(manifest: dict[str, Any]) -> list[str]:
    variants = manifest.get("variants") or {}
    return ["fp32"] + [p for p in PRECISIONS[1:] if p in variants]


def read_model_dir(path: str | Path, precision: str = "fp32") -> ModelDir:
    """Read and verify a model directory (schema, file list, sizes, sha256 of every file).
    `precision` picks the graphs: "fp32", or "fp16" where the directory has that variant."""
    if precision not in PRECISIONS:
        raise ModelDirError(f"precision {precision!r}: expected one of {list(PRECISIONS)}")
    path = Path(path)
    manifest_path = path / MANIFEST_NAME
    if not path.is_dir():
        raise ModelDirError(f"model directory {path} does not exist")
    if not manifest_path.is_file():
        raise ModelDirError(f"{manifest_path} is missing: {path} is not an exported model")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelDirError(f"{manifest_path} is not valid JSON: {exc}") from None
    if not isinstance(manifest, dict):
        raise ModelDirError(f"{manifest_path}: expected a JSON object")
    version = manifest.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ModelDirError(
            f"{manifest_path}: schema_version {version!r}, this stylex reads {SCHEMA_VERSION}"
        )
    missing = [k for k in _REQUIRED_KEYS if k not in manifest]
    if missing:
        raise ModelDirError(f"{manifest_path}: missing field(s) {missing}")
    files = manifest["files"]
    if not isinstance(files, dict):
        raise ModelDirError(f"{manifest_path}: 'files' must map file names to checksums")
    unlisted = [f for f, _, _ in GRAPHS.values() if f not in files]
    if unlisted:
        raise ModelDirError(f"{manifest_path}: graph file(s) {unlisted} not listed in 'files'")
    contents = {name: _verified_bytes(path, name, entry) for name, entry in files.items()}
    catalog = AttributeCatalog.from_json(manifest["catalog"], f"{manifest_path} (catalog)")
    if catalog.class_names != list(manifest["class_names"]):
        raise ModelDirError(
            f"{manifest_path}: catalog classes {catalog.class_names} differ from "
            f"class_names {manifest['class_names']}"
        )
    graphs = {graph: contents[f] for graph, (f, _, _) in GRAPHS.items()}
    if precision != "fp32":
        graphs.update(_variant_graphs(manifest, manifest_path, precision, contents))
    return ModelDir(
        path=path, manifest=manifest, catalog=catalog, graphs=graphs, precision=precision,
        screen=_screen_prior(manifest, manifest_path, contents),
    )  # fmt: skip


def _screen_prior(
    manifest: dict[str, Any], manifest_path: Path, contents: dict[str, bytes]
) -> ScreenPrior | None:
    """The optional "screen": {"file": "screen.npz", ...} section's prior, checked."""
    section = manifest.get("screen")
    if section is None:
        return None
    file = section.get("file") if isinstance(section, dict) else None
    if file not in contents:
        raise ModelDirError(f"{manifest_path}: screen file {file!r} is not listed in 'files'")
    try:
        return ScreenPrior.from_bytes(
            contents[file], num_coords=len(manifest["catalog"]["stats"]["s_min"]),
            num_classes=len(manifest["class_names"]), source=str(manifest_path.parent / file),
        )  # fmt: skip
    except ValueError as exc:
        raise ModelDirError(str(exc)) from None


def _variant_graphs(
    manifest: dict[str, Any], manifest_path: Path, precision: str, contents: dict[str, bytes]
) -> dict[str, bytes]:
    variant = (manifest.get("variants") or {}).get(precision)
    if not isinstance(variant, dict) or not isinstance(variant.get("graphs"), dict):
        raise ModelDirError(
            f"{manifest_path.parent} has no {precision} variant (precisions: "
            f"{available_precisions(manifest)}); export one with `stylex export --{precision}`"
        )
    out = {}
    for graph, file in variant["graphs"].items():
        if graph not in GRAPHS:
            raise ModelDirError(
                f"{manifest_path}: {precision} variant names unknown graph {graph!r}"
            )
        if file not in contents:
            raise ModelDirError(
                f"{manifest_path}: {precision} graph file {file!r} is not listed in 'files'"
            )
        out[graph] = contents[file]
    return out


def _verified_bytes(root: Path, name: str, entry: Any) -> bytes:
    # Only plain names inside the directory: a manifest must not make us read elsewhere.
    if not isinstance(name, str) or Path(name).name != name or name in ("", ".", ".."):
        raise ModelDirError(f"{root / MANIFEST_NAME}: file name {name!r} is not a plain name")
    if not isinstance(entry, dict) or "sha256" not in entry or "size_bytes" not in entry:
        raise ModelDirError(f"{root / MANIFEST_NAME}: entry of {name} lacks sha256/size_bytes")
    file = root / name
    if not file.is_file():
        raise ModelDirError(f"model file {file} is missing")
    data = file.read_bytes()
    if len(data) != entry["size_bytes"]:
        raise ModelDirError(
            f"model file {file} has {len(data)} bytes, the manifest says {entry['size_bytes']} "
            "(truncated or replaced)"
        )
    digest = sha256_bytes(data)
    if digest != entry["sha256"]:
        raise ModelDirError(
            f"model file {file} does not match its manifest sha256 "
            f"({digest[:12]}... != {str(entry['sha256'])[:12]}...): corrupt or tampered"
        )
    return data
