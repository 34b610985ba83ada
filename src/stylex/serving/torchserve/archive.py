"""`stylex archive`: a verified model directory -> NAME.mar (torch-model-archiver) plus a
TorchServe config.properties that loads it with the given batch settings.

The handler file is `handlers/stylex_handler.py` (read as a file, never imported): the source
tree's, or the copy a wheel carries inside the package (see setup.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from stylex.errors import InvalidArgumentError
from stylex.fileio import atomic_path
from stylex.runtime import MANIFEST_NAME, read_model_dir

HANDLER = Path("handlers") / "stylex_handler.py"


def default_handler() -> Path:
    """The TorchServe handler `stylex archive` packs without --handler: the copy inside the
    installed package (a wheel carries it), else the source checkout's handlers/ folder."""
    package = Path(str(resources.files("stylex")))
    candidates = [package / HANDLER]
    if package.parent.name == "src":
        candidates.append(package.parent.parent / HANDLER)
    return next((c for c in candidates if c.is_file()), candidates[-1])


@dataclass(frozen=True)
class ArchiveSettings:
    batch_size: int = 8  # requests TorchServe gathers into one handler call
    max_batch_delay_ms: int = 50  # how long it waits to fill a batch
    workers: int = 1  # workers per model (min = max)
    response_timeout_s: int = 120


def _archiver() -> list[str]:
    exe = shutil.which("torch-model-archiver") or shutil.which(
        "torch-model-archiver", path=str(Path(sys.executable).parent)
    )
    if exe is None:
        raise InvalidArgumentError(
            "torch-model-archiver is not installed (pip install 'stylex[serve]')"
        )
    return [exe]


def build_archive(
    model_dir: str | Path,
    out_dir: str | Path,
    name: str,
    *,
    handler: str | Path | None = None,  # default: handlers/stylex_handler.py of the source tree
    settings: ArchiveSettings = ArchiveSettings(),
) -> Path:
    """Write OUT/NAME.mar (atomically) and OUT/config.properties; return the .mar path."""
    model = read_model_dir(model_dir)  # refuse to archive a model that does not verify
    handler = Path(handler) if handler else default_handler()
    if not handler.is_file():
        raise InvalidArgumentError(
            f"handler {handler} not found; pass --handler path/to/stylex_handler.py"
        )
    if not name or Path(name).name != name or name.startswith("."):
        raise InvalidArgumentError(f"archive name {name!r} is not a plain file name")
    if settings.batch_size < 1 or settings.max_batch_delay_ms < 0:
        raise InvalidArgumentError(
            f"batch size {settings.batch_size} / max batch delay {settings.max_batch_delay_ms} "
            "ms: expected >= 1 and >= 0"
        )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    extra = [str(model.path / f) for f in model.manifest["files"] if f != MANIFEST_NAME]
    with tempfile.TemporaryDirectory(prefix=f".{name}.", dir=out_dir) as tmp:
        cmd = [
            *_archiver(),
            "--model-name", name,
            "--version", str(model.manifest["version"]),
            "--serialized-file", str(model.path / MANIFEST_NAME),
            "--handler", str(handler),
            "--extra-files", ",".join(extra),
            "--export-path", tmp,
            "--archive-format", "default",
        ]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        built = Path(tmp) / f"{name}.mar"
        if proc.returncode != 0 or not built.is_file():
            raise InvalidArgumentError(
                f"torch-model-archiver failed ({proc.returncode}): {proc.stderr.strip()[-500:]}"
            )
        mar = out_dir / f"{name}.mar"
        os.replace(built, mar)
    with atomic_path(out_dir / "config.properties") as tmp_cfg:
        tmp_cfg.write_text(
            config_properties(out_dir, name, str(model.manifest["version"]), settings)
        )
    return mar


def config_properties(model_store: Path, name: str, version: str, settings: ArchiveSettings) -> str:
    """A TorchServe config that loads NAME.mar at start with the batch settings."""
    models = {
        name: {
            version: {
                "marName": f"{name}.mar",
                "minWorkers": settings.workers,
                "maxWorkers": settings.workers,
                "batchSize": settings.batch_size,
                "maxBatchDelay": settings.max_batch_delay_ms,
                "responseTimeout": settings.response_timeout_s,
            }
        }
    }
    return "\n".join(
        [
            "# Written by `stylex archive`: torchserve --start --ts-config THIS_FILE",
            f"model_store={Path(model_store).resolve()}",
            f"load_models={name}.mar",
            f"models={json.dumps(models)}",
            "install_py_dep_per_model=false",
            "",
        ]
    )
