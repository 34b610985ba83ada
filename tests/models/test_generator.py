import pytest
import torch

from stylex.errors import ConfigError
from stylex.models import ArchConfig, Discriminator, Encoder, Generator, Styles
from stylex.models.layers import modulated_conv2d


def tiny_cfg(
    resolution: int = 16,
    num_classes: int = 2,
    synthesis_input: str = "const",
    conditioned_styles: str = "all",
) -> ArchConfig:
    return ArchConfig(
        resolution=resolution,
        num_classes=num_classes,
        z_dim=32,
        w_dim=32,
        mapping_layers=2,
        channel_base=512,
        channel_max=32,
        synthesis_input=synthesis_input,
        conditioned_styles=conditioned_styles,
    )


@pytest.mark.parametrize(
    ("resolution", "channel_base", "num_conv", "num_rgb"),
    [
        (32, 16384, 3584, 2048),
        (64, 16384, 4352, 2304),
        (64, 32768, 4608, 2560),
        (256, 32768, 5760, 2944),
        (1024, 32768, 6048, 3040),
    ],
)
def test_stylespace_counts_match_stylegan2(resolution, channel_base, num_conv, num_rgb):
    cfg = ArchConfig(resolution=resolution, num_classes=2, channel_base=channel_base)
    layout = Generator(cfg).layout
    assert layout.num_conv == num_conv
    assert layout.num_rgb == num_rgb


def test_paper_index_5300_is_b128_conv1_channel_180():
    layout = Generator(ArchConfig(resolution=256, num_classes=2)).layout
    assert layout.locate(5300) == ("b128.conv1", 180)
    assert layout.index("b128.conv1", 180) == 5300
    assert [lay.name for lay in layout.conv_layers][:3] == ["b4.conv1", "b8.conv0", "b8.conv1"]
    assert len(layout.conv_layers) == 13


@pytest.mark.parametrize("resolution", [8, 48, 2048, 100])
def test_bad_resolution_is_a_config_error(resolution):
    with pytest.raises(ConfigError, match="power of two"):
        ArchConfig(resolution=resolution, num_classes=2)


def test_styles_synthesize_round_trip_equals_forward():
    torch.manual_seed(0)
    g = Generator(tiny_cfg(num_classes=3))
    z = torch.randn(4, 32)
    p = torch.softmax(torch.randn(4, 3), dim=1)
    w = g.mapping(z)
    x = g(w, p)
    styles = g.styles(w, p)
    assert styles.conv.shape == (4, g.layout.num_conv)
    assert styles.rgb.shape == (4, g.layout.num_rgb)
    torch.testing.assert_close(g.synthesize(styles), x, rtol=0, atol=0)
    # flat <-> per-layer views
    per_layer = g.layout.split(styles.conv)
    torch.testing.assert_close(g.layout.join(per_layer), styles.conv, rtol=0, atol=0)


def test_editing_one_coordinate_changes_the_image_only_through_that_style():
    torch.manual_seed(0)
    g = Generator(tiny_cfg())
    w, p = torch.randn(2, 32), torch.tensor([[0.9, 0.1], [0.2, 0.8]])
    styles = g.styles(w, p)
    index = g.layout.index("b8.conv1", 3)
    edited_conv = styles.conv.clone()
    edited_conv[:, index] += 5.0
    x0 = g.synthesize(styles)
    x1 = g.synthesize(styles._replace(conv=edited_conv))
    assert (x1 - x0).abs().max() > 1e-3


def test_resuming_synthesis_from_a_cached_block_state_is_exact():
    torch.manual_seed(0)
    g = Generator(tiny_cfg(resolution=32))
    styles = g.styles(torch.randn(3, 32), torch.full((3, 2), 0.5))
    full = g.synthesize(styles)
    states = g.synthesis_states(styles)
    for b in range(1, len(states)):
        torch.testing.assert_close(g.synthesize(styles, start_block=b, state=states[b]), full)
    assert g.block_of_index(0) == 0
    assert g.block_of_index(g.layout.num_conv - 1) == len(g.blocks) - 1


def test_conditioning_on_probabilities_changes_the_output():
    torch.manual_seed(0)
    g = Generator(tiny_cfg())
    # Untrained affines weigh p like any w input; push it hard to see the effect clearly.
    w = torch.randn(2, 32)
    x_a = g(w, torch.tensor([[1.0, 0.0], [1.0, 0.0]]))
    x_b = g(w, torch.tensor([[0.0, 1.0], [0.0, 1.0]]))
    assert (x_a - x_b).abs().mean() > 1e-3


def test_conv_only_conditioning_leaves_the_styles_outside_stylespace_to_w():
    torch.manual_seed(0)
    G = Generator(tiny_cfg(synthesis_input="fourier", conditioned_styles="conv"))
    w = torch.randn(3, 32)
    a = G.styles(w, torch.tensor([[1.0, 0.0]] * 3))
    b = G.styles(w, torch.tensor([[0.0, 1.0]] * 3))
    # toRGB and the input transform see w alone; every conv affine still takes p.
    torch.testing.assert_close(a.rgb, b.rgb, atol=0, rtol=0)
    for layer in G.layout.layers:
        if layer.kind == "conv":
            conv_a, conv_b = (G.layout.split(s.conv, "conv")[layer.name] for s in (a, b))
            assert (conv_a - conv_b).abs().amax() > 1e-4, layer.name
    assert G.conditioning_weights("rgb") == []
    assert len(G.conditioning_weights()) == len(G.conditioning_weights("conv")) > 0
    # Every style affine of the paper's variant takes p, so its rgb styles follow it.
    full = Generator(tiny_cfg(synthesis_input="fourier"))
    assert not torch.allclose(full.styles(w, a_p := torch.tensor([[1.0, 0.0]] * 3)).rgb,
                              full.styles(w, 1 - a_p).rgb)  # fmt: skip
    with pytest.raises(ConfigError, match="conditioned_styles"):
        tiny_cfg(conditioned_styles="rgb")


