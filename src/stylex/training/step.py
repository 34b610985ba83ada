"""One StylEx training step, and the networks and optimizers it updates.

`build_state` makes G, E, D, G_ema and their optimizers for a configuration; `train_step` runs
one global batch through the phases the schedule asks for (D, lazy R1, then the G phase of the
step's kind) and updates G_ema. The loop in `trainer.py` adds data, logging, checkpoints and
time limits around it; `bench/train_throughput.py` times it alone.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from stylex.models import ArchConfig, Discriminator, Encoder, Generator
from stylex.models.perceptual import build_perceptual
from stylex.training import distributed as dist_utils
from stylex.training.config import TrainConfig
from stylex.training.losses import StylexLoss
from stylex.training.schedule import RANDOM, WARMUP, AlternatingSchedule


@dataclass
class TrainState:
    cfg: TrainConfig
    G: Generator
    E: Encoder
    D: Discriminator
    G_ema: Generator
    C: nn.Module  # frozen classifier: x -> logits
    optimizers: dict[str, torch.optim.Optimizer]  # "G", "E", "D"
    loss: StylexLoss
    schedule: AlternatingSchedule
    info: dist_utils.DistInfo
    autocast: Callable[[], contextlib.AbstractContextManager]

    @property
    def modules(self) -> dict[str, nn.Module]:
        """What a checkpoint holds, by name."""
        return {"G": self.G, "G_ema": self.G_ema, "E": self.E, "D": self.D}

    @property
    def micro_batch(self) -> int:
        return self.cfg.batch_size // self.info.world_size // self.cfg.accum_steps

    @property
    def ema_beta(self) -> float:
        return 0.5 ** (self.cfg.batch_size / max(self.cfg.ema_half_life_kimg * 1000, 1e-8))


def set_requires_grad(module: nn.Module, flag: bool) -> None:
    for p in module.parameters():
        p.requires_grad_(flag)


@torch.no_grad()
def update_ema(G_ema: Generator, G: Generator, beta: float) -> None:
    for p_ema, p in zip(G_ema.parameters(), G.parameters(), strict=True):
        p_ema.copy_(p.detach().lerp(p_ema, beta))
    for b_ema, b in zip(G_ema.buffers(), G.buffers(), strict=True):
        b_ema.copy_(b)


def build_state(
    cfg: TrainConfig,
    arch: ArchConfig,
    C: nn.Module,  # the frozen classifier, already on `device`
    device: torch.device,
    info: dist_utils.DistInfo,
) -> TrainState:
    """Fresh networks (seeded per rank, replicas made equal) and their optimizers."""
    torch.manual_seed(cfg.seed * 7919 + info.rank)
    G, E, D = Generator(arch), Encoder(arch), Discriminator(arch)
    G.fused_modconv = cfg.fused_modconv
    G_ema = copy.deepcopy(G).eval()
    G_ema.fused_modconv = False
    set_requires_grad(G_ema, False)
    for module in (G, E, D, G_ema):
        module.to(device)
    for module in (G, E, D):
        dist_utils.broadcast_parameters(module, info)
    G_ema.load_state_dict(G.state_dict())

    # Lazy R1 changes D's effective update: rescale its lr and betas (StyleGAN2 appendix B).
    ratio = cfg.loss.r1_interval / (cfg.loss.r1_interval + 1)
    betas_d = cfg.betas_d or cfg.betas
    # foreach: one multi-tensor update instead of a loop over ~60 small tensors (the same
    # arithmetic; PyTorch picks it by itself only on CUDA).
    adam: dict[str, Any] = dict(eps=1e-8, foreach=cfg.fast_path or None)
    optimizers: dict[str, torch.optim.Optimizer] = {
        "G": torch.optim.Adam(G.parameters(), lr=cfg.lr_g, betas=cfg.betas, **adam),
        "E": torch.optim.Adam(E.parameters(), lr=cfg.lr_e, betas=cfg.betas, **adam),
        "D": torch.optim.Adam(
            D.parameters(),
            lr=cfg.lr_d * ratio,
            betas=(betas_d[0] ** ratio, betas_d[1] ** ratio),
            **adam,
        ),
    }
    perceptual = build_perceptual(cfg.perceptual).to(device)
    use_amp = device.type == "cuda" and cfg.amp

    def autocast() -> contextlib.AbstractContextManager:
        if use_amp:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    return TrainState(
        cfg=cfg,
        G=G,
        E=E,
        D=D,
        G_ema=G_ema,
        C=C,
        optimizers=optimizers,
        loss=StylexLoss(G, E, D, C, perceptual, cfg.loss),
        schedule=AlternatingSchedule(cfg.encoder_every, cfg.rec_warmup_steps),
        info=info,
        autocast=autocast,
    )


@dataclass(frozen=True)
class Phase:
    """One update of a step: the loss phase run, and the networks it trains (each network's
    optimizer has the network's name)."""

    name: str  # "D" (logistic loss), "Dreg" (lazy R1) or "G" (generator, with E when it learns)
    trains: tuple[str, ...]  # of "G", "E", "D"


_D, _R1 = Phase("D", ("D",)), Phase("Dreg", ("D",))
_G_AND_E, _G_ONLY = Phase("G", ("G", "E")), Phase("G", ("G",))


def step_phases(kind: str, r1_due: bool, edits_judged: bool) -> tuple[Phase, ...]:
    """A step's updates in order: D (and lazy R1 when due), then G with E on the steps that
    reconstruct. The warm-up trains an autoencoder and runs no D, unless D judges edited
    renders (`loss.edit_adversarial`)."""
    if kind == WARMUP and not edits_judged:
        return (_G_AND_E,)
    d_phases = (_D, _R1) if r1_due else (_D,)
    return (*d_phases, _G_ONLY if kind == RANDOM else _G_AND_E)


def train_step(
    state: TrainState,
    step: int,  # global step, 0-based: fixes the kind, lazy R1 and the lazy terms
    x_all: torch.Tensor,  # [B_local, 3, R, R] this process's real images in [-1, 1]
    z_all: torch.Tensor,  # [B_local, z_dim]
) -> dict[str, list[float]]:
    """Run one training step; return every loss value it computed, per name."""
    cfg, G, E, D = state.cfg, state.G, state.E, state.D
    kind = state.schedule.kind(step)
    rec_index = state.schedule.reconstruction_index(step)
    # G and E take the warm-up's betas while it lasts (D does not run during it).
    betas = cfg.warmup_betas if kind == WARMUP and cfg.warmup_betas else cfg.betas
    for name in ("G", "E"):
        for group in state.optimizers[name].param_groups:
            group["betas"] = tuple(betas)
    with torch.no_grad(), state.autocast():
        p_all = torch.softmax(state.C(x_all).float(), dim=1)
    micro = state.micro_batch
    chunks = list(zip(x_all.split(micro), p_all.split(micro), z_all.split(micro), strict=True))
    scale = 1.0 / len(chunks)
    nets = {"G": G, "E": E, "D": D}
    out: dict[str, list[float]] = {}
    r1_due = step % cfg.loss.r1_interval == 0
    for phase in step_phases(kind, r1_due, cfg.loss.edit_adversarial > 0):
        trained = [nets[name] for name in phase.trains]
        for module in nets.values():
            set_requires_grad(module, module in trained)
        for name in phase.trains:
            state.optimizers[name].zero_grad(set_to_none=True)
        for x, p, z in chunks:
            with state.autocast() if phase.name != "Dreg" else contextlib.nullcontext():
                stats = state.loss.accumulate_gradients(phase.name, kind, x, p, z, scale, rec_index)
            for key, value in stats.items():
                out.setdefault(key, []).append(value)
        for net in trained:
            dist_utils.average_gradients(net, state.info)
            for param in net.parameters():
                if param.grad is not None:
                    torch.nan_to_num_(param.grad, nan=0.0, posinf=1e5, neginf=-1e5)
        for name in phase.trains:
            state.optimizers[name].step()
    # Each rank tracked the mean w of its own slice of the batch; their mean is the global
    # batch's (the update is linear), and it keeps the replicas bit-identical.
    dist_utils.average_tensor_(G.mapping.w_avg, state.info)
    update_ema(state.G_ema, G, state.ema_beta)
    return out
