"""Every StylEx training term, rebuilt by hand from the same inputs: its logged value, the
gradient it sends to each network, and the networks it must not reach.

A term that is logged but trains nothing (a detached input, a term left out of the total), one
computed from the wrong tensors (the swapped render judged with p instead of p'), or one that
leaks into a network it should not train shows up as a gradient that differs from the
hand-built one. Each test switches on one term (every other weight 0), seeds the synthesis
noise the same way for both, and compares parameter by parameter; the last test switches all
of them on at distinct weights and compares the sum.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from stylex.models import ArchConfig, Discriminator, Encoder, Generator, Styles
from stylex.models.perceptual import PyramidPerceptual
from stylex.training.config import LossWeights
from stylex.training.losses import StylexLoss, edit_styles
from stylex.training.schedule import ENCODER, RANDOM, WARMUP
from stylex.training.step import step_phases

ARCH = ArchConfig(resolution=16, num_classes=2, z_dim=16, w_dim=16, mapping_layers=1,
                  channel_base=256, channel_max=16, mbstd_group_size=0)  # fmt: skip
NOISE_SEED = 5
# Every reconstruction term off: a test turns on the one it checks.
OFF = dict(adversarial=0.0, rec_l1=0.0, rec_perceptual=0.0, rec_w=0.0, classifier=0.0)


class Nets:
    """Seeded G, E, D and a frozen classifier C, as the step builds them."""

    def __init__(self) -> None:
        torch.manual_seed(0)
        self.G, self.E, self.D = Generator(ARCH), Encoder(ARCH), Discriminator(ARCH)
        with torch.no_grad():  # noise strengths start at 0: make the noise matter
            for name, param in self.G.named_parameters():
                if name.endswith("noise_strength"):
                    param.fill_(0.2)
        self.C = nn.Sequential(
            nn.Conv2d(3, 4, 3, stride=2), nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(4 * 7 * 7, 2)
        ).requires_grad_(False)
        self.perceptual = PyramidPerceptual()

    def loss(self, **weights: float) -> StylexLoss:
        return StylexLoss(self.G, self.E, self.D, self.C, self.perceptual, LossWeights(**weights))

    @property
    def trainable(self) -> dict[str, nn.Module]:
        return {"G": self.G, "E": self.E, "D": self.D}

    def zero_grad(self) -> None:
        for net in (*self.trainable.values(), self.C):
            net.zero_grad(set_to_none=True)

    def grads(self) -> dict[str, dict[str, torch.Tensor | None]]:
        """Each network's gradients by parameter name (None where nothing reached it)."""
        out = {
            name: {k: None if p.grad is None else p.grad.clone() for k, p in net.named_parameters()}
            for name, net in self.trainable.items()
        }
        out["C"] = {k: p.grad for k, p in self.C.named_parameters()}
        return out


def batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    x = torch.rand(6, 3, 16, 16, generator=g) * 2 - 1
    # Lopsided probabilities, so the swapped p' is far from p.
    p = torch.softmax(3 * torch.randn(6, 2, generator=g), dim=1)
    return x, p, torch.randn(6, 16, generator=g)


