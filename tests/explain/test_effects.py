import torch

from stylex.classifiers import SmallCNN
from stylex.explain.search.effects import EffectEngine, reference_effects
from stylex.explain.vocabulary.attributes import StyleStats
from stylex.models import ArchConfig, Generator, Styles


def tiny_setup(num_images: int = 3, num_classes: int = 2):
    torch.manual_seed(0)
    cfg = ArchConfig(
        resolution=16, num_classes=num_classes, z_dim=16, w_dim=16, mapping_layers=2,
        channel_base=128, channel_max=8,
    )  # fmt: skip
    G = Generator(cfg).eval()
    for block in G.blocks:  # non-zero noise so the const-noise path is exercised too
        block.conv1.noise_strength.data.fill_(0.3)
    C = SmallCNN(num_classes, 16, width=8).eval()
    z = torch.randn(num_images, 16)
    p = torch.softmax(torch.randn(num_images, num_classes), dim=1)
    with torch.no_grad():
        styles = G.styles(G.mapping(z), p)
    # Statistics over a larger population than the images explained, as in AttFind runs.
    with torch.no_grad():
        pop = G.styles(G.mapping(torch.randn(32, 16)), torch.full((32, num_classes), 0.5)).conv
    return G, C, styles, StyleStats.from_styles(pop)


def test_batched_cached_engine_equals_the_plain_loop():
    G, C, styles, stats = tiny_setup()
    expected = reference_effects(G, C, styles, stats)
    for edits_per_batch in (7, 64, 10_000):
        got = EffectEngine(G, C, edits_per_batch=edits_per_batch).effects(styles, stats)
        assert got.shape == (3, 2, G.layout.num_conv, 2)
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    assert expected.abs().max() > 1e-3  # the edits do move the classifier


def test_half_shift_and_three_classes():
    G, C, styles, stats = tiny_setup(num_images=2, num_classes=3)
    expected = reference_effects(G, C, styles, stats, shift=0.5)
    got = EffectEngine(G, C, shift=0.5, edits_per_batch=50).effects(styles, stats)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


def test_screened_candidates_are_exact_and_the_rest_zero():
    G, C, styles, stats = tiny_setup()
    engine = EffectEngine(G, C, edits_per_batch=32)
    full = engine.effects(styles, stats)
    coords = engine.screen(styles, stats, top=10)
    assert coords.shape == (3, 10)
    partial = engine.effects(styles, stats, coords=coords)
    for i in range(3):
        mask = torch.zeros(G.layout.num_conv, dtype=torch.bool)
        mask[coords[i]] = True
        torch.testing.assert_close(partial[i][:, mask], full[i][:, mask], rtol=1e-4, atol=1e-5)
        assert (partial[i][:, ~mask] == 0).all()


def test_first_order_screen_is_the_linearisation_of_the_effects():
    # For small moves the exact effects are linear in the shift: the screen must rank the
    # largest exact effect of each image first. (At shift 1 it is only a heuristic; how often it
    # keeps AttFind's selection is measured by bench/attfind.py.)
    G, C, styles, stats = tiny_setup(num_images=4)
    engine = EffectEngine(G, C, shift=0.01)
    exact = engine.effects(styles, stats).abs().amax(dim=(1, 3))  # [N, S]
    screened = engine.screen(styles, stats, top=3)
    for i in range(4):
        assert int(exact[i].argmax()) in screened[i].tolist(), (exact[i].topk(3), screened[i])


def test_effect_of_an_image_does_not_depend_on_the_others():
    G, C, styles, stats = tiny_setup()
    engine = EffectEngine(G, C, edits_per_batch=40)
    together = engine.effects(styles, stats)
    alone = engine.effects(Styles(styles.conv[1:2], styles.rgb[1:2]), stats)
    torch.testing.assert_close(together[1:2], alone, rtol=1e-4, atol=1e-5)
