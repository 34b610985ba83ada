"""Where a batch job reads images and writes results: local files, or object storage by URL.

Local paths use the standard library only. A URL with a scheme (`s3://bucket/prefix`,
`gs://...`, any fsspec protocol) goes through fsspec and the backend package for that scheme
(s3fs for s3://, installed by `pip install stylex[s3]`). Credentials and endpoints come from the
backend's own configuration (for S3: the AWS_* environment variables such as
AWS_ENDPOINT_URL, ~/.aws, the pod's IAM role); stylex takes none as a flag and logs none.

Object stores have no rename and no append, but a PUT is all or nothing. So every output is
one whole object written in one call (a killed pod leaves each object complete or absent), and
a shard's results, which grow batch by batch, are a series of JSONL objects, one per batch:
`results-I-of-N-part-SEQ-WRITER.jsonl`, read back in (SEQ, WRITER) order. SEQ continues from
the parts listed when the writer starts; WRITER is random per writer, so two writers of one
shard (a pod restarted while the old one still runs, a shard given to two jobs) never overwrite
each other's parts: both sets are kept, and for an id written twice the last record read is its
result. (Parts named without WRITER, `...-part-SEQ.jsonl`, are read too.) A local results file
stays one file, appended to and fsynced.
"""

from __future__ import annotations

import os
import re
import secrets
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from stylex.data.decode import DEFAULT_MAX_IMAGE_PIXELS, load_image, load_image_bytes
from stylex.errors import DataError, StorageError
from stylex.fileio import leftover_temps, write_bytes

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_PART = re.compile(r"-part-(\d+)(?:-([0-9a-f]+))?\.jsonl$")


def is_url(spec: str | os.PathLike[str]) -> bool:
    """True for `scheme://...` (object storage through fsspec); file:// counts as local."""
    match = _SCHEME.match(os.fspath(spec))
    return match is not None and match.group(1).lower() != "file"


def local_path(spec: str | os.PathLike[str]) -> Path:
    text = os.fspath(spec)
    return Path(text.removeprefix("file://")).expanduser()


def filesystem(url: str) -> tuple[Any, str]:
    """The fsspec file system of `url` and the path inside it (bucket/key, no scheme)."""
    scheme = url.split("://", 1)[0]
    try:
        from fsspec.core import url_to_fs
    except ImportError:
        raise StorageError(
            f"{url!r} needs fsspec and the {scheme}:// backend; install them with "
            "`pip install stylex[s3]` (s3://) or fsspec plus the backend for your store"
        ) from None
    try:
        return url_to_fs(url)
    except (ImportError, ValueError) as exc:  # fsspec names the package the scheme needs
        raise StorageError(f"no storage backend for {scheme}:// ({exc})") from None


@contextmanager
def storage_errors(url: str, doing: str) -> Iterator[None]:
    """Turn a backend's exception into a one-line StorageError naming the URL."""
    try:
        yield
    except StorageError:
        raise
    except PermissionError as exc:
        raise StorageError(f"access denied {doing} {url!r}: {_reason(exc)}") from None
    except FileNotFoundError as exc:
        raise StorageError(
            f"{url!r} not found {doing} it (does the bucket exist?): {_reason(exc)}"
        ) from None
    except OSError as exc:
        raise StorageError(f"storage error {doing} {url!r}: {_reason(exc)}") from None


def _reason(exc: BaseException) -> str:
    # Backends put the server's code and message in str(); the first line is enough.
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def check_bucket(fs: Any, path: str, url: str) -> None:
    """StorageError unless the bucket (the first part of `path`) exists and can be reached."""
    bucket = path.split("/", 1)[0]
    with storage_errors(url, "opening"):
        try:
            fs.info(bucket)  # not exists(): that answers False when access is denied
        except FileNotFoundError:
            raise StorageError(f"bucket {bucket!r} does not exist (opening {url!r})") from None


def read_image(
    path: Path | str, resolution: int, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
) -> torch.Tensor:
    """One input image as x [3,R,R]; DataError naming the file or URL if it cannot be read, so
    a missing or forbidden object is that item's error, not the job's."""
    if not isinstance(path, str) or not is_url(path):
        return load_image(path, resolution, max_pixels)
    fs, key = filesystem(path)
    try:
        data = fs.cat_file(key)
    except OSError as exc:  # PermissionError and FileNotFoundError included
        reason = f"{type(exc).__name__}: {_reason(exc)}"
        raise DataError(f"cannot read image {path!r} ({reason})") from None
    return load_image_bytes(data, resolution, path, max_pixels)


