"""`stylex batch` on object storage: inputs and outputs on a real S3 API server on loopback
(moto's server, bound to port 0), reached through s3fs with credentials and endpoint from the
standard AWS_* environment variables only."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time

import moto.server as moto_server  # the S3 API server (moto[server], a test dependency)
import pytest

from stylex.batch import list_inputs, read_results, results_name, run_batch_job, shard
from stylex.batch.results import latest_records, read_shard_results
from stylex.cli import main
from stylex.errors import StorageError
from tests.batch.conftest import NUM_GOOD, assert_same_results, by_id

NUM_MANIFEST = 24  # manifest entries of the kill test: enough batches to stop in the middle


@pytest.fixture(scope="module")
def s3_env():
    """A fresh S3 server and the environment every client (this process or a child) uses."""
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        yield env
    server.stop()


@pytest.fixture(scope="module")
def s3(s3_env, image_dir):
    """An s3fs client, with s3://inputs/images/ holding the batch fixture's images."""
    import s3fs

    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    fs.mkdir("inputs")
    fs.mkdir("results")
    for path in sorted(image_dir.rglob("*.png")):
        fs.pipe_file(f"inputs/images/{path.relative_to(image_dir).as_posix()}", path.read_bytes())
    return fs


@pytest.fixture(scope="module")
def local_reference(engine, image_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("local")
    run_batch_job(engine, list_inputs(image_dir), out, images=False, progress=False)
    return read_results(out / results_name(0, 1))


def assert_no_partial_objects(fs, prefix: str) -> None:
    """Every object under `prefix` is whole: JSON and JSONL parse, PNGs decode; and no
    multipart upload was left open."""
    from PIL import Image

    keys = fs.find(prefix)
    assert keys
    for key in keys:
        data = fs.cat_file(key)
        if key.endswith(".png"):
            Image.open(io.BytesIO(data)).verify()
        elif key.endswith(".jsonl"):
            assert data.endswith(b"\n"), key
            [json.loads(line) for line in data.splitlines()]
        elif key.endswith(".json"):
            json.loads(data)
        else:
            pytest.fail(f"unexpected object {key}")
    bucket = prefix.split("/", 1)[0]
    uploads = fs.call_s3("list_multipart_uploads", Bucket=bucket)
    assert uploads.get("Uploads", []) == []


def test_inputs_as_prefix_glob_and_manifest(s3):
    items = list_inputs("s3://inputs/images/")
    assert len(items) == NUM_GOOD + 1
    assert "sub/img00.png" in {i.id for i in items}
    assert all(i.path == f"s3://inputs/images/{i.id}" for i in items)
    globbed = list_inputs("s3://inputs/images/sub/*.png")
    assert [i.id for i in globbed] == ["img00.png", "img03.png", "img06.png", "img09.png"]
    s3.pipe_file("inputs/list.txt", b"images/img01.png\ns3://inputs/images/sub/img03.png\n")
    listed = list_inputs("s3://inputs/list.txt")
    assert [(i.id, i.path) for i in listed] == [
        ("images/img01.png", "s3://inputs/images/img01.png"),
        ("s3://inputs/images/sub/img03.png", "s3://inputs/images/sub/img03.png"),
    ]


def test_two_shards_over_a_prefix(engine, s3, local_reference):
    items = list_inputs("s3://inputs/images/")
    records = []
    for index in range(2):
        summary = run_batch_job(engine, shard(items, index, 2), "s3://results/two", batch_size=4,
                                shard_index=index, num_shards=2, progress=False)  # fmt: skip
        assert summary.results == f"s3://results/two/results-0000{index}-of-00002-part-*.jsonl"
        assert summary.done_now == summary.total > 0
        records += read_shard_results("s3://results/two", index, 2)
    assert_same_results(records, local_reference)  # each id exactly once, same explanations
    good = by_id(records)["sub/img00.png"]
    assert s3.isfile(f"results/two/{good['images']['reconstruction']}")
    assert json.loads(s3.cat_file("results/two/summary-00001-of-00002.json"))["num_shards"] == 2
    assert_no_partial_objects(s3, "results/two")
    # A rerun finds everything done by reading what is there.
    again = run_batch_job(engine, shard(items, 0, 2), "s3://results/two", shard_index=0,
                          num_shards=2, progress=False)  # fmt: skip
    assert (again.done_now, again.skipped) == (0, again.total)


def _at_once(*jobs):
    """Run the callables in threads released together; re-raise the first failure."""
    import threading

    start, errors = threading.Barrier(len(jobs)), []

    def run(job):
        start.wait()
        try:
            job()
        except BaseException as exc:  # handed to the test below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not any(t.is_alive() for t in threads)
    if errors:
        raise errors[0]


def test_two_writers_of_one_shard_never_overwrite_each_other(engine, s3, local_reference):
    """Both list the shard empty and start at part 0: every part of both survives, each a
    whole object, and every id's result reads back (once per writer)."""
    items = list_inputs("s3://inputs/images/")
    out = "s3://results/twice"
    _at_once(*[lambda: run_batch_job(engine, items, out, batch_size=3, images=False,
                                     progress=False)] * 2)  # fmt: skip
    parts = s3.glob("results/twice/results-00000-of-00001-part-*.jsonl")
    batches = -(-len(items) // 3)
    assert len(parts) == 2 * batches, parts
    assert len({p.rsplit("-", 1)[-1] for p in parts}) == 2  # one suffix per writer
    records = read_shard_results(out, 0, 1)
    assert len(records) == 2 * len(items)
    assert_same_results(latest_records(records), local_reference)
    assert_no_partial_objects(s3, "results/twice")


def test_parallel_shards_write_their_own_parts(engine, s3, local_reference):
    items = list_inputs("s3://inputs/images/")
    out = "s3://results/parallel"
    _at_once(*[
        (lambda i=i: run_batch_job(engine, shard(items, i, 3), out, batch_size=2, shard_index=i,
                                   num_shards=3, images=False, progress=False))
        for i in range(3)
    ])  # fmt: skip
    records = [r for i in range(3) for r in read_shard_results(out, i, 3)]
    assert_same_results(records, local_reference)  # each id once, in its shard
    assert_no_partial_objects(s3, "results/parallel")


def test_parts_named_without_a_writer_are_read_and_continued(engine, s3):
    items = list_inputs("s3://inputs/images/")[:3]
    out = "s3://results/legacy"
    run_batch_job(engine, items[:1], "s3://results/legacy-src", images=False, progress=False)
    (old,) = s3.glob("results/legacy-src/results-00000-of-00001-part-*.jsonl")
    s3.pipe_file("results/legacy/results-00000-of-00001-part-000000.jsonl", s3.cat_file(old))
    summary = run_batch_job(engine, items, out, images=False, progress=False)
    assert (summary.skipped, summary.done_now) == (1, 2)
    assert [r["id"] for r in read_shard_results(out, 0, 1)] == [i.id for i in items]
    assert len(s3.glob("results/legacy/results-00000-of-00001-part-000001-*.jsonl")) == 1


def test_a_damaged_part_stops_the_job_naming_it_and_is_kept(engine, s3):
    items = list_inputs("s3://inputs/images/")[:4]
    out = "s3://results/damaged"
    run_batch_job(engine, items[:2], out, batch_size=1, images=False, progress=False)
    bad = "results/damaged/results-00000-of-00001-part-000000-0dd.jsonl"
    s3.pipe_file(bad, b'{"id": "img99.png", "status": "ok"}\nnot json\n')
    before = {key: s3.cat_file(key) for key in s3.find("results/damaged")}
    with pytest.raises(StorageError, match=rf"do not parse after byte \d+, in s3://{bad}: "
                                           r"that object is damaged"):  # fmt: skip
        run_batch_job(engine, items, out, batch_size=1, images=False, progress=False)
    s3.invalidate_cache()
    assert {key: s3.cat_file(key) for key in s3.find("results/damaged")} == before


def test_retry_errors_reads_the_errors_back(engine, s3):
    items = [i for i in list_inputs("s3://inputs/images/") if i.id in ("corrupt.png", "img01.png")]
    first = run_batch_job(engine, items, "s3://results/retry", images=False, progress=False)
    assert (first.done_now, first.errors) == (2, 1)
    again = run_batch_job(engine, items, "s3://results/retry", images=False, progress=False,
                          retry_errors=True)  # fmt: skip
    assert (again.skipped, again.retried, again.done_now) == (1, 1, 1)
    records = read_shard_results("s3://results/retry", 0, 1)
    assert [r["id"] for r in records] == ["corrupt.png", "img01.png", "corrupt.png"]


def _batch_cmd(out: str, index: int) -> list[str]:
    return [sys.executable, "-m", "stylex", "batch", "s3://inputs/many.jsonl", "--out", out,
            "--shard-index", str(index), "--num-shards", "2", "--batch-size", "2",
            "--device", "cpu", "--no-progress"]  # fmt: skip


def test_sigkill_mid_run_and_resume_every_id_once(s3, s3_env):
    """A pod killed mid-shard leaves whole objects only; the restarted pod finishes the shard
    from what is there. A manifest of URLs, one of them missing: an item error, not the job's."""
    good = [i.path for i in list_inputs("s3://inputs/images/") if i.id != "corrupt.png"]
    lines = [json.dumps({"id": f"item{k:02d}", "path": good[k % len(good)]})
             for k in range(NUM_MANIFEST - 1)]  # fmt: skip
    lines.append(json.dumps({"id": "gone", "path": "s3://inputs/images/missing.png"}))
    s3.pipe_file("inputs/many.jsonl", ("\n".join(lines) + "\n").encode())
    env = {**os.environ, **s3_env, "OMP_NUM_THREADS": "1", "STYLEX_THREADS": "1"}
    out = "s3://results/killed"

    pod = subprocess.Popen(_batch_cmd(out, 0), env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)  # fmt: skip
    deadline = time.monotonic() + 120
    while not s3.glob("results/killed/results-00000-of-00002-part-*.jsonl"):
        s3.invalidate_cache()
        assert pod.poll() is None, pod.communicate()[1].decode()[-2000:]
        assert time.monotonic() < deadline
        time.sleep(0.02)
    pod.send_signal(signal.SIGKILL)
    pod.wait(timeout=60)
    s3.invalidate_cache()
    assert not s3.exists("results/killed/summary-00000-of-00002.json"), "killed after the end"
    assert_no_partial_objects(s3, "results/killed")
    before = read_shard_results(out, 0, 2)
    assert before

    for index in range(2):
        proc = subprocess.run(_batch_cmd(out, index), env=env, capture_output=True, text=True,
                              timeout=300)  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-2000:]
        summary = json.loads(proc.stdout)
        if index == 0:
            assert summary["skipped"] == len(by_id(before)) and summary["done_now"] > 0
    records = read_shard_results(out, 0, 2) + read_shard_results(out, 1, 2)
    finished = by_id(records)  # each id exactly once across both shards
    assert sorted(finished) == sorted([f"item{k:02d}" for k in range(NUM_MANIFEST - 1)] + ["gone"])
    assert read_shard_results(out, 0, 2)[: len(before)] == before, "earlier results kept"
    assert finished["gone"]["status"] == "error" and "missing.png" in finished["gone"]["error"]
    assert all(r["status"] == "ok" for k, r in finished.items() if k != "gone")
    s3.invalidate_cache()
    assert_no_partial_objects(s3, "results/killed")


def test_missing_bucket_is_one_clear_error(engine, s3, capsys):
    with pytest.raises(StorageError, match="bucket 'no-such-bucket' does not exist"):
        list_inputs("s3://no-such-bucket/images/")
    items = list_inputs("s3://inputs/images/")[:2]
    with pytest.raises(StorageError, match="no-such-bucket"):
        run_batch_job(engine, items, "s3://no-such-bucket/out", progress=False)
    code = main(["batch", "s3://inputs/images/", "--out", "s3://no-such-bucket/out",
                 "--no-progress", "--device", "cpu"])  # fmt: skip
    assert code == StorageError.exit_code
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no-such-bucket" in err and "does not exist" in err


def test_denied_access_fails_the_job_and_loses_nothing(engine, s3, s3_env):
    """Credentials the server rejects: the job stops with one line naming the URL, and the
    results already written stay as they were."""
    import urllib.request

    items = list_inputs("s3://inputs/images/")[:3]
    run_batch_job(engine, items[:2], "s3://results/denied", images=False, progress=False)
    before = read_shard_results("s3://results/denied", 0, 1)

    def require_auth(count: str) -> None:  # moto's switch: after `count` requests, check keys
        request = urllib.request.Request(
            f"{s3_env['AWS_ENDPOINT_URL']}/moto-api/reset-auth", data=count.encode(),
            headers={"Content-Type": "text/plain"}, method="POST",
        )  # fmt: skip
        urllib.request.urlopen(request, timeout=10).close()

    require_auth("0")
    try:
        with pytest.raises(StorageError, match=r"access denied .*s3://inputs/images"):
            list_inputs("s3://inputs/images/")
        with pytest.raises(StorageError, match=r"access denied .*s3://results/denied"):
            run_batch_job(engine, items, "s3://results/denied", images=False, progress=False)
    finally:
        require_auth("inf")
    assert read_shard_results("s3://results/denied", 0, 1) == before
    assert [r["id"] for r in before] == [items[0].id, items[1].id]
