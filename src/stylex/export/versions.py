"""Writing a new model version: built in a hidden folder beside the target, then renamed into
place, so a model directory exists complete or not at all; an existing version is never
overwritten."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from stylex.errors import InvalidArgumentError

SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def check_name(what: str, value: str) -> None:
    """A model name or version: letters, digits, '.', '_' or '-' (it becomes a folder)."""
    if not SAFE_NAME.match(value):
        raise InvalidArgumentError(
            f"model {what} {value!r}: expected letters, digits, '.', '_' or '-'"
        )


@contextlib.contextmanager
def new_version_dir(target: Path) -> Iterator[Path]:
    """Yield an empty hidden folder beside `target`; rename it to `target` if the block
    succeeds, delete it otherwise. Refuses a `target` that exists (before and after)."""
    if target.exists():
        raise InvalidArgumentError(f"{target} already exists; refusing to overwrite a version")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o755)  # mkdtemp makes 0700; a model store is read by servers
        if target.exists():  # created meanwhile by someone else: keep theirs
            raise InvalidArgumentError(f"{target} already exists; refusing to overwrite")
        os.rename(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
