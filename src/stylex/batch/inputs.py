"""What a batch job explains: a folder, a glob or a manifest file -> a sorted list of items.

Each item has a stable id: the path relative to the folder (or to the glob's fixed prefix), or
the path as the manifest writes it (or the manifest's own "id"). Ids decide the shard, the
resume bookkeeping and the image folder name, so they depend only on the input, never on the
machine or the order the file system lists things in.

The same forms work on object storage (see `storage`): a prefix (`s3://bucket/images/`), a
quoted glob (`s3://bucket/images/**/*.png`) or a manifest object; and any manifest may list
URLs. An item's id there is its key relative to the prefix, as for a folder.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from stylex.batch.storage import check_bucket, filesystem, is_url, local_path, storage_errors
from stylex.data.decode import IMAGE_SUFFIXES
from stylex.errors import DataError

MANIFEST_SUFFIXES = (".txt", ".jsonl")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Item:
    id: str  # stable: relative path, manifest path as written, or manifest "id"
    path: Path | str  # the file to read: a local path or a URL


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
    if is_url(text):
        return _sorted_unique(_remote(text), text)
    path = local_path(text)
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


def _remote(url: str) -> list[Item]:
    """A prefix, a glob, a manifest object or one image object."""
    fs, path = filesystem(url)
    check_bucket(fs, path, url)
    unstrip = fs.unstrip_protocol
    with storage_errors(url, "listing"):
        fs.invalidate_cache()  # list what is there now, not what an earlier call saw
        if glob.has_magic(path):
            fixed = path.split("/")
            base = "/".join(fixed[: next(i for i, p in enumerate(fixed) if glob.has_magic(p))])
            return [Item(posixpath.relpath(key, base), unstrip(key))
                    for key in fs.glob(path) if fs.isfile(key)]  # fmt: skip
        if fs.isdir(path):
            root = path.rstrip("/")
            items = []
            for key in fs.find(root):
                rel = posixpath.relpath(key, root)
                # Hidden names include the temporary objects some tools leave: never inputs.
                if any(part.startswith(".") for part in rel.split("/")):
                    continue
                if posixpath.splitext(key)[1].lower() in IMAGE_SUFFIXES:
                    items.append(Item(rel, unstrip(key)))
            return items
        if fs.isfile(path):
            if posixpath.splitext(path)[1].lower() in MANIFEST_SUFFIXES:
                text = fs.cat_file(path).decode("utf-8", errors="replace")
                folder = posixpath.dirname(path)
                return _manifest_items(
                    text, url, path.lower().endswith(".jsonl"),
                    lambda entry: unstrip(posixpath.normpath(posixpath.join(folder, entry))),
                )  # fmt: skip
            return [Item(posixpath.basename(path), url)]
    raise DataError(
        f"batch input {url!r} not found; expected a prefix, a manifest "
        f"({', '.join(MANIFEST_SUFFIXES)}), an image object or a glob pattern"
    )


def _manifest(manifest: Path) -> list[Item]:
    try:
        text = manifest.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read manifest {str(manifest)!r}: {exc}") from None
    root = manifest.parent
    return _manifest_items(text, str(manifest), manifest.suffix.lower() == ".jsonl",
                           lambda entry: root / Path(entry).expanduser())  # fmt: skip


def _manifest_items(
    text: str,
    where: str,  # the manifest, for messages
    jsonl: bool,
    resolve: Callable[[str], Path | str],  # an entry relative to the manifest's folder -> path
) -> list[Item]:
    """Items of a manifest's lines; entries that are URLs are kept as written."""
    items = []
    lines = text.splitlines()
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line or (not jsonl and line.startswith("#")):
            continue
        item_id = None
        if jsonl:
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"manifest {where!r} line {number}: {exc}") from None
            if not isinstance(record, dict) or not isinstance(record.get("path"), str):
                raise DataError(
                    f"manifest {where!r} line {number}: expected an object with a "
                    f'string "path", got {line[:80]!r}'
                )
            entry = record["path"]
            item_id = record.get("id")
            if item_id is not None and not isinstance(item_id, str):
                raise DataError(f'manifest {where!r} line {number}: "id" must be a string')
        else:
            entry = line
        if is_url(entry):
            items.append(Item(item_id or entry, entry))
            continue
        written = Path(entry).expanduser()
        items.append(Item(item_id or Path(os.path.normpath(written)).as_posix(), resolve(entry)))
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