@pytest.mark.parametrize("demodulate", [True, False])
def test_fused_and_export_modconv_paths_agree(demodulate):
    torch.manual_seed(0)
    x = torch.randn(5, 8, 6, 6)
    weight = torch.randn(4, 8, 3, 3)
    styles = torch.randn(5, 8)
    a = modulated_conv2d(x, weight, styles, demodulate=demodulate, fused=False)
    b = modulated_conv2d(x, weight, styles, demodulate=demodulate, fused=True)
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_generator_fused_and_unfused_images_agree():
    torch.manual_seed(0)
    g = Generator(tiny_cfg())
    w, p = torch.randn(3, 32), torch.full((3, 2), 0.5)
    x0 = g(w, p)
    g.fused_modconv = True
    torch.testing.assert_close(g(w, p), x0, rtol=1e-4, atol=1e-4)


def test_noise_modes():
    torch.manual_seed(0)
    g = Generator(tiny_cfg())
    for block in g.blocks:
        block.conv1.noise_strength.data.fill_(0.5)
    w, p = torch.randn(2, 32), torch.full((2, 2), 0.5)
    torch.testing.assert_close(g(w, p, "const"), g(w, p, "const"))
    assert (g(w, p, "random") - g(w, p, "random")).abs().max() > 0
    assert (g(w, p, "none") - g(w, p, "const")).abs().max() > 0
    with pytest.raises(ValueError, match="noise_mode"):
        g(w, p, "loud")


def test_truncation_pulls_toward_w_avg():
    torch.manual_seed(0)
    g = Generator(tiny_cfg())
    z = torch.randn(64, 32)
    g.mapping(z, update_w_avg=True)
    assert g.mapping.w_avg.abs().sum() > 0
    w = g.mapping(z)
    w_half = g.mapping(z, truncation_psi=0.5)
    torch.testing.assert_close(w_half, g.mapping.w_avg.lerp(w, 0.5))


def test_encoder_code_does_not_depend_on_the_batch():
    torch.manual_seed(0)
    e = Encoder(tiny_cfg())
    x = torch.rand(6, 3, 16, 16) * 2 - 1
    batch = e(x)
    single = torch.cat([e(x[i : i + 1]) for i in range(6)])
    torch.testing.assert_close(batch, single, rtol=1e-5, atol=1e-5)
    assert batch.shape == (6, 32)


def test_discriminator_score_is_the_class_projection():
    torch.manual_seed(0)
    d = Discriminator(tiny_cfg(num_classes=3))
    x = torch.rand(4, 3, 16, 16) * 2 - 1
    eye = torch.eye(3)
    per_class = torch.stack([d(x, eye[k].expand(4, 3)) for k in range(3)], dim=1)  # [N, 3]
    p = torch.softmax(torch.randn(4, 3), dim=1)
    torch.testing.assert_close(d(x, p), (per_class * p).sum(dim=1), rtol=1e-5, atol=1e-5)


def test_wrong_probability_width_is_rejected():
    g = Generator(tiny_cfg(num_classes=2))
    with pytest.raises(ValueError, match="p has shape"):
        g.styles(torch.randn(2, 32), torch.full((2, 3), 1 / 3))


def test_minibatch_stddev_groups_are_consecutive_samples():
    from stylex.models.discriminator import minibatch_stddev

    torch.manual_seed(0)
    x = torch.randn(8, 5, 4, 4)
    full = minibatch_stddev(x, 4)
    halves = torch.cat([minibatch_stddev(x[:4], 4), minibatch_stddev(x[4:], 4)])
    torch.testing.assert_close(full, halves)
    expected = x[:4].std(dim=0, unbiased=False).mean()
    torch.testing.assert_close(full[0, 5, 0, 0], expected, rtol=1e-4, atol=1e-4)
    assert minibatch_stddev(torch.randn(6, 5, 4, 4), 4).shape == (6, 6, 4, 4)  # falls back to 3


def test_fourier_input_keeps_stylespace_and_moves_content_with_its_transform():
    torch.manual_seed(0)
    const, fourier = Generator(tiny_cfg()), Generator(tiny_cfg(synthesis_input="fourier"))
    # StyleSpace is the same; the input's 4 transform parameters sit with the toRGB styles.
    assert fourier.layout.num_conv == const.layout.num_conv
    assert fourier.layout.num_rgb == const.layout.num_rgb + 4
    assert fourier.layout.layer("b4.input").kind == "rgb"
    G = fourier.eval()
    styles = G.styles(torch.randn(2, 32), torch.full((2, 2), 0.5))
    block = G.blocks[0].input
    params = G.layout.split(styles.rgb, "rgb")["b4.input"]
    base = block(params)
    # Translating by exactly one cell of the 4x4 grid moves the feature map by one pixel.
    moved = params.clone()
    moved[:, 0] += 0.5  # one cell of the 4x4 grid spans 0.5 of [-1, 1]
    shifted = block(moved)
    torch.testing.assert_close(shifted[..., 1:], base[..., :-1], atol=1e-5, rtol=0)
    # Through the whole generator: the image follows the input's style.
    rgb = styles.rgb.clone()
    rgb[:, G.layout.layer("b4.input").offset] += 0.3
    assert not torch.allclose(G.synthesize(Styles(styles.conv, rgb)), G.synthesize(styles))
    with pytest.raises(ConfigError, match="synthesis_input"):
        tiny_cfg(synthesis_input="learned")
