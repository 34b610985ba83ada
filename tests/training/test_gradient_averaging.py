"""The multi-process scheme against one process: two gloo ranks, each on its half of a global
batch, with `broadcast_parameters` + `average_gradients`, end bit-identical to each other and
equal (to float rounding) to one process training on the whole batch.

The rendezvous is a FileStore in the test's folder: no port is chosen at all. The full trainer
is not compared this way because each rank draws its own noise and latents (seeded by rank);
tests/training/test_distributed.py checks its replicas stay bit-identical.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from safetensors.torch import load_file, save_file

from stylex.models import ArchConfig, Encoder
from stylex.training.data_stream import BatchStream
from stylex.training.distributed import (
    DistInfo,
    average_gradients,
    broadcast_parameters,
    state_digest,
)

WORLD_SIZE = 2
GLOBAL_BATCH = 8
STEPS = 3


def _arch() -> ArchConfig:
    return ArchConfig(resolution=16, num_classes=2, z_dim=16, w_dim=16, mapping_layers=2,
                      channel_base=256, channel_max=16)  # fmt: skip


def _batches() -> torch.Tensor:
    return torch.randn(STEPS, GLOBAL_BATCH, 3, 16, 16, generator=torch.Generator().manual_seed(5))


def _train(encoder: Encoder, batches: torch.Tensor, info: DistInfo) -> None:
    """Plain SGD (unlike Adam it sees the gradient's scale) on a loss that is a mean over the
    images each process holds."""
    broadcast_parameters(encoder, info)
    opt = torch.optim.SGD(encoder.parameters(), lr=0.05)
    local = GLOBAL_BATCH // info.world_size
    for x in batches:
        mine = x[info.rank * local : (info.rank + 1) * local]
        opt.zero_grad(set_to_none=True)
        encoder(mine).square().mean().backward()
        average_gradients(encoder, info)
        opt.step()


def _rank(rank: int, folder: str) -> None:
    store = dist.FileStore(f"{folder}/store", WORLD_SIZE)
    dist.init_process_group("gloo", store=store, rank=rank, world_size=WORLD_SIZE)
    torch.set_num_threads(1)
    torch.manual_seed(100 + rank)  # different starting weights: the broadcast must fix them
    encoder = Encoder(_arch())
    _train(encoder, _batches(), DistInfo(rank=rank, world_size=WORLD_SIZE))
    save_file(encoder.state_dict(), f"{folder}/rank{rank}.safetensors")
    # As stylex.training.distributed does: both ranks reach the teardown together. A rank that
    # destroyed its group while the other was still tearing down aborted gloo (SIGABRT, seen
    # once in CI).
    dist.barrier()
    dist.destroy_process_group()


def test_two_ranks_equal_one_process_on_the_same_global_batch(tmp_path):
    mp.spawn(_rank, args=(str(tmp_path),), nprocs=WORLD_SIZE, join=True)
    ranks = [load_file(str(tmp_path / f"rank{r}.safetensors")) for r in range(WORLD_SIZE)]
    assert state_digest({"E": ranks[0]}) == state_digest({"E": ranks[1]})  # bit-identical

    torch.manual_seed(100)  # rank 0's weights, which the broadcast gave every rank
    single = Encoder(_arch())
    start = {k: v.clone() for k, v in single.state_dict().items()}
    _train(single, _batches(), DistInfo())
    moved = 0
    for key, value in single.state_dict().items():
        torch.testing.assert_close(ranks[0][key], value, rtol=1e-5, atol=1e-6)
        moved += not torch.equal(value, start[key])
    assert moved > 0  # the steps really changed the weights


def test_rank_slices_make_up_the_one_process_batch():
    """Each rank's share of a global batch is its slice of what a single process draws."""

    class FortyImages:
        resolution = 2

        def __len__(self) -> int:
            return 40

    single = BatchStream(FortyImages(), GLOBAL_BATCH, seed=3, cache=False)
    ranks = [BatchStream(FortyImages(), GLOBAL_BATCH, seed=3, rank=r, world_size=WORLD_SIZE,
                         cache=False) for r in range(WORLD_SIZE)]  # fmt: skip
    for step in range(7):  # past the end of the first epoch
        joined = [i for stream in ranks for i in stream.indices(step)]
        assert joined == single.indices(step), step
    assert len({i for step in range(5) for i in single.indices(step)}) == 40  # one epoch
