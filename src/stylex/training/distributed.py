"""Multi-process training under `torchrun`: process-group set-up and gradient averaging.

Every process holds full copies of G, E and D and sees its own slice of each global batch.
Gradients are averaged with one all-reduce per network after the accumulation rounds, and
parameters are broadcast from rank 0 at start, which keeps the replicas identical (the same
scheme as the reference StyleGAN2-ADA code, and equivalent to DistributedDataParallel without
requiring every sub-network call to pass through a wrapper's forward).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device_kind: str) -> DistInfo:
    """Join the process group `torchrun` describes in the environment; single process if none."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistInfo()
    if not dist.is_initialized():
        backend = "nccl" if device_kind == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
    return DistInfo(
        rank=dist.get_rank(),
        world_size=dist.get_world_size(),
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
    )


def broadcast_parameters(module: nn.Module, info: DistInfo) -> None:
    if not info.enabled:
        return
    for tensor in list(module.parameters()) + list(module.buffers()):
        dist.broadcast(tensor.data, src=0)


def average_gradients(module: nn.Module, info: DistInfo) -> None:
    """All-reduce the gradients of `module` as one flat buffer and divide by the world size."""
    if not info.enabled:
        return
    params = [p for p in module.parameters() if p.requires_grad]
    if not params:
        return
    flat = torch.cat(
        [(p.grad if p.grad is not None else torch.zeros_like(p)).flatten() for p in params]
    )
    dist.all_reduce(flat)
    flat /= info.world_size
    offset = 0
    for p in params:
        n = p.numel()
        p.grad = flat[offset : offset + n].view_as(p).clone()
        offset += n


def average_tensor_(tensor: torch.Tensor, info: DistInfo) -> None:
    """Replace `tensor` on every rank by its mean over the ranks (the same bytes everywhere)."""
    if not info.enabled:
        return
    dist.all_reduce(tensor)
    tensor /= info.world_size


def all_reduce_mean(value: float, info: DistInfo, device: torch.device) -> float:
    if not info.enabled:
        return value
    t = torch.tensor([value], device=device, dtype=torch.float64)
    dist.all_reduce(t)
    return float(t.item()) / info.world_size


def state_digest(states: Mapping[str, Mapping[str, torch.Tensor]]) -> str:
    """SHA-256 over named state dicts (names, keys and raw tensor bytes, in sorted order): equal
    exactly when every tensor is bit-identical. A checkpoint's safetensors files give the same
    digest as the modules they were saved from."""
    h = hashlib.sha256()
    for name in sorted(states):
        for key, tensor in sorted(states[name].items()):
            h.update(f"{name}.{key}".encode())
            h.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().data)
    return h.hexdigest()


def replica_digests(modules: Mapping[str, nn.Module], info: DistInfo) -> list[str]:
    """Every rank's SHA-256 of its parameters and buffers, in rank order, on every rank.

    The replicas apply the same averaged gradients from the same start, so they stay
    bit-identical; digests that differ mean a rank has drifted (a missed all-reduce, a
    non-deterministic op) and the checkpoint holds only rank 0's view of the run.
    """
    digest = state_digest({name: module.state_dict() for name, module in modules.items()})
    if not info.enabled:
        return [digest]
    gathered: list[str | None] = [None] * info.world_size
    dist.all_gather_object(gathered, digest)
    return [str(d) for d in gathered]


def cleanup(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
