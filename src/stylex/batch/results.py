"""A shard's results file: append-only JSONL that survives a crash at any point.

Each batch is appended as complete lines in one write, then flushed and fsynced, so after a
crash the file holds whole batches plus at most one torn line at the end. (On object storage
each batch is an object of its own, see `storage`: there is no torn tail.) Opening the file
again cuts the torn tail off (and anything after a line that does not parse), so the lines left
are exactly the finished items and a restart skips them.

An item retried after an error (`stylex batch --retry-errors`) gets a new line; the last line of
an id is its result (`latest_records`).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stylex.batch.storage import LocalOutput, Output, open_output

log = logging.getLogger(__name__)


def results_name(index: int, num_shards: int) -> str:
    return f"results-{index:05d}-of-{num_shards:05d}.jsonl"


def summary_name(index: int, num_shards: int) -> str:
    return f"summary-{index:05d}-of-{num_shards:05d}.json"


def _parse(data: bytes) -> tuple[list[dict[str, Any]], int]:
    """The complete records at the start of `data`, and the byte where they end."""
    records = []
    good_end = 0
    while good_end < len(data):
        newline = data.find(b"\n", good_end)
        if newline < 0:
            break  # a line without its newline: the write was cut short
        try:
            record = json.loads(data[good_end:newline])
        except (json.JSONDecodeError, UnicodeDecodeError):
            break
        if not isinstance(record, dict) or "id" not in record:
            break
        records.append(record)
        good_end = newline + 1
    return records, good_end


def repair_log(out: Output, name: str) -> list[dict[str, Any]]:
    """Read the records of results log `name`, cutting off a torn or unparseable tail."""
    data = out.read_log(name)
    records, good_end = _parse(data)
    if good_end < len(data):
        log.warning(
            "%s: dropping %d bytes of unfinished results at the end",
            out.describe_log(name), len(data) - good_end,
        )  # fmt: skip
        out.cut_log(name, good_end)
    return records


def repair(path: Path) -> list[dict[str, Any]]:
    """Read the records of a local results file, truncating a torn tail in place."""
    return repair_log(LocalOutput(path.parent), path.name)


def latest_records(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per id, the last one written, in the order ids first appeared."""
    latest: dict[str, dict[str, Any]] = {}
    for record in records:
        latest[record["id"]] = record
    return list(latest.values())


class ResultsLog:
    """Appends batches of records to a shard's results log in `out`; knows which ids are done.
    With `retry_errors`, ids whose last record is an error do not count as done."""

    def __init__(self, out: Output, name: str, retry_errors: bool = False) -> None:
        self.out, self.name = out, name
        self.records = repair_log(out, name)
        latest = latest_records(self.records)
        self.failed = {r["id"] for r in latest if r.get("status") == "error"}
        self.done = {r["id"] for r in latest} - (self.failed if retry_errors else set())

    @property
    def where(self) -> str:
        return self.out.describe_log(self.name)

    # A context manager, as when it held the file open: callers scope a log's use with `with`.
    def __enter__(self) -> ResultsLog:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def append(self, records: Sequence[dict[str, Any]]) -> None:
        if not records:
            return
        data = b"".join(json.dumps(r, separators=(",", ":")).encode() + b"\n" for r in records)
        self.out.append_log(self.name, data)
        self.done.update(r["id"] for r in records)
        for r in records:
            if r.get("status") == "error":
                self.failed.add(r["id"])
            else:
                self.failed.discard(r["id"])


def read_results(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The complete records of a local results file (read only; a torn tail is ignored)."""
    return _parse(Path(path).read_bytes())[0]


def read_shard_results(out: str | os.PathLike[str], index: int, num_shards: int) -> list[dict]:
    """The complete records of shard `index` in output folder or URL `out` (read only)."""
    return _parse(open_output(out).read_log(results_name(index, num_shards)))[0]
