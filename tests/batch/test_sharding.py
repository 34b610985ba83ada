"""Sharding: every item in exactly one shard; index and count from flags or the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from stylex.batch import Item, resolve_shard, shard, shard_of
from stylex.errors import ConfigError


def _items(n: int) -> list[Item]:
    return [Item(f"dir/{i:04d}.png", Path(f"/x/{i}.png")) for i in range(n)]


@pytest.mark.parametrize("num_shards", [1, 2, 3, 7])
def test_shards_partition_the_input(num_shards):
    items = _items(200)
    parts = [shard(items, i, num_shards) for i in range(num_shards)]
    ids = [it.id for part in parts for it in part]
    assert sorted(ids) == sorted(it.id for it in items)  # no gaps, no overlap
    assert len(ids) == len(set(ids))
    if num_shards > 1:
        assert all(len(p) > 0 for p in parts)


def test_growing_input_keeps_shards():
    small, large = _items(50), _items(80)
    for item in small:
        assert shard_of(item.id, 4) == next(s for s in range(4) if item in shard(large, s, 4))
    # The hash is sha256, not Python's per-process salted hash().
    assert (
        shard_of("a.png", 1000)
        == int.from_bytes(__import__("hashlib").sha256(b"a.png").digest()[:8], "big") % 1000
    )


def test_resolve_shard_env_and_flags():
    assert resolve_shard(None, None, env={}) == (0, 1)
    env = {"JOB_COMPLETION_INDEX": "2", "STYLEX_NUM_SHARDS": "4"}
    assert resolve_shard(None, None, env=env) == (2, 4)
    assert resolve_shard(1, None, env=env) == (1, 4)
    assert resolve_shard(0, 1, env=env) == (0, 1)


@pytest.mark.parametrize(
    "index, num, env, match",
    [
        (2, 2, {}, "shard index 2 out of range"),
        (-1, 2, {}, "shard index -1 out of range"),
        (0, 0, {}, "number of shards 0"),
        (None, None, {"JOB_COMPLETION_INDEX": "3"}, "STYLEX_NUM_SHARDS"),
        (None, None, {"STYLEX_NUM_SHARDS": "two"}, "not an integer"),
        (None, None, {"JOB_COMPLETION_INDEX": "5", "STYLEX_NUM_SHARDS": "5"}, "out of range"),
    ],
)
def test_resolve_shard_errors(index, num, env, match):
    with pytest.raises(ConfigError, match=match):
        resolve_shard(index, num, env=env)
