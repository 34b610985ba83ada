"""Evaluation metrics: encoding, flip rates and reconstruction fidelity, on numbers worked out
by hand.

The flip-rate tests use a stand-in for G: `synthesize` paints style coordinates 0..2 as flat
colour channels, and the classifiers are linear in those channels, so which edit flips which
image can be computed on paper. That checks the counting logic only; `encode` runs the real
tiny generator.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from stylex.errors import InvalidArgumentError
from stylex.explain.evaluation.metrics import (
    Encoded,
    encode,
    flip_rate_alone,
    flip_rate_at_k,
    reconstruction_fidelity,
)
from stylex.explain.vocabulary.attributes import StyleStats
from stylex.models import ArchConfig, Encoder, Generator, Styles


class PaintStyles(nn.Module):
    """Stand-in generator: image channel c (2x2 px) is the value of conv style c, c < 3."""

    def __init__(self) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(()))  # gives the module a device

    def synthesize(self, styles: Styles, noise_mode: str = "const") -> torch.Tensor:
        assert noise_mode == "const"
        return styles.conv[:, :3, None, None].expand(-1, -1, 2, 2).clone()


class SumClassifier(nn.Module):
    """Binary: class 1 iff channel 0 + channel 1 > 0."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        score = x[:, 0].mean(dim=(1, 2)) + x[:, 1].mean(dim=(1, 2))
        return torch.stack([torch.zeros_like(score), score], dim=1)


