"""A shard's results file: append-only JSONL that survives a crash at any point.

Each batch is appended as complete lines in one write, then flushed and fsynced, so after a
crash the file holds whole batches plus at most one torn line at the end. Opening the file
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

log = logging.getLogger(__name__)


def results_name(index: int, num_shards: int) -> str:
    return f"results-{index:05d}-of-{num_shards:05d}.jsonl"


def summary_name(index: int, num_shards: int) -> str:
    return f"summary-{index:05d}-of-{num_shards:05d}.json"


def repair(path: Path) -> list[dict[str, Any]]:
    """Read the records of a results file, truncating a torn or unparseable tail in place."""
    if not path.exists():
        return []
    data = path.read_bytes()
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
    if good_end < len(data):
        log.warning(
            "%s: dropping %d bytes of unfinished results at the end", path, len(data) - good_end
        )
        with open(path, "rb+") as f:
            f.truncate(good_end)
            f.flush()
            os.fsync(f.fileno())
    return records


def latest_records(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per id, the last one written, in the order ids first appeared."""
    latest: dict[str, dict[str, Any]] = {}
    for record in records:
        latest[record["id"]] = record
    return list(latest.values())


class ResultsLog:
    """Appends batches of records to a shard's JSONL; knows which ids are done. With
    `retry_errors`, ids whose last record is an error do not count as done."""

    def __init__(self, path: Path, retry_errors: bool = False) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.records = repair(path)
        latest = latest_records(self.records)
        self.failed = {r["id"] for r in latest if r.get("status") == "error"}
        self.done = {r["id"] for r in latest} - (self.failed if retry_errors else set())
        self._file = open(path, "ab")  # held for the job's lifetime

    def append(self, records: Sequence[dict[str, Any]]) -> None:
        if not records:
            return
        data = b"".join(json.dumps(r, separators=(",", ":")).encode() + b"\n" for r in records)
        self._file.write(data)
        self._file.flush()
        os.fsync(self._file.fileno())
        self.done.update(r["id"] for r in records)
        for r in records:
            if r.get("status") == "error":
                self.failed.add(r["id"])
            else:
                self.failed.discard(r["id"])

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> ResultsLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_results(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The complete records of a results file (read only; a torn tail is ignored)."""
    records = []
    for line in Path(path).read_bytes().split(b"\n")[:-1]:
        try:
            records.append(json.loads(line))
        except (json.JSONDecodeError, UnicodeDecodeError):
            break
    return records
