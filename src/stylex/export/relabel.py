"""New versions of an exported model whose manifest's catalog changes: attribute names
(`label_model`), IMAGE mode's screen prior (`prior_model`) or the classes' names
(`rename_classes_model`).

The old version is never touched: the files are copied into the new version's folder and
checked against the manifest's sha256 again, the manifest records which version and which
manifest bytes it came from, and the new folder appears complete or not at all.
"""

from __future__ import annotations

import copy
import hashlib
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from stylex.errors import InvalidArgumentError
from stylex.explain.search.screen import ScreenPrior
from stylex.explain.vocabulary.labels import MAX_LABEL_CHARS, Key, apply_labels
from stylex.export.versions import check_name, new_version_dir
from stylex.fileio import write_json
from stylex.rundir import SCREEN_FILE
from stylex.runtime.model_dir import (
    MANIFEST_NAME,
    ModelDir,
    ModelDirError,
    file_entry,
    read_model_dir,
    sha256_bytes,
)


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
    return derive_model(
        model_dir, lambda model, manifest: _set_labels(model, manifest, labels),
        ("labelled_from",), version=version, out=out,
    )  # fmt: skip


def prior_model(
    model_dir: str | Path,
    prior: ScreenPrior,  # measured on the model (stylex.explain.search.screen)
    *,
    labels: dict[Key, str] | None = None,  # names too, in the same new version
    measured_on: dict[str, Any] | None = None,  # what the prior was measured on (data, seed)
    version: str | None = None,
    out: str | Path | None = None,
) -> Path:
    """Write a new version of `model_dir` with IMAGE mode's screen prior (`screen.npz`, listed
    in the manifest's files and its "screen" section), and `labels` when given; return its
    folder. A prior the old version had is replaced."""
    data = prior.to_bytes()  # derive_model reads the new version back: it must fit the model

    def change(model: ModelDir, manifest: dict[str, Any]) -> None:
        if prior.best.shape[1] != len(model.class_names):
            raise InvalidArgumentError(
                f"screen prior for {prior.best.shape[1]} classes, the model has "
                f"{len(model.class_names)}"
            )
        manifest["screen"] = {"file": SCREEN_FILE, **prior.describe(), **(measured_on or {})}
        if labels:
            _set_labels(model, manifest, labels)

    records = ("screened_from", "labelled_from") if labels else ("screened_from",)
    return derive_model(
        model_dir, change, records, version=version, out=out, extra_files={SCREEN_FILE: data}
    )


def rename_classes_model(
    model_dir: str | Path,
    class_names: list[str],  # new names, in the classifier's output order
    *,
    labels: dict[Key, str] | None = None,  # attribute names too, in the same new version
    version: str | None = None,
    out: str | Path | None = None,
) -> Path:
    """Write a new version of `model_dir` whose classes are called `class_names`; return its
    folder. Only names change: output order, catalog entries and files stay as they were. The
    manifest maps old to new names under "renamed_classes"; the training provenance keeps the
    names the data had, and evaluation.json (if any) the names it was measured under."""

    def change(model: ModelDir, manifest: dict[str, Any]) -> None:
        old = model.class_names
        new = check_class_names(class_names, len(old))
        if labels:  # first: it finds the catalog's entries under the old names
            _set_labels(model, manifest, labels)
        mapping = dict(zip(old, new, strict=True))
        manifest["class_names"] = new
        catalog = manifest["catalog"]
        catalog["class_names"] = new
        catalog["classes"] = {mapping[name]: attrs for name, attrs in catalog["classes"].items()}
        classifier = manifest.get("classifier")
        if isinstance(classifier, dict):
            for section in (classifier, classifier.get("preprocessing")):
                if isinstance(section, dict) and "class_names" in section:
                    section["class_names"] = new
        manifest["renamed_classes"] = mapping

    records = ("classes_renamed_from", "labelled_from") if labels else ("classes_renamed_from",)
    return derive_model(model_dir, change, records, version=version, out=out)


def check_class_names(names: list[str], count: int) -> list[str]:
    """`names` stripped, if they are `count` distinct non-empty single-line strings."""
    clean = [str(n).strip() for n in names]
    if len(clean) != count:
        raise InvalidArgumentError(
            f"{len(clean)} class name(s) given, the model has {count} classes: name each one, "
            "in the classifier's output order"
        )
    bad = [n for n in clean if not n or len(n) > MAX_LABEL_CHARS or not n.isprintable()]
    if bad:
        raise InvalidArgumentError(
            f"class name(s) {bad} are not valid: expected non-empty printable text of at most "
            f"{MAX_LABEL_CHARS} characters"
        )
    if len(set(clean)) != len(clean):
        raise InvalidArgumentError(f"class names {clean} repeat a name: each must be distinct")
    return clean


def _set_labels(model: ModelDir, manifest: dict[str, Any], labels: dict[Key, str]) -> None:
    catalog = apply_labels(model.catalog, labels)
    for name, attrs in catalog.classes.items():  # only the labels change: the rest stays exact
        for entry, attr in zip(manifest["catalog"]["classes"][name], attrs, strict=True):
            entry["label"] = attr.label


def derive_model(
    model_dir: str | Path,
    change: Callable[[ModelDir, dict[str, Any]], None],  # edits the new manifest in place
    records: tuple[str, ...],  # manifest keys that record what the version came from
    *,
    version: str | None = None,  # default: the next number
    out: str | Path | None = None,  # default: beside the old version, named `version`
    extra_files: dict[str, bytes] | None = None,  # written (or replaced) and listed in files
) -> Path:
    """A new version of `model_dir`: the same checked files (and `extra_files`), the manifest
    as `change` leaves it, and under each of `records` the old version and its manifest's
    sha256."""
    model = read_model_dir(model_dir)  # checks every file before anything is copied
    old_manifest = (model.path / MANIFEST_NAME).read_bytes()
    version = version or next_version(str(model.manifest["version"]))
    check_name("version", version)
    target = Path(out) if out else model.path.parent / version
    manifest = copy.deepcopy(model.manifest)
    manifest["version"] = version
    manifest["created"] = datetime.now(UTC).isoformat(timespec="seconds")
    change(model, manifest)
    for record in records:
        manifest[record] = {
            "version": str(model.manifest["version"]),
            "manifest_sha256": hashlib.sha256(old_manifest).hexdigest(),
        }
    extra_files = extra_files or {}
    for name, data in extra_files.items():
        check_name("file", name)
        manifest["files"][name] = {"sha256": sha256_bytes(data), "size_bytes": len(data)}
    with new_version_dir(target) as tmp:
        for path in sorted(model.path.iterdir()):
            if path.is_file() and path.name != MANIFEST_NAME and not path.name.startswith("."):
                shutil.copyfile(path, tmp / path.name)
        for name, data in extra_files.items():
            (tmp / name).write_bytes(data)
        for name, entry in manifest["files"].items():  # the copies are what was checked
            if file_entry(tmp / name) != {k: entry[k] for k in ("sha256", "size_bytes")}:
                raise ModelDirError(f"{model.path / name} changed while it was copied")
        write_json(tmp / MANIFEST_NAME, manifest)
        read_model_dir(tmp)  # the new version reads back as a whole
    return target
