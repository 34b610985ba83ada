"""The results log: whole lines survive, a torn tail is cut off, done ids are remembered."""

from __future__ import annotations

import json

from stylex.batch import ResultsLog, read_results, repair
from stylex.batch.storage import LocalOutput


def test_append_and_reopen(tmp_path):
    path = tmp_path / "r.jsonl"
    with ResultsLog(LocalOutput(tmp_path), path.name) as log:
        log.append([{"id": "a", "status": "ok"}, {"id": "b", "status": "error"}])
        log.append([])
    with ResultsLog(LocalOutput(tmp_path), path.name) as log:
        assert log.done == {"a", "b"}
        log.append([{"id": "c", "status": "ok"}])
    assert [r["id"] for r in read_results(path)] == ["a", "b", "c"]


def test_torn_tail_is_truncated(tmp_path):
    path = tmp_path / "r.jsonl"
    whole = json.dumps({"id": "a"}) + "\n" + json.dumps({"id": "b"}) + "\n"
    path.write_text(whole + '{"id": "c", "stat')
    assert [r["id"] for r in read_results(path)] == ["a", "b"]
    assert [r["id"] for r in repair(path)] == ["a", "b"]
    assert path.read_text() == whole
    # A line that does not parse (e.g. zeros after a crash) ends the good part too.
    path.write_text(whole + "\x00\x00\x00\n" + json.dumps({"id": "d"}) + "\n")
    assert [r["id"] for r in repair(path)] == ["a", "b"]
    assert path.read_text() == whole
