"""The StylEx training loss: one object, one narrow method, so the loop does not care which
terms run.

Discriminator: non-saturating logistic loss, lazy R1 on real images.
Generator on random-z steps: adversarial loss of G(mapping(z), p), p = the real batch's
classifier probabilities (optionally a classifier term on those samples).
Generator + encoder on encoder steps, x' = G(E(x), p): adversarial, 1.0 L1(x', x) +
0.1 perceptual(x', x), 0.1 L1(E(x'), E(x)), 1.0 KL(softmax C(x) || softmax C(x')).
Warm-up steps are encoder steps without the adversarial term (D is not run at all).
Optional conditioning term on encoder and warm-up steps: the same w rendered with swapped class
probabilities p' must be classified as p', KL(p' || softmax C(G(E(x), p'))), so the decision
has to pass through p and cannot ride in w (what AttFind's StyleSpace search relies on).
Optional realism of edits on the same steps: D judges renders of edited style vectors (the
swapped-p render and edits of a few random coordinates to the batch's extremes, as AttFind
makes them) against real images, and G and E get its non-saturating loss, so that an edited style
vector still renders an image of the data.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from stylex.models import Discriminator, Encoder, Generator, Styles
from stylex.training.config import LossWeights
from stylex.training.schedule import ENCODER, RANDOM, WARMUP

Stats = dict[str, float]  # a phase's loss values, for the log


def classifier_kl(p_target: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Mean KL(p_target || softmax(logits)) over the batch."""
    log_q = F.log_softmax(logits.float(), dim=1)
    p = p_target.float()
    return (p * (torch.log(p.clamp_min(1e-8)) - log_q)).sum(dim=1).mean()


def swap_probabilities(p: torch.Tensor) -> torch.Tensor:
    """Each row's probabilities moved one class on (class k gets p[k-1]): for two classes the
    opposite decision, for more a different one, and never the image's own unless p is uniform."""
    return p.roll(1, dims=1)


def edit_styles(conv: torch.Tensor, num_coordinates: int) -> torch.Tensor:
    """Each row with `num_coordinates` random coordinates set to the batch's minimum or maximum
    of that coordinate (a random direction each): AttFind's edit at shift 1, with the batch
    standing in for the reference images. Uses the global torch generator."""
    n, size = conv.shape
    k = min(num_coordinates, size)
    coords = torch.rand(n, size, device=conv.device).argsort(dim=1)[:, :k]  # [N, k] distinct
    to_max = torch.rand(n, k, device=conv.device) < 0.5
    extremes = torch.where(to_max, conv.detach().amax(dim=0)[coords],
                           conv.detach().amin(dim=0)[coords])  # fmt: skip
    mask = torch.zeros_like(conv, dtype=torch.bool).scatter_(1, coords, True)
    targets = torch.zeros_like(conv).scatter_(1, coords, extremes)
    return torch.where(mask, targets, conv)