def kl(p: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Mean KL(p || softmax(logits)), written out."""
    q = torch.softmax(logits, dim=1)
    return (p * (p.log() - q.log())).sum(dim=1).mean()


def swapped(p: torch.Tensor) -> torch.Tensor:
    """Two classes: the opposite decision, [p1, p0]."""
    return torch.stack([p[:, 1], p[:, 0]], dim=1)


def loss_grads(nets: Nets, phase: str, kind: str, **weights: float):
    """(logged stats, gradients) of one `accumulate_gradients` call."""
    x, p, z = batch()
    nets.zero_grad()
    torch.manual_seed(NOISE_SEED)
    stats = nets.loss(**weights).accumulate_gradients(phase, kind, x, p, z, 1.0)
    return stats, nets.grads()


def hand_grads(nets: Nets, build) -> tuple[float, dict[str, dict[str, torch.Tensor | None]]]:
    """(value, gradients) of `build(x, p, z)` backpropagated alone, noise seeded as above."""
    x, p, z = batch()
    nets.zero_grad()
    torch.manual_seed(NOISE_SEED)
    value = build(x, p, z)
    value.backward()
    return float(value.detach()), nets.grads()


def assert_same_grads(got, want, reaches: set[str]) -> None:
    """Equal gradients where the term reaches; none at all (None) in the other networks."""
    for net in ("G", "E", "D", "C"):
        if net not in reaches:
            leaked = [k for k, g in got[net].items() if g is not None and g.abs().max() > 0]
            assert not leaked, f"the term reached {net} ({leaked[:3]}...)"
            continue
        reached = [k for k, g in want[net].items() if g is not None]
        assert reached, f"the hand-built term does not reach {net}: the test is wrong"
        for k in reached:
            assert got[net][k] is not None, f"{net}.{k} got no gradient"
            torch.testing.assert_close(got[net][k], want[net][k], rtol=1e-4, atol=1e-7,
                                       msg=lambda m, net=net, k=k: f"{net}.{k}: {m}")  # fmt: skip


def reconstruct(nets: Nets, x: torch.Tensor, p: torch.Tensor):
    w = nets.E(x)
    return w, nets.G(w, p, noise_mode="random")


def test_l1_reconstruction_trains_generator_and_encoder():
    nets = Nets()
    stats, got = loss_grads(nets, "G", WARMUP, **{**OFF, "rec_l1": 0.7})

    def build(x, p, z):
        _, x_rec = reconstruct(nets, x, p)
        return 0.7 * (x_rec - x).abs().mean()

    value, want = hand_grads(nets, build)
    assert stats["rec_l1"] == pytest.approx(value / 0.7, rel=1e-5)
    assert_same_grads(got, want, reaches={"G", "E"})


def test_perceptual_reconstruction_trains_generator_and_encoder():
    nets = Nets()
    stats, got = loss_grads(nets, "G", WARMUP, **{**OFF, "rec_perceptual": 0.3})

    def build(x, p, z):
        _, x_rec = reconstruct(nets, x, p)
        return 0.3 * nets.perceptual(x_rec, x).mean()

    value, want = hand_grads(nets, build)
    assert stats["rec_perc"] == pytest.approx(value / 0.3, rel=1e-5)
    assert_same_grads(got, want, reaches={"G", "E"})


@pytest.mark.parametrize("kind", [WARMUP, ENCODER])
def test_classifier_kl_of_the_reconstruction_trains_generator_and_encoder(kind):
    nets = Nets()
    nets.D.requires_grad_(False)  # as the step freezes it; the adversarial weight is 0 anyway
    stats, got = loss_grads(nets, "G", kind, **{**OFF, "classifier": 1.3})

    def build(x, p, z):
        _, x_rec = reconstruct(nets, x, p)
        return 1.3 * kl(p, nets.C(x_rec))

    value, want = hand_grads(nets, build)
    assert value > 1e-3  # a real signal to carry, not a KL already at zero
    assert stats["cls_kl"] == pytest.approx(value / 1.3, rel=1e-5)
    assert_same_grads(got, want, reaches={"G", "E"})


def test_latent_reconstruction_compares_the_reencoded_render_with_the_code():
    nets = Nets()
    stats, got = loss_grads(nets, "G", WARMUP, **{**OFF, "rec_w": 0.4})

    def build(x, p, z):
        w, x_rec = reconstruct(nets, x, p)
        return 0.4 * (nets.E(x_rec) - w).abs().mean()

    value, want = hand_grads(nets, build)
    assert stats["rec_w"] == pytest.approx(value / 0.4, rel=1e-5)
    assert_same_grads(got, want, reaches={"G", "E"})


def test_swapped_conditioning_renders_and_judges_with_the_swapped_probabilities():
    nets = Nets()
    stats, got = loss_grads(nets, "G", WARMUP, **{**OFF, "classifier_swap": 0.9})

    def build(x, p, z):
        w, _ = reconstruct(nets, x, p)  # the reconstruction comes first: same noise draws
        p_swap = swapped(p)
        return 0.9 * kl(p_swap, nets.C(nets.G(w, p_swap, noise_mode="random")))

    value, want = hand_grads(nets, build)
    assert stats["cls_swap"] == pytest.approx(value / 0.9, rel=1e-5)
    assert_same_grads(got, want, reaches={"G", "E"})

    # Rendered and judged with p itself it would be another number (the mutation it catches).
    def with_p(x, p, z):
        w, _ = reconstruct(nets, x, p)
        return 0.9 * kl(p, nets.C(nets.G(w, p, noise_mode="random")))

    assert hand_grads(nets, with_p)[0] != pytest.approx(value, rel=1e-2)


def test_adversarial_term_on_encoder_steps_trains_generator_and_encoder_not_d():
    nets = Nets()
    nets.D.requires_grad_(False)  # the step freezes D in the G phase
    stats, got = loss_grads(nets, "G", ENCODER, **{**OFF, "adversarial": 0.6})

    def build(x, p, z):
        _, x_rec = reconstruct(nets, x, p)
        return 0.6 * F.softplus(-nets.D(x_rec, p)).mean()

    value, want = hand_grads(nets, build)
    assert stats["E_adv"] == pytest.approx(value / 0.6, rel=1e-5)
    assert_same_grads(got, want, reaches={"G", "E"})


def test_warmup_steps_run_no_adversarial_term():
    nets = Nets()
    stats, got = loss_grads(nets, "G", WARMUP, **{**OFF, "adversarial": 1.0})
    assert "E_adv" not in stats
    assert_same_grads(got, {}, reaches=set())


def test_random_z_steps_train_the_generator_alone():
    nets = Nets()
    nets.D.requires_grad_(False)
    stats, got = loss_grads(nets, "G", RANDOM, adversarial=0.8, classifier_random=0.5)

    def build(x, p, z):
        x_fake = nets.G(nets.G.mapping(z, update_w_avg=True), p, noise_mode="random")
        return 0.8 * F.softplus(-nets.D(x_fake, p)).mean() + 0.5 * kl(p, nets.C(x_fake))

    _, want = hand_grads(nets, build)
    assert set(stats) == {"G_adv", "G_cls_random"}
    assert_same_grads(got, want, reaches={"G"})  # the encoder plays no part in a random step


@pytest.mark.parametrize("kind", [ENCODER, RANDOM])
def test_discriminator_phase_trains_d_alone_on_this_kinds_fakes(kind):
    nets = Nets()
    stats, got = loss_grads(nets, "D", kind)

    def build(x, p, z):
        with torch.no_grad():
            w = nets.E(x) if kind == ENCODER else nets.G.mapping(z)
            x_fake = nets.G(w, p, noise_mode="random")
        return F.softplus(nets.D(x_fake, p)).mean() + F.softplus(-nets.D(x, p)).mean()

    value, want = hand_grads(nets, build)
    assert stats["D_fake"] + stats["D_real"] == pytest.approx(value, rel=1e-5)
    assert_same_grads(got, want, reaches={"D"})


def test_r1_trains_d_alone():
    nets = Nets()
    stats, got = loss_grads(nets, "Dreg", ENCODER, r1_gamma=2.0, r1_interval=4)

    def build(x, p, z):
        x = x.requires_grad_(True)
        (grad,) = torch.autograd.grad(nets.D(x, p).sum(), x, create_graph=True)
        return grad.square().sum(dim=[1, 2, 3]).mean() * (2.0 / 2) * 4

    value, want = hand_grads(nets, build)
    assert stats["D_r1"] == pytest.approx(value / 4, rel=1e-5)
    assert_same_grads(got, want, reaches={"D"})


def test_the_encoder_step_total_is_each_term_at_its_weight():
    """All terms on at once, each at a distinct weight: the gradients are the weighted sum."""
    weights = dict(adversarial=0.6, rec_l1=0.7, rec_perceptual=0.3, rec_w=0.4, classifier=1.3,
                   classifier_swap=0.9)  # fmt: skip
    nets = Nets()
    nets.D.requires_grad_(False)
    stats, got = loss_grads(nets, "G", ENCODER, **weights)

    def build(x, p, z):
        w, x_rec = reconstruct(nets, x, p)
        p_swap = swapped(p)
        x_swap = nets.G(w, p_swap, noise_mode="random")  # rendered after the latent term
        return (
            0.6 * F.softplus(-nets.D(x_rec, p)).mean()
            + 0.7 * (x_rec - x).abs().mean()
            + 0.3 * nets.perceptual(x_rec, x).mean()
            + 1.3 * kl(p, nets.C(x_rec))
            + 0.4 * (nets.E(x_rec) - w).abs().mean()
            + 0.9 * kl(p_swap, nets.C(x_swap))
        )

    value, want = hand_grads(nets, build)
    logged = sum(weights[k] * stats[s] for k, s in [("adversarial", "E_adv"), ("rec_l1", "rec_l1"),
                 ("rec_perceptual", "rec_perc"), ("rec_w", "rec_w"), ("classifier", "cls_kl"),
                 ("classifier_swap", "cls_swap")])  # fmt: skip
    assert logged == pytest.approx(value, rel=1e-5)
    assert_same_grads(got, want, reaches={"G", "E"})


def test_edit_styles_moves_k_coordinates_of_each_row_to_the_batch_extremes():
    g = torch.Generator().manual_seed(4)
    inner = torch.rand(6, 20, generator=g) * 2 - 1  # rows strictly inside the batch's range
    conv = torch.cat([inner, torch.full((1, 20), -5.0), torch.full((1, 20), 5.0)])
    torch.manual_seed(0)
    edited = edit_styles(conv, 3)
    changed = edited != conv
    assert (changed[:6].sum(dim=1) == 3).all()  # the last two rows hold the extremes already
    lo, hi = conv.amin(dim=0), conv.amax(dim=0)
    for i, k in changed.nonzero().tolist():
        assert float(edited[i, k]) in (float(lo[k]), float(hi[k]))
    # Both directions occur, and a second draw edits other coordinates.
    assert (edited == hi).logical_and(changed).any() and (edited == lo).logical_and(changed).any()
    assert not torch.equal(edit_styles(conv, 3), edited)


def _edited(nets: Nets, x, p, w, styles):
    """The term's renders, in its order of noise and edit draws: the swapped-p render, then the
    single-coordinate edits, each judged with the classifier's probabilities of it."""
    x_swap = nets.G(w, swapped(p), noise_mode="random")
    conv = edit_styles(styles.conv, 2)
    x_coord = nets.G.synthesize(Styles(conv, styles.rgb), noise_mode="random")
    x_edit = torch.cat([x_swap, x_coord])
    return x_edit, torch.softmax(nets.C(x_edit), dim=1).detach()


def test_edit_realism_term_trains_generator_and_encoder_through_d():
    nets = Nets()
    nets.D.requires_grad_(False)  # the step freezes D in the G phase
    weights = {**OFF, "edit_adversarial": 0.5, "edit_coordinates": 2}
    stats, got = loss_grads(nets, "G", WARMUP, **weights)

    def build(x, p, z):
        w = nets.E(x)
        styles = nets.G.styles(w, p)
        nets.G.synthesize(styles, noise_mode="random")  # the reconstruction's noise draws
        x_edit, p_edit = _edited(nets, x, p, w, styles)
        return 0.5 * F.softplus(-nets.D(x_edit, p_edit)).mean()

    value, want = hand_grads(nets, build)
    assert stats["edit_adv"] == pytest.approx(value / 0.5, rel=1e-5)
    assert_same_grads(got, want, reaches={"G", "E"})


def test_with_edits_judged_the_warmup_trains_d_on_edited_renders():
    nets = Nets()
    weights = {"edit_adversarial": 0.5, "edit_coordinates": 2}
    stats, got = loss_grads(nets, "D", WARMUP, **weights)

    def build(x, p, z):
        with torch.no_grad():
            w = nets.E(x)
            x_edit, p_edit = _edited(nets, x, p, w, nets.G.styles(w, p))
        return F.softplus(nets.D(x_edit, p_edit)).mean() + F.softplus(-nets.D(x, p)).mean()

    value, want = hand_grads(nets, build)
    assert stats["D_fake"] + stats["D_real"] == pytest.approx(value, rel=1e-5)
    assert_same_grads(got, want, reaches={"D"})
    with pytest.raises(ValueError, match="edit_adversarial > 0"):
        loss_grads(nets, "D", WARMUP)  # without the term a warm-up has no fakes for D


def test_the_warmup_runs_d_only_when_edits_are_judged():
    names = [
        [ph.name for ph in step_phases(WARMUP, r1, edits)]
        for r1 in (False, True)
        for edits in (False, True)
    ]
    assert names == [["G"], ["D", "G"], ["G"], ["D", "Dreg", "G"]]
    assert [ph.trains for ph in step_phases(RANDOM, False, True)] == [("D",), ("G",)]
    assert [ph.trains for ph in step_phases(ENCODER, True, False)] == [("D",), ("D",), ("G", "E")]
