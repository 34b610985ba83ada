"""What a batch job explains: a folder, a glob or a manifest file -> a sorted list of items.

Each item has a stable id: the path relative to the folder (or to the glob's fixed prefix), or
the path as the manifest writes it (or the manifest's own "id"). Ids decide the shard, the
resume bookkeeping and the image folder name, so they depend only on the input, never on the
machine or the order the file system lists things in.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from stylex.data.decode import IMAGE_SUFFIXES
from stylex.errors import DataError

MANIFEST_SUFFIXES = (".txt", ".jsonl")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Item:
    id: str  # stable: relative path, manifest path as written, or manifest "id"
    path: Path  # the file to read


def safe_name(item_id: str) -> str:
    """A folder name for an item's images: readable, and unique through a short hash."""
    digest = hashlib.sha256(item_id.encode()).hexdigest()[:10]
    readable = _UNSAFE.sub("_", item_id).strip("._")[-80:]
    return f"{readable}-{digest}" if readable else digest


def list_inputs(spec: str | os.PathLike[str]) -> list[Item]:
    """Items of a folder (recursive, image suffixes), a manifest (.txt: one path a line; .jsonl:
    {"path": ..., "id": optional}), one image file, or a glob pattern; sorted by id.

    Manifest paths are relative to the manifest's folder. Files a manifest names but that do not
    exist are kept: they become per-item errors, not a failed job.
    """
    text = os.fspath(spec)
    path = Path(text).expanduser()
    if path.is_dir():
        items = _folder(path)
    elif path.is_file() and path.suffix.lower() in MANIFEST_SUFFIXES:
        items = _manifest(path)
    elif path.is_file():
        items = [Item(path.name, path)]
    elif glob.has_magic(text):
        items = _glob(text)
    else:
        raise DataError(
            f"batch input {text!r} not found; expected a folder, a manifest "
            f"({', '.join(MANIFEST_SUFFIXES)}), an image file or a glob pattern"
        )
    return _sorted_unique(items, text)


def _folder(root: Path) -> list[Item]:
    items = []
    for p in root.rglob("*"):
        rel = p.relative_to(root)
        # Hidden files include the temporary files of atomic writes: never inputs.
        if any(part.startswith(".") for part in rel.parts):
            continue
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES:
            items.append(Item(rel.as_posix(), p))
    return items


def _glob(pattern: str) -> list[Item]:
    parts = Path(pattern).expanduser().parts
    fixed = []
    for part in parts:
        if glob.has_magic(part):
            break
        fixed.append(part)
    base = Path(*fixed) if fixed else Path(".")
    items = []
    for match in glob.glob(os.path.expanduser(pattern), recursive=True):
        p = Path(match)
        if p.is_file():
            items.append(Item(Path(os.path.relpath(p, base)).as_posix(), p))
    return items


def _manifest(manifest: Path) -> list[Item]:
    root = manifest.parent
    jsonl = manifest.suffix.lower() == ".jsonl"
    items = []
    try:
        lines = manifest.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read manifest {str(manifest)!r}: {exc}") from None
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line or (not jsonl and line.startswith("#")):
            continue
        item_id = None
        if jsonl:
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"manifest {str(manifest)!r} line {number}: {exc}") from None
            if not isinstance(record, dict) or not isinstance(record.get("path"), str):
                raise DataError(
                    f"manifest {str(manifest)!r} line {number}: expected an object with a "
                    f'string "path", got {line[:80]!r}'
                )
            entry = record["path"]
            item_id = record.get("id")
            if item_id is not None and not isinstance(item_id, str):
                raise DataError(f'manifest {str(manifest)!r} line {number}: "id" must be a string')
        else:
            entry = line
        written = Path(entry).expanduser()
        items.append(Item(item_id or Path(os.path.normpath(written)).as_posix(), root / written))
    return items


def _sorted_unique(items: list[Item], spec: str) -> list[Item]:
    by_id: dict[str, Item] = {}
    for item in items:
        seen = by_id.get(item.id)
        if seen is not None and seen.path != item.path:
            raise DataError(
                f"batch input {spec!r}: id {item.id!r} names two files "
                f"({str(seen.path)!r} and {str(item.path)!r}); ids must be unique"
            )
        by_id.setdefault(item.id, item)
    if not by_id:
        raise DataError(f"batch input {spec!r} has no images")
    return [by_id[k] for k in sorted(by_id)]
