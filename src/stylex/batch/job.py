"""Run a shard: load images in batches, explain them with an engine, record every item.

Order of writes per batch: the PNGs (each written whole) first, then the batch's JSONL lines.
A line in the results therefore means the item is finished, images included; a crash in between
only redoes that batch. The output is a local folder or an object-store URL (`storage`).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from stylex.batch.inputs import Item, safe_name
from stylex.batch.results import ResultsLog, results_name, summary_name
from stylex.batch.storage import Output, open_output, read_image
from stylex.data.decode import DEFAULT_MAX_IMAGE_PIXELS
from stylex.data.images import encode_image
from stylex.errors import InvalidArgumentError, StylexError
from stylex.explain.single.explanation import Explanation, explanation_to_dict
from stylex.explain.single.options import ExplainOptions
from stylex.rundir import RunPaths
from stylex.runtime.engine import InferenceEngine


@dataclass
class Summary:
    shard_index: int
    num_shards: int
    total: int  # items in this shard
    done_now: int  # explained or failed in this run
    skipped: int  # already in the results file
    retried: int  # items whose earlier error this run tried again (--retry-errors)
    errors: int  # items of this run recorded as "error"
    seconds: float
    images_per_s: float  # done_now / seconds
    results: str  # the shard's JSONL (on object storage: its part objects)
    leftovers_removed: int = 0  # temporary files of killed writes deleted on resume

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _ok_record(item: Item, exp: Explanation, out: Output, images: bool) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": item.id,
        "path": str(item.path),
        "status": "ok",
        "error": None,
        "explanation": explanation_to_dict(exp, request_id=item.id),
    }
    if images:
        folder = Path("images") / safe_name(item.id)
        pngs = {(folder / "reconstruction.png").as_posix(): encode_image(exp.reconstruction)}
        files = []
        for rank, cf in enumerate(exp.counterfactuals, start=1):
            name = (folder / f"counterfactual-{rank}.png").as_posix()
            pngs[name] = encode_image(cf.image)
            files.append(name)
        joint = None
        if exp.joint is not None:
            joint = (folder / "joint.png").as_posix()
            pngs[joint] = encode_image(exp.joint.image)
        out.write_files(pngs)  # an object store uploads them side by side
        record["images"] = {
            "reconstruction": (folder / "reconstruction.png").as_posix(),
            "counterfactuals": files,
            "joint": joint,
        }
    return record


def _error_record(item: Item, message: str) -> dict[str, Any]:
    return {"id": item.id, "path": str(item.path), "status": "error", "error": message,
            "explanation": None}  # fmt: skip


def _explain_batch(
    engine: InferenceEngine, items: Sequence[Item], out: Output, options: ExplainOptions,
    images: bool, max_image_pixels: int,
) -> list[dict[str, Any]]:  # fmt: skip
    """Records for `items`, in order; one bad item never fails the others."""
    records: dict[str, dict[str, Any]] = {}
    loaded: list[tuple[Item, torch.Tensor]] = []
    for item in items:
        try:
            loaded.append((item, read_image(item.path, engine.resolution, max_image_pixels)))
        except StylexError as exc:  # DataError names the file
            records[item.id] = _error_record(item, str(exc))
    results = engine.explain_batch([x for _, x in loaded], options)
    for (item, _), result in zip(loaded, results, strict=True):
        if isinstance(result, Exception):
            records[item.id] = _error_record(item, f"{type(result).__name__}: {result}")
        else:
            # Writing PNGs fails the job, not the item: a full disk should stop it.
            records[item.id] = _ok_record(item, result, out, images)
    return [records[item.id] for item in items]


def run_batch_job(
    engine: InferenceEngine,
    items: Sequence[Item],  # this shard's items (see `shard`)
    out_dir: str | os.PathLike[str],  # a folder, or an object-store URL (s3://bucket/prefix)
    *,
    shard_index: int = 0,
    num_shards: int = 1,
    top_k: int = 5,
    target: int | str | None = None,  # class name or index; None = each image's runner-up
    shift: float = 1.0,
    mode: str | None = None,  # "catalog" | "image"; None: the model's default
    num_candidates: int | None = None,  # IMAGE mode; None: the model's default
    batch_size: int = 32,  # images per engine call and per results append
    images: bool = True,  # write reconstruction and counterfactual PNGs
    progress: bool = True,
    retry_errors: bool = False,  # explain again the items whose last record is an error
    max_image_pixels: int | None = None,  # larger images are refused unread (None: 4096^2)
) -> Summary:
    """Explain `items` into OUT/results-I-of-N.jsonl (+ OUT/images/...), skipping items the
    file already holds; write OUT/summary-I-of-N.json and return the summary."""
    if batch_size < 1:
        raise InvalidArgumentError(f"batch size {batch_size} is not valid; expected >= 1")
    # Checked once: an unknown class or a bad top_k fails the job, not every item.
    options = engine.options(
        top_k=top_k, target=target, shift=shift, mode=mode, num_candidates=num_candidates
    )
    max_image_pixels = max_image_pixels or DEFAULT_MAX_IMAGE_PIXELS
    from tqdm import tqdm

    out = open_output(out_dir)
    start = time.perf_counter()
    done_now = errors = 0
    name = results_name(shard_index, num_shards)
    with ResultsLog(out, name, retry_errors=retry_errors) as results:
        todo = [item for item in items if item.id not in results.done]
        skipped = len(items) - len(todo)
        retried = sum(item.id in results.failed for item in todo)
        # A write killed mid-way leaves a temporary file; only this shard's items and files
        # are touched, so shards sharing the folder never lose each other's writes.
        folders = [f"images/{safe_name(item.id)}" for item in todo] if images else []
        leftovers = out.remove_leftovers(folders, [summary_name(shard_index, num_shards)])
        bar = tqdm(total=len(items), initial=skipped, desc=f"shard {shard_index}/{num_shards}",
                   unit="img", disable=not progress, file=sys.stderr)  # fmt: skip
        with bar:
            for first in range(0, len(todo), batch_size):
                batch = todo[first : first + batch_size]
                records = _explain_batch(engine, batch, out, options, images, max_image_pixels)
                results.append(records)
                done_now += len(records)
                errors += sum(r["status"] == "error" for r in records)
                bar.update(len(records))
                bar.set_postfix(errors=errors)
    seconds = time.perf_counter() - start
    summary = Summary(
        shard_index=shard_index,
        num_shards=num_shards,
        total=len(items),
        done_now=done_now,
        skipped=skipped,
        retried=retried,
        errors=errors,
        seconds=round(seconds, 3),
        images_per_s=round(done_now / seconds, 3) if seconds > 0 else 0.0,
        results=results.where,
        leftovers_removed=leftovers,
    )
    out.write_bytes(summary_name(shard_index, num_shards), summary_json(summary).encode() + b"\n")
    return summary


def summary_json(summary: Summary) -> str:
    return json.dumps(summary.to_dict(), indent=2)


def load_engine(model: str | Path, device: str = "auto", batch_size: int = 1) -> InferenceEngine:
    """An exported model directory (with manifest.json) -> OrtEngine; a training run directory
    -> TorchEngine."""
    from stylex.runtime import MANIFEST_NAME, OrtEngine, TorchEngine

    path = Path(model)
    if (path / MANIFEST_NAME).exists():
        from stylex.runtime.threads import quiet_torch_glue

        quiet_torch_glue()
        return OrtEngine.load(path, device=device, warmup_batch_sizes=(batch_size,))
    if RunPaths(path).catalog.exists():
        return TorchEngine.from_run(path, device=device)
    raise InvalidArgumentError(
        f"model {str(model)!r} is neither an exported model directory ({MANIFEST_NAME}) nor a "
        "run directory with attributes.json"
    )
