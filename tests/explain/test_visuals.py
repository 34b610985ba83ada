"""Pictures of attributes: sizes, example choice and GIF frames on a tiny seeded generator."""

from __future__ import annotations

import math

import pytest
import torch
from PIL import Image

from stylex.errors import InvalidArgumentError
from stylex.explain.evaluation import visuals
from stylex.explain.evaluation.visuals import (
    GAP_PX,
    MARGIN_PX,
    PAIR_GAP_PX,
    attribute_gif,
    attribute_grid,
    attribute_title,
    explanation_strip,
    gif_shifts,
    label_image,
    save_png,
    select_examples,
    strip_px,
)
from stylex.explain.single.explanation import Counterfactual, Explanation
from stylex.explain.vocabulary.attributes import TOWARD_MAX, Attribute, StyleStats, apply_attributes
from stylex.models import ArchConfig, Generator, Styles

R = 16
NUM_IMAGES = 24


@pytest.fixture(scope="module")
def G() -> Generator:
    torch.manual_seed(0)
    cfg = ArchConfig(
        resolution=R,
        num_classes=2,
        z_dim=16,
        w_dim=16,
        mapping_layers=2,
        channel_base=256,
        channel_max=16,
    )
    return Generator(cfg).eval()


@pytest.fixture(scope="module")
def styles(G) -> Styles:
    gen = torch.Generator().manual_seed(1)
    z = torch.randn(NUM_IMAGES, 16, generator=gen)
    p = torch.rand(NUM_IMAGES, 2, generator=gen).softmax(dim=1)
    with torch.no_grad():
        return G.styles(G.mapping(z), p)


@pytest.fixture(scope="module")
def stats(styles) -> StyleStats:
    return StyleStats.from_styles(styles.conv)


@pytest.fixture(scope="module")
def attribute(G, styles, stats) -> Attribute:
    # The coordinate of the last layer with the widest range: its edit is visible.
    last = G.layout.conv_layers[-1]
    spread = (stats.s_max - stats.s_min)[last.offset : last.offset + last.channels]
    return Attribute.at(G.layout, last.offset + int(spread.argmax()), TOWARD_MAX)


