"""Batch inference: explain a folder, glob or manifest of images (local or on object storage),
sharded across pods and resumable after a crash (`stylex batch`)."""

from stylex.batch.inputs import Item, list_inputs, safe_name
from stylex.batch.job import Summary, load_engine, run_batch_job
from stylex.batch.results import (
    ResultsLog,
    latest_records,
    read_results,
    read_shard_results,
    repair,
    results_name,
    summary_name,
)
from stylex.batch.sharding import (
    INDEX_ENV,
    NUM_SHARDS_ENV,
    check_shard,
    resolve_shard,
    shard,
    shard_of,
)

__all__ = [
    "INDEX_ENV",
    "NUM_SHARDS_ENV",
    "Item",
    "ResultsLog",
    "Summary",
    "check_shard",
    "latest_records",
    "list_inputs",
    "load_engine",
    "read_results",
    "read_shard_results",
    "repair",
    "resolve_shard",
    "results_name",
    "run_batch_job",
    "safe_name",
    "shard",
    "shard_of",
    "summary_name",
]
