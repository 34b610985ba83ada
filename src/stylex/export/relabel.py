"""Attribute names into a model: a new model version whose manifest's catalog carries them.

The old version is never touched: the files are copied into the new version's folder and
checked against the manifest's sha256 again, the manifest records which version and which
manifest bytes it was labelled from, and the new folder appears complete or not at all.
"""

from __future__ import annotations

import copy
import hashlib
import shutil
from datetime import UTC, datetime
from pathlib import Path

from stylex.errors import InvalidArgumentError
from stylex.explain.labels import Key, apply_labels
from stylex.export.versions import check_name, new_version_dir
from stylex.fileio import write_json
from stylex.runtime.model_dir import MANIFEST_NAME, ModelDirError, file_entry, read_model_dir


def next_version(version: str) -> str:
    """ "3" -> "4"; a version that is not a number needs an explicit one."""
    if not version.isdecimal():
        raise InvalidArgumentError(f"version {version!r} is not a number; pass --version")
    return str(int(version) + 1)


def label_model(
    model_dir: str | Path,
    labels: dict[Key, str],
    *,
    version: str | None = None,  # default: the next number
    out: str | Path | None = None,  # default: beside the old version, named `version`
) -> Path:
    """Write a new version of `model_dir` with `labels` in its catalog; return its folder."""
    model = read_model_dir(model_dir)  # checks every file before anything is copied
    old_manifest = (model.path / MANIFEST_NAME).read_bytes()
    catalog = apply_labels(model.catalog, labels)
    version = version or next_version(str(model.manifest["version"]))
    check_name("version", version)
    target = Path(out) if out else model.path.parent / version
    manifest = copy.deepcopy(model.manifest)
    manifest["version"] = version
    manifest["created"] = datetime.now(UTC).isoformat(timespec="seconds")
    for name, attrs in catalog.classes.items():  # only the labels change: the rest stays exact
        for entry, attr in zip(manifest["catalog"]["classes"][name], attrs, strict=True):
            entry["label"] = attr.label
    manifest["labelled_from"] = {
        "version": str(model.manifest["version"]),
        "manifest_sha256": hashlib.sha256(old_manifest).hexdigest(),
    }
    with new_version_dir(target) as tmp:
        for path in sorted(model.path.iterdir()):
            if path.is_file() and path.name != MANIFEST_NAME and not path.name.startswith("."):
                shutil.copyfile(path, tmp / path.name)
        for name, entry in manifest["files"].items():  # the copies are what was checked
            if file_entry(tmp / name) != {k: entry[k] for k in ("sha256", "size_bytes")}:
                raise ModelDirError(f"{model.path / name} changed while it was copied")
        write_json(tmp / MANIFEST_NAME, manifest)
        read_model_dir(tmp)  # the new version reads back as a whole
    return target
