"""Which items a shard owns, and where the shard's index and count come from.

An item belongs to shard `sha256(id) mod num_shards`. A hash rather than the item's position:
when the input grows (new files, a longer manifest), items already there keep their shard, so a
re-run resumes instead of reshuffling work between pods. Every item lands in exactly one shard.

Defaults come from a Kubernetes Indexed Job: `JOB_COMPLETION_INDEX` is the pod's index; the
Job's `completions` is not exposed to the pod, so set `STYLEX_NUM_SHARDS` to it in the pod
template. Flags override both.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence

from stylex.batch.inputs import Item
from stylex.errors import ConfigError

INDEX_ENV = "JOB_COMPLETION_INDEX"
NUM_SHARDS_ENV = "STYLEX_NUM_SHARDS"


def shard_of(item_id: str, num_shards: int) -> int:
    digest = hashlib.sha256(item_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") % num_shards


def shard(items: Sequence[Item], index: int, num_shards: int) -> list[Item]:
    """The items of shard `index` of `num_shards`, in input order."""
    check_shard(index, num_shards)
    return [item for item in items if shard_of(item.id, num_shards) == index]


def check_shard(index: int, num_shards: int) -> None:
    if num_shards < 1:
        raise ConfigError(f"number of shards {num_shards} is not valid; expected >= 1")
    if not 0 <= index < num_shards:
        raise ConfigError(
            f"shard index {index} out of range; expected 0 <= index < {num_shards} "
            "(the number of shards)"
        )


def _int(value: str, name: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"{name}={value!r} is not an integer") from None


def resolve_shard(
    index: int | None,  # --shard-index, None = from the environment
    num_shards: int | None,  # --num-shards, None = from the environment
    env: Mapping[str, str] | None = None,  # default: os.environ
) -> tuple[int, int]:
    """(index, num_shards) from flags, else JOB_COMPLETION_INDEX / STYLEX_NUM_SHARDS, else
    (0, 1). An index without a count is an error: every pod would do the whole input."""
    env = os.environ if env is None else env
    index_from = "--shard-index"
    if index is None and env.get(INDEX_ENV, "") != "":
        index, index_from = _int(env[INDEX_ENV], INDEX_ENV), INDEX_ENV
    if num_shards is None and env.get(NUM_SHARDS_ENV, "") != "":
        num_shards = _int(env[NUM_SHARDS_ENV], NUM_SHARDS_ENV)
    if num_shards is None:
        if index not in (None, 0):
            raise ConfigError(
                f"shard index {index} given ({index_from}) but no number of shards; "
                f"pass --num-shards or set {NUM_SHARDS_ENV}"
            )
        num_shards = 1
    index = 0 if index is None else index
    check_shard(index, num_shards)
    return index, num_shards
