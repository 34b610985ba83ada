"""run_batch_job with the shipped model: sharded runs, resume, per-item errors, images."""

from __future__ import annotations

import json

import pytest
import torch

from stylex.batch import list_inputs, read_results, results_name, run_batch_job, shard
from stylex.errors import InvalidArgumentError
from tests.batch.conftest import (
    NUM_GOOD,
    assert_records_equal_engine,
    assert_same_results,
    by_id,
)
from tests.conftest import catalog_attributes


@pytest.fixture(scope="module")
def single_run(engine, image_dir, tmp_path_factory):
    """The whole input as one shard, with images: the reference for the other tests."""
    out = tmp_path_factory.mktemp("single")
    summary = run_batch_job(engine, list_inputs(image_dir), out, batch_size=5, progress=False)
    return out, summary, read_results(out / results_name(0, 1))


def test_single_run_records_every_item(single_run, engine):
    out, summary, records = single_run
    assert (summary.total, summary.done_now, summary.skipped, summary.errors) == (
        NUM_GOOD + 1, NUM_GOOD + 1, 0, 1,
    )  # fmt: skip
    assert summary.images_per_s > 0
    assert json.loads((out / "summary-00000-of-00001.json").read_text()) == summary.to_dict()
    records = by_id(records)
    bad = records["corrupt.png"]
    assert bad["status"] == "error" and "corrupt.png" in bad["error"]
    assert bad["explanation"] is None
    good = records["sub/img00.png"]
    assert good["status"] == "ok" and good["error"] is None
    exp = good["explanation"]
    assert set(exp) >= {"predicted", "target", "probs", "attributes"}
    assert len(exp["attributes"]) == catalog_attributes(5)
    assert set(exp["probs"]) == set(engine.class_names)
    files = good["images"]
    assert (out / files["reconstruction"]).is_file()
    assert [f.rsplit("/", 1)[1] for f in files["counterfactuals"]] == [
        f"counterfactual-{k}.png" for k in range(1, catalog_attributes(5) + 1)
    ]
    assert all((out / f).is_file() for f in files["counterfactuals"])


def test_records_equal_engine_explain_on_each_image(single_run, engine):
    assert assert_records_equal_engine(single_run[2], engine) == NUM_GOOD


def test_records_with_target_and_shift_equal_engine_explain(engine, image_dir, tmp_path):
    items = [item for item in list_inputs(image_dir) if item.id != "corrupt.png"][:4]
    run_batch_job(engine, items, tmp_path, top_k=2, target="light_bg", shift=0.5, batch_size=3,
                  images=False, progress=False)  # fmt: skip
    records = read_results(tmp_path / results_name(0, 1))
    assert {r["explanation"]["target"] for r in records} == {"light_bg"}
    assert assert_records_equal_engine(records, engine, top_k=2, target="light_bg", shift=0.5) == 4


def run_shards(engine, items, out, num_shards: int, batch_size: int) -> list[dict]:
    """Every shard of `items` in turn, each a fresh run of its share; all shards' records."""
    records = []
    for index in range(num_shards):
        part = shard(items, index, num_shards)
        summary = run_batch_job(engine, part, out, shard_index=index, num_shards=num_shards,
                                batch_size=batch_size, images=False, progress=False)  # fmt: skip
        assert (summary.total, summary.done_now, summary.skipped) == (len(part), len(part), 0)
        assert len(part) > 0
        records += read_results(out / results_name(index, num_shards))
    return records


def test_two_shards_cover_the_input_once(single_run, engine, image_dir, tmp_path):
    records = run_shards(engine, list_inputs(image_dir), tmp_path, num_shards=2, batch_size=3)
    assert_same_results(records, single_run[2])  # by_id inside: each id exactly once
    assert not (tmp_path / "images").exists()


def test_changing_num_shards_on_resume_starts_new_result_files(single_run, engine, image_dir):
    """Results are named by I-of-N: a rerun with another number of shards does not read the
    one-shard results (it cannot tell which of them are its own), redoes its share in files of
    its own, and the three new shards still hold every item exactly once."""
    out, _, reference = single_run
    before = (out / results_name(0, 1)).read_bytes()
    items = list_inputs(image_dir)
    assert_same_results(run_shards(engine, items, out, num_shards=3, batch_size=4), reference)
    assert (out / results_name(0, 1)).read_bytes() == before  # the old shard is left as it was
    again = run_batch_job(engine, shard(items, 1, 3), out, shard_index=1, num_shards=3,
                          images=False, progress=False)  # fmt: skip
    assert again.done_now == 0 and again.skipped == again.total