class Output(ABC):
    """A job's output folder: whole files written atomically, plus append-only record logs."""

    @abstractmethod
    def write_bytes(self, name: str, data: bytes) -> None:
        """Write `name` (a relative, /-separated name) whole: readers see all of it or none."""

    def write_files(self, files: dict[str, bytes]) -> None:
        """`write_bytes` for each name -> data; each file is whole, in no particular order."""
        for name, data in files.items():
            self.write_bytes(name, data)

    @abstractmethod
    def read_log(self, name: str) -> bytes:
        """Everything appended to log `name` so far (b"" if none)."""

    @abstractmethod
    def append_log(self, name: str, data: bytes) -> None:
        """Append complete lines to log `name`, durably, before returning."""

    @abstractmethod
    def cut_log(self, name: str, size: int) -> None:
        """Drop what log `name` holds after its first `size` bytes (a torn last write)."""

    @abstractmethod
    def describe_log(self, name: str) -> str:
        """Where log `name` lives, for summaries and messages."""

    def remove_leftovers(self, folders: Sequence[str], names: Sequence[str]) -> int:
        """Delete what killed writes left: every temporary file in `folders`, and those of the
        top-level files `names`. Returns how many. (Whole-object stores leave none.)"""
        return 0


class LocalOutput(Output):
    def __init__(self, root: Path) -> None:
        self.root = root

    def write_bytes(self, name: str, data: bytes) -> None:
        write_bytes(self.root / name, data)

    def read_log(self, name: str) -> bytes:
        path = self.root / name
        return path.read_bytes() if path.exists() else b""

    def append_log(self, name: str, data: bytes) -> None:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "ab") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())

    def cut_log(self, name: str, size: int) -> None:
        with open(self.root / name, "rb+") as f:
            f.truncate(size)
            f.flush()
            os.fsync(f.fileno())

    def describe_log(self, name: str) -> str:
        return str(self.root / name)

    def remove_leftovers(self, folders: Sequence[str], names: Sequence[str]) -> int:
        found = [t for folder in folders for t in leftover_temps(self.root / folder)]
        found += [t for name in names for t in leftover_temps(self.root, name)]
        for path in found:
            path.unlink(missing_ok=True)
        return len(found)


class ObjectOutput(Output):
    """An object-store prefix. Log `NAME.jsonl` is the objects `NAME-part-SEQ-WRITER.jsonl`."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.fs, self.root = filesystem(self.url)
        self.root = self.root.rstrip("/")
        self.writer = secrets.token_hex(6)  # this writer's part-name suffix
        self._next_part: dict[str, int] = {}
        self._read: dict[str, list[tuple[int, str]]] = {}  # log -> (end byte, key) of each part
        check_bucket(self.fs, self.root, self.url)  # before any image is explained

    def _key(self, name: str) -> str:
        return f"{self.root}/{name}"

    def write_bytes(self, name: str, data: bytes) -> None:
        with storage_errors(f"{self.url}/{name}", "writing"):
            self.fs.pipe_file(self._key(name), data)

    def write_files(self, files: dict[str, bytes]) -> None:
        # One call: fsspec's async backends send the PUTs concurrently.
        with storage_errors(self.url, "writing"):
            self.fs.pipe({self._key(name): data for name, data in files.items()})

    def _parts(self, name: str) -> list[tuple[int, str, str]]:
        """(SEQ, WRITER, key) of each part of log `name`, in reading order."""
        stem = name.removesuffix(".jsonl")
        pattern = self._key(f"{stem}-part-*.jsonl")
        with storage_errors(f"{self.url}/{name}", "listing"):
            self.fs.invalidate_cache(self.root)  # another run may have written since
            found = self.fs.glob(pattern)
        parts = []
        for key in found:
            base = key.rsplit("/", 1)[-1]
            match = _PART.search(base)
            if match and base == f"{stem}{match.group(0)}":
                parts.append((int(match.group(1)), match.group(2) or "", key))
        return sorted(parts)

    def read_log(self, name: str) -> bytes:
        parts = self._parts(name)
        self._next_part[name] = parts[-1][0] + 1 if parts else 0
        chunks, ends, end = [], [], 0
        with storage_errors(f"{self.url}/{name}", "reading"):
            for _, _, key in parts:
                chunks.append(self.fs.cat_file(key))
                end += len(chunks[-1])
                ends.append((end, key))
        self._read[name] = ends
        return b"".join(chunks)

    def append_log(self, name: str, data: bytes) -> None:
        if name not in self._next_part:
            self.read_log(name)
        seq = self._next_part[name]
        stem = name.removesuffix(".jsonl")
        self.write_bytes(f"{stem}-part-{seq:06d}-{self.writer}.jsonl", data)
        self._next_part[name] = seq + 1

    def cut_log(self, name: str, size: int) -> None:
        # Parts are written whole, so only a foreign or damaged object gets here; it is not
        # deleted (it may be someone's), the job stops and names it.
        key = next((key for end, key in self._read.get(name, []) if end > size), None)
        damaged = self.url + key[len(self.root) :] if key else self.describe_log(name)
        raise StorageError(
            f"{self.describe_log(name)}: the results do not parse after byte {size}, in "
            f"{damaged}: that object is damaged or was not written by stylex; move it away "
            "and run the shard again"
        )

    def describe_log(self, name: str) -> str:
        return f"{self.url}/{name.removesuffix('.jsonl')}-part-*.jsonl"


def open_output(spec: str | os.PathLike[str]) -> Output:
    """The output folder `spec`: a local path, or an object-store URL."""
    text = os.fspath(spec)
    return ObjectOutput(text) if is_url(text) else LocalOutput(local_path(text))
