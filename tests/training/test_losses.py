"""The conditioning term: swapped probabilities, and a loss that asks the generator to follow
them."""

from __future__ import annotations

import pytest
import torch

from stylex.training.losses import swap_probabilities


def test_swapped_probabilities_give_another_decision():
    p2 = torch.tensor([[0.9, 0.1], [0.3, 0.7]])
    torch.testing.assert_close(swap_probabilities(p2), torch.tensor([[0.1, 0.9], [0.7, 0.3]]))
    p3 = torch.softmax(torch.randn(64, 3, generator=torch.Generator().manual_seed(0)), dim=1)
    swapped = swap_probabilities(p3)
    torch.testing.assert_close(swapped.sum(dim=1), torch.ones(64))
    assert (swapped.argmax(dim=1) != p3.argmax(dim=1)).all()
    assert (swapped.argmax(dim=1) == (p3.argmax(dim=1) + 1) % 3).all()


def test_conditioning_sparsity_is_the_group_norm_of_every_affines_p_columns():
    from stylex.models import ArchConfig, Discriminator, Encoder, Generator
    from stylex.training.config import LossWeights
    from stylex.training.losses import StylexLoss

    arch = ArchConfig(resolution=16, num_classes=2, z_dim=16, w_dim=16, mapping_layers=1,
                      channel_base=256, channel_max=16, synthesis_input="fourier")  # fmt: skip
    torch.manual_seed(0)
    G, E, D = Generator(arch), Encoder(arch), Discriminator(arch)
    cols = G.conditioning_weights()
    # One per conv layer, toRGB and the Fourier input; each [style width, num_classes].
    assert len(cols) == len(G.layout.layers)
    assert sum(c.shape[0] for c in cols) == G.layout.num_conv + G.layout.num_rgb
    assert all(c.shape[1] == 2 for c in cols)
    expected = sum(float(c.detach().norm(dim=1).sum()) for c in cols)

    C = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 16 * 16, 2))
    x = torch.rand(4, 3, 16, 16) * 2 - 1
    p = torch.softmax(C(x), dim=1).detach()
    stats = {}
    for weight in (0.0, 0.5):
        loss = StylexLoss(G, E, D, C, lambda a, b: (a - b).abs().mean(dim=[1, 2, 3]),
                          LossWeights(cond_sparsity=weight))  # fmt: skip
        G.zero_grad(set_to_none=True)
        torch.manual_seed(1)
        stats[weight] = loss.accumulate_gradients("G", "warmup", x, p, torch.zeros(4, 16), 1.0)
        stats[weight]["grad"] = G.blocks[0].conv1.affine.weight.grad.clone()
    assert "cond_l21_conv" not in stats[0.0] and "cond_l21_rgb" not in stats[0.0]
    both = stats[0.5]["cond_l21_conv"] + stats[0.5]["cond_l21_rgb"]
    assert both == pytest.approx(expected, rel=1e-5)
    conv = sum(float(c.detach().norm(dim=1).sum()) for c in G.conditioning_weights("conv"))
    assert stats[0.5]["cond_l21_conv"] == pytest.approx(conv, rel=1e-5)
    # The term's gradient on a p column is the weight times that row's unit vector.
    w = G.blocks[0].conv1.affine.weight.detach()[:, arch.w_dim :]
    extra = stats[0.5]["grad"][:, arch.w_dim :] - stats[0.0]["grad"][:, arch.w_dim :]
    torch.testing.assert_close(extra, 0.5 * w / w.norm(dim=1, keepdim=True), rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(
        stats[0.5]["grad"][:, : arch.w_dim], stats[0.0]["grad"][:, : arch.w_dim]
    )


def test_conv_only_conditioning_has_no_rgb_group_and_still_trains():
    from stylex.models import ArchConfig, Discriminator, Encoder, Generator
    from stylex.training.config import LossWeights
    from stylex.training.losses import StylexLoss

    arch = ArchConfig(resolution=16, num_classes=2, z_dim=16, w_dim=16, mapping_layers=1,
                      channel_base=256, channel_max=16, synthesis_input="fourier",
                      conditioned_styles="conv")  # fmt: skip
    torch.manual_seed(0)
    G, E, D = Generator(arch), Encoder(arch), Discriminator(arch)
    C = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 16 * 16, 2))
    x = torch.rand(4, 3, 16, 16) * 2 - 1
    p = torch.softmax(C(x), dim=1).detach()
    weights = LossWeights(cond_sparsity=0.5, cond_sparsity_rgb=5.0, classifier_swap=1.0)
    loss = StylexLoss(G, E, D, C, lambda a, b: (a - b).abs().mean(dim=[1, 2, 3]), weights)
    stats = loss.accumulate_gradients("G", "warmup", x, p, torch.zeros(4, 16), 1.0)
    conv = sum(float(c.detach().norm(dim=1).sum()) for c in G.conditioning_weights("conv"))
    assert stats["cond_l21_conv"] == pytest.approx(conv, rel=1e-5)
    assert "cond_l21_rgb" not in stats  # p does not reach toRGB or the input at all
    # The swapped-conditioning term reaches p only through StyleSpace's affines.
    assert G.blocks[0].torgb.affine.weight.shape[1] == arch.w_dim
    assert G.blocks[0].conv1.affine.weight.grad[:, arch.w_dim :].abs().sum() > 0