def test_rerun_skips_finished_items(single_run, engine, image_dir):
    out, _, records = single_run
    summary = run_batch_job(engine, list_inputs(image_dir), out, progress=False)
    assert (summary.done_now, summary.skipped, summary.errors) == (0, NUM_GOOD + 1, 0)
    assert read_results(out / results_name(0, 1)) == records


def test_torn_line_is_repaired_and_redone(single_run, engine, image_dir, tmp_path):
    lines = (single_run[0] / results_name(0, 1)).read_text().splitlines(keepends=True)
    path = tmp_path / results_name(0, 1)
    path.write_text("".join(lines[:4]) + lines[4][: len(lines[4]) // 2])  # a crash mid-write
    summary = run_batch_job(engine, list_inputs(image_dir), tmp_path, images=False,
                            batch_size=4, progress=False)  # fmt: skip
    assert (summary.skipped, summary.done_now) == (4, NUM_GOOD + 1 - 4)
    assert_same_results(read_results(path), single_run[2])


def test_engine_failure_is_one_items_error(engine, image_dir, tmp_path, monkeypatch):
    """A batch the engine rejects is retried item by item; only the culprit is an error."""
    items = [i for i in list_inputs(image_dir) if i.id != "corrupt.png"][:4]
    real = type(engine).encode_styles

    def encode_styles(self, x, p):
        if any(torch.equal(img, x_bad) for img in x):
            raise RuntimeError("engine fell over")
        return real(self, x, p)

    from stylex.data.decode import load_image

    x_bad = load_image(items[2].path, engine.resolution)
    monkeypatch.setattr(type(engine), "encode_styles", encode_styles)
    summary = run_batch_job(engine, items, tmp_path, images=False, progress=False)
    records = by_id(read_results(tmp_path / results_name(0, 1)))
    assert summary.errors == 1
    assert records[items[2].id]["error"] == "RuntimeError: engine fell over"
    assert sum(r["status"] == "ok" for r in records.values()) == 3


def test_bad_options_fail_before_any_work(engine, image_dir, tmp_path):
    items = list_inputs(image_dir)
    with pytest.raises(InvalidArgumentError, match="unknown class 'blue'"):
        run_batch_job(engine, items, tmp_path, target="blue", progress=False)
    with pytest.raises(InvalidArgumentError, match="top_k 0"):
        run_batch_job(engine, items, tmp_path, top_k=0, progress=False)
    assert not list(tmp_path.iterdir())


def test_resume_removes_the_temporary_files_of_killed_writes(engine, image_dir, tmp_path):
    """A SIGKILL between a PNG's write and its rename leaves `.NAME.XXXX.tmp`; the resumed
    shard deletes those of its own unfinished items, and nothing of another shard."""
    items = list_inputs(image_dir)
    mine, theirs = shard(items, 0, 2), shard(items, 1, 2)
    first = mine[0]
    run_batch_job(engine, [first], tmp_path, shard_index=0, num_shards=2, progress=False)
    from stylex.batch.inputs import safe_name

    def leftover(item, name):
        path = tmp_path / "images" / safe_name(item.id) / f".{name}.k1ll3d.tmp"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half a png")
        return path

    killed = [leftover(item, "reconstruction.png") for item in mine[1:3]]
    killed.append(leftover(mine[1], "counterfactual-2.png"))
    summary_tmp = tmp_path / ".summary-00000-of-00002.json.k1ll3d.tmp"
    summary_tmp.write_text("{")
    other_shard = [leftover(theirs[0], "reconstruction.png"),
                   tmp_path / ".summary-00001-of-00002.json.k1ll3d.tmp"]  # fmt: skip
    other_shard[1].write_text("{")
    summary = run_batch_job(engine, mine, tmp_path, shard_index=0, num_shards=2, progress=False)
    assert summary.leftovers_removed == 4 and summary.skipped == 1
    assert not any(p.exists() for p in [*killed, summary_tmp])
    assert all(p.exists() for p in other_shard)  # another shard's writes may still be in flight
    assert set(tmp_path.rglob("*.tmp")) == set(other_shard)
