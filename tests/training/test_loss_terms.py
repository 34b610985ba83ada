"""The loss terms one at a time: each has a sign, a direction or a value that a slip would
change (a flipped softplus, KL the wrong way round, R1 on the wrong input)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from stylex.models import ArchConfig, Discriminator, Encoder, Generator
from stylex.models.perceptual import PyramidPerceptual
from stylex.training.config import LossWeights
from stylex.training.losses import StylexLoss, classifier_kl

ARCH = ArchConfig(resolution=16, num_classes=2, z_dim=16, w_dim=16, mapping_layers=1,
                  channel_base=256, channel_max=16, mbstd_group_size=0)  # fmt: skip


class LinearD(nn.Module):
    """score(x) = <c, x>: its gradient in x is c everywhere, so R1 is |c|^2 exactly."""

    def __init__(self) -> None:
        super().__init__()
        self.c = nn.Parameter(torch.randn(3, 16, 16, generator=torch.Generator().manual_seed(3)))

    def forward(self, x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        return (x * self.c).sum(dim=[1, 2, 3])


def _loss(D: nn.Module, **weights) -> tuple[StylexLoss, Generator]:
    torch.manual_seed(0)
    G, E = Generator(ARCH), Encoder(ARCH)
    C = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 2))
    perceptual = PyramidPerceptual()
    return StylexLoss(G, E, D, C, lambda a, b: perceptual(a, b), LossWeights(**weights)), G


def _batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    x = torch.rand(8, 3, 16, 16, generator=g) * 2 - 1
    p = torch.softmax(torch.randn(8, 2, generator=g), dim=1)
    return x, p, torch.randn(8, 16, generator=g)


def _fake_scores(loss: StylexLoss, D: nn.Module, p: torch.Tensor, z: torch.Tensor) -> float:
    with torch.no_grad():
        torch.manual_seed(5)  # the same synthesis noise every time
        return float(D(loss.G(loss.G.mapping(z), p, noise_mode="random"), p).mean())


def _sgd_step(module: nn.Module, lr: float) -> None:
    with torch.no_grad():
        for param in module.parameters():
            if param.grad is not None:
                param -= lr * param.grad
    module.zero_grad(set_to_none=True)


def test_discriminator_loss_is_softplus_of_the_right_sign_and_separates_real_from_fake():
    torch.manual_seed(2)
    D = Discriminator(ARCH)
    loss, _ = _loss(D)
    x, p, z = _batch()
    with torch.no_grad():
        real_before = float(D(x, p).mean())
        torch.manual_seed(5)
        x_fake = loss.G(loss.G.mapping(z), p, noise_mode="random")
        want_fake = float(F.softplus(D(x_fake, p)).mean())
        want_real = float(F.softplus(-D(x, p)).mean())
    fake_before = _fake_scores(loss, D, p, z)
    torch.manual_seed(5)
    stats = loss.accumulate_gradients("D", "random", x, p, z, 1.0)
    assert stats["D_fake"] == pytest.approx(want_fake, rel=1e-5)
    assert stats["D_real"] == pytest.approx(want_real, rel=1e-5)
    _sgd_step(D, 1e-3)
    # Descending the logistic loss widens the gap between real and fake scores (a flipped
    # softplus narrows it).
    real_after = float(D(x, p).mean().detach())
    fake_after = _fake_scores(loss, D, p, z)
    assert real_after - fake_after > real_before - fake_before + 1e-4


def test_generator_loss_is_non_saturating_and_raises_the_fake_score():
    torch.manual_seed(2)
    D = Discriminator(ARCH).requires_grad_(False)
    loss, G = _loss(D)
    x, p, z = _batch()
    before = _fake_scores(loss, D, p, z)
    torch.manual_seed(5)
    stats = loss.accumulate_gradients("G", "random", x, p, z, 1.0)
    with torch.no_grad():
        torch.manual_seed(5)
        want = float(F.softplus(-D(G(G.mapping(z), p, noise_mode="random"), p)).mean())
    assert stats["G_adv"] == pytest.approx(want, rel=1e-5)  # -log sigmoid(D(G(z)))
    _sgd_step(G, 1e-2)
    assert _fake_scores(loss, D, p, z) > before


def test_r1_is_the_squared_gradient_norm_on_real_images_weighted_lazily():
    D = LinearD()
    loss, _ = _loss(D, r1_gamma=0.5, r1_interval=4)
    x, p, z = _batch()
    stats = loss.accumulate_gradients("Dreg", "random", x, p, z, 1.0)
    c = D.c.detach()
    assert stats["D_r1"] == pytest.approx(float(c.square().sum()), rel=1e-5)
    # d/dc of (gamma / 2) * interval * |c|^2 is gamma * interval * c.
    torch.testing.assert_close(D.c.grad, 0.5 * 4 * c, rtol=1e-5, atol=1e-6)


def test_classifier_kl_is_kl_of_the_target_against_the_reconstruction():
    p = torch.tensor([[0.9, 0.1], [0.2, 0.8]])
    q = torch.tensor([[0.6, 0.4], [0.5, 0.5]])
    want = (
        sum(
            sum(pi * math.log(pi / qi) for pi, qi in zip(prow, qrow, strict=True))
            for prow, qrow in zip(p.tolist(), q.tolist(), strict=True)
        )
        / 2
    )
    assert float(classifier_kl(p, q.log())) == pytest.approx(want, rel=1e-5)
    # KL is not symmetric: the other order is another number, so the order is checked.
    assert float(classifier_kl(q, p.log())) != pytest.approx(want, rel=1e-2)
    assert float(classifier_kl(p, p.log() + 3.0)) == pytest.approx(0.0, abs=1e-6)  # logits
    assert float(classifier_kl(torch.tensor([[1.0, 0.0]]), q[:1].log())) == pytest.approx(
        -math.log(0.6), rel=1e-5
    )  # a one-hot target: zero-probability classes add nothing


def test_pyramid_perceptual_is_a_distance_blind_to_a_uniform_brightness_shift():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(4, 3, 32, 32, generator=g) * 2 - 1
    noise = torch.randn(4, 3, 32, 32, generator=g)
    d = PyramidPerceptual()
    torch.testing.assert_close(d(a, a), torch.zeros(4))
    torch.testing.assert_close(d(a, a + 0.1 * noise), d(a + 0.1 * noise, a))
    small, large = d(a, a + 0.05 * noise), d(a, a + 0.2 * noise)
    assert (small > 0).all() and (large > 2 * small).all()
    # Band-pass and gradients only: a constant offset costs nothing (the L1 term sees it).
    torch.testing.assert_close(d(a, a + 0.3), torch.zeros(4), atol=1e-5, rtol=0)