@pytest.fixture(scope="module")
def C(G, styles, stats, attribute) -> torch.nn.Module:
    """Linear classifier whose class-1 logit reads the attribute's pixel change.

    The read-out direction is the mean change with the originals' own variation projected out,
    so every original gets P(1) = 0.3 and P(1) rises with how much the edit moved the image.
    The cut sits in the widest gap of the middle half: some images pass 0.2, others clearly not.
    """
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * R * R, 2))
    with torch.no_grad():
        x0 = G.synthesize(styles).flatten(1)
        edited = Styles(apply_attributes(styles.conv, stats, [attribute]), styles.rgb)
        delta = G.synthesize(edited).flatten(1) - x0
        _, _, vh = torch.linalg.svd(x0 - x0.mean(dim=0), full_matrices=False)
        v = delta.mean(dim=0)
        v = v - vh.T @ (vh @ v)
        v = v / v.norm()
        moved = (delta @ v).sort().values
        mid = moved[NUM_IMAGES // 4 : 3 * NUM_IMAGES // 4 + 1]
        k = int((mid[1:] - mid[:-1]).argmax())
        cut = float(mid[k] + mid[k + 1]) / 2
        base = math.log(0.3 / 0.7)
        gain = (math.log(0.5 / 0.5) - base) / cut  # P(1) = 0.5 (a rise of 0.2) at the cut
        net[1].weight.zero_()
        net[1].bias.zero_()
        net[1].weight[1] = gain * v
        net[1].bias[1] = base - gain * float(x0[0] @ v)
    return net.eval()


def _rises(G, C, styles, stats, attribute, target=1, shift=1.0):
    with torch.no_grad():
        p0 = C(G.synthesize(styles)).softmax(dim=1)[:, target]
        edited = Styles(apply_attributes(styles.conv, stats, [attribute], shift), styles.rgb)
        p1 = C(G.synthesize(edited)).softmax(dim=1)[:, target]
    return p0, p1


def test_label_image_size_is_scaled_image_plus_one_line_strip():
    img = torch.rand(3, R, R) * 2 - 1
    out = label_image(img, "P(red)=0.83", scale=4)
    assert isinstance(out, Image.Image)
    assert out.size == (R * 4, R * 4 + strip_px(1))
    # Nearest-neighbour upscaling: each source pixel is a 4x4 block.
    block = out.crop((0, 0, 4, 4))
    assert block.getextrema() == tuple((v, v) for v in block.getpixel((0, 0)))
    # Text was drawn: the strip is not blank.
    assert out.crop((0, R * 4, R * 4, out.height)).getextrema() != ((255, 255),) * 3


def test_label_image_wraps_long_text_onto_more_lines():
    img = torch.zeros(3, R, R)
    text = "a much longer caption than fits on sixteen pixels"
    out = label_image(img, text, scale=1)
    num_lines = len(visuals._wrap(text, R - 2))
    assert num_lines >= 2
    assert out.size == (R, R + strip_px(num_lines))


def test_label_image_rejects_bad_scale():
    with pytest.raises(InvalidArgumentError, match="scale"):
        label_image(torch.zeros(3, R, R), "x", scale=0)


def test_attribute_title_names_layer_channel_and_direction():
    a = Attribute(index=23, direction=1, layer="b16.conv1", channel=7)
    assert attribute_title(a) == "b16.conv1 ch 7 (+)"
    assert attribute_title(a.reversed()) == "b16.conv1 ch 7 (-)"
    assert attribute_title(Attribute(index=5, direction=0)) == "s[5] (-)"


def test_select_examples_keeps_passing_images_in_distance_order(G, C, styles, stats, attribute):
    p0, p1 = _rises(G, C, styles, stats, attribute)
    passing = (p1 - p0) >= 0.2
    assert 4 <= int(passing.sum()) < NUM_IMAGES, "test set-up: need passing and failing images"

    extreme = stats.s_max[attribute.index]
    distance = (styles.conv[:, attribute.index] - extreme).abs()
    ranked = sorted(range(NUM_IMAGES), key=lambda i: -float(distance[i]))
    expected = [i for i in ranked if passing[i]][:4]

    got = select_examples(G, C, styles, stats, attribute, 1, num_examples=4, batch_size=6)
    assert [e.row for e in got] == expected
    for index, p_before, p_after in got:
        assert p_after - p_before >= 0.2
        assert p_before == pytest.approx(float(p0[index]), abs=1e-5)
        assert p_after == pytest.approx(float(p1[index]), abs=1e-5)
    dists = [float(distance[e.row]) for e in got]
    assert dists == sorted(dists, reverse=True)


def test_select_examples_fills_with_largest_rises_when_too_few_pass(G, C, styles, stats, attribute):
    p0, p1 = _rises(G, C, styles, stats, attribute)
    got = select_examples(G, C, styles, stats, attribute, 1, num_examples=3, threshold=2.0)
    expected = torch.argsort(p1 - p0, descending=True)[:3].tolist()
    assert [e.row for e in got] == expected


def test_select_examples_rejects_unknown_class(G, C, styles, stats, attribute):
    with pytest.raises(InvalidArgumentError, match="target class 2"):
        select_examples(G, C, styles, stats, attribute, 2)


def test_select_examples_returns_at_most_the_images_there_are(G, C, styles, stats, attribute):
    few = Styles(styles.conv[:2], styles.rgb[:2])
    assert len(select_examples(G, C, few, stats, attribute, 1, num_examples=5)) == 2


def test_attribute_grid_size_follows_rows_and_columns(G, C, styles, stats, attribute):
    scale = 4
    grid = attribute_grid(
        G, C, styles, stats, attribute, 1, "b", num_examples=3, scale=scale, pairs_per_row=2
    )
    cell_w, cell_h = R * scale, R * scale + strip_px(1)  # "P(b)=0.xx" fits one line at 64 px
    pair_w = 2 * cell_w + GAP_PX
    body_w = 2 * pair_w + PAIR_GAP_PX  # 2 pairs in the first row, 1 in the second
    body_h = 2 * cell_h + PAIR_GAP_PX
    header_lines = len(visuals._wrap(f"{attribute_title(attribute)} -> b", body_w - 2))
    assert grid.size == (
        body_w + 2 * MARGIN_PX,
        strip_px(header_lines) + GAP_PX + body_h + 2 * MARGIN_PX,
    )


def test_explanation_strip_has_one_cell_per_image(G, styles, attribute):
    with torch.no_grad():
        x = G.synthesize(styles)[:3]
    probs = torch.tensor([0.7, 0.3])
    cfs = [
        Counterfactual(attribute, x[2], torch.tensor([0.2, 0.8]), 0.5),
        Counterfactual(attribute.reversed(), x[2], torch.tensor([0.9, 0.1]), -0.2),
    ]
    exp = Explanation(["a", "b"], x[0], x[1], probs, probs, target=1, counterfactuals=cfs)
    strip = explanation_strip(exp, scale=4)
    num_cells = 4
    assert strip.width == num_cells * R * 4 + (num_cells - 1) * PAIR_GAP_PX + 2 * MARGIN_PX
    assert strip.height > R * 4 + 2 * strip_px(1)


def test_gif_shifts_go_there_and_back():
    assert gif_shifts(3) == [0.0, 0.5, 1.0, 0.5]
    assert len(gif_shifts(8)) == 14
    with pytest.raises(InvalidArgumentError):
        gif_shifts(1)


def test_attribute_gif_has_expected_frames(G, styles, stats, attribute, tmp_path):
    path = tmp_path / "attr.gif"
    one = Styles(styles.conv[:1], styles.rgb[:1])
    attribute_gif(G, one, stats, attribute, path, steps=5, scale=4)
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind
    with Image.open(path) as im:
        assert im.format == "GIF"
        assert im.n_frames == 2 * 5 - 2
        assert im.info.get("loop") == 0
        assert im.size == (R * 4 + 2 * MARGIN_PX, R * 4 + strip_px(1) + 2 * MARGIN_PX)


def test_attribute_gif_needs_one_image(G, styles, stats, attribute, tmp_path):
    with pytest.raises(InvalidArgumentError, match="one image"):
        attribute_gif(G, styles, stats, attribute, tmp_path / "x.gif")
    assert not any(tmp_path.iterdir())


def test_save_png_round_trips(tmp_path):
    image = Image.new("RGB", (5, 3), (10, 20, 30))
    save_png(image, tmp_path / "sub" / "a.png")
    with Image.open(tmp_path / "sub" / "a.png") as back:
        assert back.format == "PNG"
        assert back.size == (5, 3)
        assert back.getpixel((4, 2)) == (10, 20, 30)
    assert len(list((tmp_path / "sub").iterdir())) == 1