class ChannelClassifier(nn.Module):
    """Three classes: logit c is channel c."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


def binary_styles() -> Styles:
    conv = torch.tensor(
        [
            [-1.0, -1.0, 0.0, 0.0],  # class 0 (sum -2)
            [-0.5, 0.2, 1.0, 0.0],  # class 0 (sum -0.3)
            [0.4, 0.5, 0.0, 0.0],  # class 1 (sum 0.9)
            [1.5, 1.5, 0.5, 0.0],  # class 1 (sum 3)
            [0.6, -0.3, 0.0, 0.0],  # class 1 (sum 0.3)
        ]
    )
    return Styles(conv, torch.zeros(5, 2))


# Coordinate 2 is invisible to SumClassifier, so it wastes the first (class 1) or second
# (class 0) slot of a list. S_min = (-1, -1, 0, 0), S_max = (1.5, 1.5, 1, 0).
BINARY_LISTS = {1: [(2, 1), (0, 1), (1, 1)], 0: [(0, 0), (2, 0), (1, 0)]}


def test_flip_rate_at_k_binary_counts_by_hand() -> None:
    styles = binary_styles()
    conv_before = styles.conv.clone()
    stats = StyleStats.from_styles(styles.conv)
    G, C = PaintStyles(), SumClassifier()
    predicted = torch.tensor([0, 0, 1, 1, 1])
    rates = flip_rate_at_k(G, C, styles, stats, BINARY_LISTS, predicted, ks=[1, 2, 3, 4])
    # k=1: class-0 images only move coordinate 2 (no flip); images 2 and 4 drop to s0 = -1 and
    #      flip, image 3 keeps 0.5. k=2: images 0 and 1 get s0 = 1.5 and flip. k=3: image 3
    #      also gets s1 = -1. k=4: the lists have 3 entries, so as k=3.
    assert rates == {1: 2 / 5, 2: 4 / 5, 3: 1.0, 4: 1.0}
    assert torch.equal(styles.conv, conv_before)  # the caller's styles are not edited
    # Batches that split the classes and given probabilities change nothing.
    probs = torch.softmax(C(G.synthesize(styles)), dim=1)
    again = flip_rate_at_k(
        G, C, styles, stats, BINARY_LISTS, predicted, ks=[1, 2, 3, 4], batch_size=2, probs=probs
    )
    assert again == rates


def test_flip_rate_at_k_multiclass_uses_runner_up() -> None:
    conv = torch.tensor(
        [
            [0.9, 0.8, 0.0],  # class 0, runner-up 1
            [0.5, 1.0, 0.0],  # class 1, runner-up 0
            [0.3, 0.0, 1.2],  # class 2, runner-up 0
        ]
    )
    styles = Styles(conv, torch.zeros(3, 1))
    stats = StyleStats.from_styles(conv)  # S_max = (0.9, 1.0, 1.2)
    lists = {c: [(c, 1)] for c in range(3)}  # raise coordinate c to its maximum
    predicted = torch.tensor([0, 1, 2])
    rates = flip_rate_at_k(
        PaintStyles(), ChannelClassifier(), styles, stats, lists, predicted, ks=[1]
    )
    # Image 0 -> s1 = 1.0 beats 0.9: flips. Image 1 -> s0 = 0.9 stays below 1.0. Image 2 ->
    # s0 = 0.9 stays below 1.2. Targeting "next class" instead would flip image 1 too (2/3).
    assert rates == {1: pytest.approx(1 / 3)}


def test_flip_rate_at_k_needs_a_list_per_target() -> None:
    styles = binary_styles()
    stats = StyleStats.from_styles(styles.conv)
    with pytest.raises(InvalidArgumentError, match="no attribute list for class 0"):
        flip_rate_at_k(
            PaintStyles(),
            SumClassifier(),
            styles,
            stats,
            {1: BINARY_LISTS[1]},
            torch.tensor([0, 0, 1, 1, 1]),
            ks=[1],
        )


def test_flip_rate_alone_by_hand() -> None:
    styles = binary_styles()
    stats = StyleStats.from_styles(styles.conv)
    G, C = PaintStyles(), SumClassifier()
    predicted = torch.tensor([0, 0, 1, 1, 1])
    # Half-way moves: image 0 never reaches a positive sum, image 1 does via s0 or s1.
    rates = flip_rate_alone(
        G, C, styles, stats, [(0, 1), (2, 1), (1, 1)], 1, predicted, shift=0.5, batch_size=3
    )
    assert rates == [0.5, 0.0, 0.5]
    # Toward class 0 with s0 = -1: images 2 and 4 flip, image 3 (s1 = 1.5) does not.
    rates = flip_rate_alone(G, C, styles, stats, [(0, 0)], 0, predicted, batch_size=2)
    assert rates == [pytest.approx(2 / 3)]


def test_encode_matches_a_direct_pass() -> None:
    torch.manual_seed(0)
    cfg = ArchConfig(
        resolution=16, num_classes=2, z_dim=16, w_dim=16, mapping_layers=2, channel_base=256,
        channel_max=16,
    )  # fmt: skip
    G, E = Generator(cfg).eval(), Encoder(cfg).eval()
    C = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 2)).eval()
    x = torch.rand(5, 3, 16, 16) * 2 - 1
    enc = encode(G, E, C, x, batch_size=2)
    assert len(enc) == 5
    assert enc.reconstructions.shape == x.shape
    assert enc.styles.conv.shape == (5, G.layout.num_conv)
    torch.testing.assert_close(enc.probs.sum(dim=1), torch.ones(5))
    with torch.no_grad():
        w = E(x)
        probs = torch.softmax(C(x), dim=1)
        rec = G.synthesize(G.styles(w, probs), noise_mode="const")
        probs_rec = torch.softmax(C(rec), dim=1)
    torch.testing.assert_close(enc.w, w, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(enc.reconstructions, rec, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(enc.probs_rec, probs_rec, rtol=1e-4, atol=1e-5)
    assert torch.equal(enc.predicted, probs_rec.argmax(dim=1))


class MeanAbs(nn.Module):
    name = "mean-abs"

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a - b).abs().mean(dim=(1, 2, 3))


def test_reconstruction_fidelity_by_hand() -> None:
    x = torch.zeros(2, 3, 4, 4)
    probs = torch.tensor([[0.5, 0.5], [0.9, 0.1]])
    probs_rec = torch.tensor([[0.5, 0.5], [0.2, 0.8]])
    enc = Encoded(
        w=torch.zeros(2, 1),
        probs=probs,
        styles=Styles(torch.zeros(2, 1), torch.zeros(2, 1)),
        reconstructions=x + 0.5,
        probs_rec=probs_rec,
    )
    out = reconstruction_fidelity(x, enc, perceptual=MeanAbs(), batch_size=1)
    kl = 0.9 * math.log(0.9 / 0.2) + 0.1 * math.log(0.1 / 0.8)
    assert out["num_images"] == 2
    assert out["l1"] == pytest.approx(0.5)
    assert out["perceptual"] == pytest.approx(0.5)
    assert out["perceptual_name"] == "mean-abs"
    assert out["agreement"] == pytest.approx(0.5)
    assert out["kl"] == pytest.approx(kl / 2, rel=1e-5)
    assert "perceptual" not in reconstruction_fidelity(x, enc)