class StylexLoss:
    def __init__(
        self,
        G: Generator,
        E: Encoder,
        D: Discriminator,
        C: nn.Module,  # frozen classifier: x in [-1, 1] -> logits
        perceptual: nn.Module,  # (a, b) -> per-image distance [N]
        weights: LossWeights,
    ) -> None:
        self.G, self.E, self.D, self.C = G, E, D, C
        self.perceptual = perceptual
        self.weights = weights

    def accumulate_gradients(
        self,
        phase: str,  # 'G' (generator and encoder), 'D' (discriminator), 'Dreg' (R1)
        kind: str,  # 'warmup', 'encoder' or 'random': the schedule's step kind
        x_real: torch.Tensor,  # [N, 3, R, R] in [-1, 1]
        p_real: torch.Tensor,  # [N, num_classes] softmax(C(x_real))
        z: torch.Tensor,  # [N, z_dim]
        scale: float,  # 1 / accumulation rounds
        rec_index: int = 0,  # steps that reconstructed before this one: the lazy terms' clock
    ) -> dict[str, float]:
        """Run one phase on one micro-batch, backpropagate scaled losses, return their values.

        The latent and swapped-conditioning terms may be lazy: with `rec_w_interval` or
        `swap_interval` N > 1 they run on every N-th reconstructing step at N times their
        weight."""
        if phase == "G":
            if kind == RANDOM:
                total, stats = self._random_z(p_real, z)
            elif kind in (ENCODER, WARMUP):
                total, stats = self._reconstruction(kind, x_real, p_real, rec_index)
            else:
                raise ValueError(f"unknown step kind {kind!r}")
            (total * scale).backward()
            return stats
        if phase == "D":
            return self._discriminator(kind, x_real, p_real, z, scale)
        if phase == "Dreg":
            return self._r1(x_real, p_real, scale)
        raise ValueError(f"unknown phase {phase!r}")

    def _random_z(self, p_real: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, Stats]:
        """G on samples G(mapping(z), p) conditioned on the real batch's probabilities."""
        wts = self.weights
        x_fake = self.G(self.G.mapping(z, update_w_avg=True), p_real, noise_mode="random")
        loss_adv = F.softplus(-self.D(x_fake, p_real)).mean()
        total = torch.zeros((), device=z.device) + wts.adversarial * loss_adv
        stats = {"G_adv": loss_adv.item()}
        if wts.classifier_random > 0:
            loss_cls = classifier_kl(p_real, self.C(x_fake))
            total = total + wts.classifier_random * loss_cls
            stats["G_cls_random"] = loss_cls.item()
        return total, stats

    def _reconstruction(
        self, kind: str, x_real: torch.Tensor, p_real: torch.Tensor, rec_index: int
    ) -> tuple[torch.Tensor, Stats]:
        """G and E on x' = G(E(x), p): adversarial (not in the warm-up), L1, perceptual and
        classifier terms, then the optional latent, sparsity and swapped-conditioning terms."""
        wts = self.weights
        w = self.E(x_real)
        styles = self.G.styles(w, p_real)
        x_rec = self.G.synthesize(styles, noise_mode="random")
        if kind == ENCODER:
            loss_adv = F.softplus(-self.D(x_rec, p_real)).mean()
        else:  # warm-up: an autoencoder, D plays no part
            loss_adv = torch.zeros((), device=x_real.device)
        loss_l1 = (x_rec - x_real).abs().mean()
        loss_perc = self.perceptual(x_rec.float(), x_real.float()).mean()
        loss_cls = classifier_kl(p_real, self.C(x_rec))
        total = (
            wts.adversarial * loss_adv
            + wts.rec_l1 * loss_l1
            + wts.rec_perceptual * loss_perc
            + wts.classifier * loss_cls
        )
        stats: Stats = {"E_adv": loss_adv.item()} if kind == ENCODER else {}
        stats.update(rec_l1=loss_l1.item(), rec_perc=loss_perc.item(), cls_kl=loss_cls.item())
        if wts.rec_w > 0 and rec_index % wts.rec_w_interval == 0:
            loss_w = (self.E(x_rec) - w).abs().mean()
            total = total + wts.rec_w * wts.rec_w_interval * loss_w
            stats["rec_w"] = loss_w.item()
        total = self._conditioning_sparsity(total, stats)
        x_swap = None
        if wts.classifier_swap > 0 and rec_index % wts.swap_interval == 0:
            p_swap = swap_probabilities(p_real)
            x_swap = self.G(w, p_swap, noise_mode="random")
            loss_swap = classifier_kl(p_swap, self.C(x_swap))
            total = total + wts.classifier_swap * wts.swap_interval * loss_swap
            stats["cls_swap"] = loss_swap.item()
        if wts.edit_adversarial > 0:
            x_edit, p_edit = self._edited_renders(w, p_real, styles, x_swap)
            loss_edit = F.softplus(-self.D(x_edit, p_edit)).mean()
            total = total + wts.edit_adversarial * loss_edit
            stats["edit_adv"] = loss_edit.item()
        return total, stats

    def _edited_renders(
        self,
        w: torch.Tensor,  # [N, w_dim] the encoder's codes
        p: torch.Tensor,  # [N, C] their classifier probabilities
        styles: Styles,  # G.styles(w, p)
        x_swap: torch.Tensor | None,  # G(w, swapped p) when the swap term already rendered it
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """[2N] renders of edited style vectors (the swapped-p render, then each image with
        `edit_coordinates` coordinates moved to the batch's extremes) and the classifier's
        probabilities of each (detached), which D is given."""
        if x_swap is None:
            x_swap = self.G(w, swap_probabilities(p), noise_mode="random")
        conv = edit_styles(styles.conv, self.weights.edit_coordinates)
        x_coord = self.G.synthesize(Styles(conv, styles.rgb), noise_mode="random")
        x_edit = torch.cat([x_swap, x_coord])
        with torch.no_grad():
            p_edit = torch.softmax(self.C(x_edit).float(), dim=1)
        return x_edit, p_edit

    def _conditioning_sparsity(self, total: torch.Tensor, stats: Stats) -> torch.Tensor:
        """Group lasso over style coordinates: p may reach only a few of them, so the decision
        gathers in coordinates AttFind moves one at a time; a heavier weight outside StyleSpace
        (toRGB) keeps it out of there."""
        wts = self.weights
        rgb_weight = wts.cond_sparsity if wts.cond_sparsity_rgb is None else wts.cond_sparsity_rgb
        for part, weight in (("conv", wts.cond_sparsity), ("rgb", rgb_weight)):
            cols = self.G.conditioning_weights(part) if weight > 0 else []
            if cols:  # none where p does not reach these styles at all
                loss_sparse = torch.stack([c.norm(dim=1).sum() for c in cols]).sum()
                total = total + weight * loss_sparse
                stats[f"cond_l21_{part}"] = loss_sparse.item()
        return total

    def _discriminator(
        self, kind: str, x_real: torch.Tensor, p_real: torch.Tensor, z: torch.Tensor, scale: float
    ) -> Stats:
        """D's logistic loss on reals and on this step kind's fakes (computed without G's
        gradients): reconstructions on encoder steps, samples on random-z steps, and renders of
        edited styles on reconstructing steps when the edit term is on (the warm-up's only
        fakes)."""
        fakes: list[tuple[torch.Tensor, torch.Tensor]] = []  # (images, D's conditioning)
        with torch.no_grad():
            if kind in (ENCODER, WARMUP):
                w = self.E(x_real)
                styles = self.G.styles(w, p_real)
                if kind == ENCODER:
                    fakes.append((self.G.synthesize(styles, noise_mode="random"), p_real))
                if self.weights.edit_adversarial > 0:
                    fakes.append(self._edited_renders(w, p_real, styles, None))
            else:
                fakes.append((self.G(self.G.mapping(z), p_real, noise_mode="random"), p_real))
        if not fakes:
            raise ValueError("a warm-up step trains no discriminator unless edit_adversarial > 0")
        x_fake, p_fake = (torch.cat(parts) for parts in zip(*fakes, strict=True))
        loss_fake = F.softplus(self.D(x_fake, p_fake)).mean()
        loss_real = F.softplus(-self.D(x_real, p_real)).mean()
        ((loss_fake + loss_real) * scale).backward()
        return {"D_fake": loss_fake.item(), "D_real": loss_real.item()}

    def _r1(self, x_real: torch.Tensor, p_real: torch.Tensor, scale: float) -> Stats:
        """Lazy R1 on real images: every r1_interval steps, weighted by the interval."""
        wts = self.weights
        x = x_real.detach().requires_grad_(True)
        score = self.D(x, p_real)
        (grad,) = torch.autograd.grad(score.sum(), x, create_graph=True)
        penalty = grad.float().square().sum(dim=[1, 2, 3]).mean()
        loss = penalty * (wts.r1_gamma / 2) * wts.r1_interval
        # Multiplying by 0 * score keeps every D parameter in the graph (DDP-safe).
        ((loss + score.mean() * 0) * scale).backward()
        return {"D_r1": penalty.item()}
