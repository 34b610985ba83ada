"""AttFind on hand-made effects tensors whose right answer is known."""

import math

import pytest
import torch

from stylex.errors import InvalidArgumentError
from stylex.explain.search.attfind import (
    EFFECT,
    FLIP,
    combine_binary,
    filter_unstable,
    find_attributes,
    select_for_class,
)

MIN, MAX = 0, 1  # directions


def zeros(num_images: int, num_coords: int, num_classes: int = 2) -> torch.Tensor:
    return torch.zeros(num_images, 2, num_coords, num_classes)


def all_images(effects: torch.Tensor) -> torch.Tensor:
    return torch.ones(effects.shape[0], dtype=torch.bool)


def keys(selection):
    return [(k, d) for k, d, _ in selection]


def test_greedy_picks_in_order_of_mean_gain_and_ignores_losses():
    e = zeros(4, 6)
    e[:, MAX, 3, 0] = 0.5
    e[:, MIN, 1, 0] = 0.3
    e[:, MAX, 0, 0] = torch.tensor([0.4, 0.0, 0.0, 0.0])  # mean 0.1
    e[:, MIN, 4, 0] = -1.0  # a loss is clamped to 0, never picked
    e[:, MIN, 5, 1] = 9.0  # another class's logit is irrelevant

    got = select_for_class(e, 0, all_images(e), num_attributes=8, max_image_effect=100.0)

    assert keys(got) == [(3, MAX), (1, MIN), (0, MAX)]  # then no positive gain left: stop
    assert [score for _, _, score in got] == pytest.approx([0.5, 0.3, 0.1])


def test_other_direction_of_a_chosen_coordinate_stays_eligible():
    e = zeros(3, 4)
    e[:, MIN, 2, 0] = 0.6
    e[:, MAX, 2, 0] = 0.4
    e[:, MAX, 1, 0] = 0.2

    got = select_for_class(e, 0, all_images(e), num_attributes=3, max_image_effect=100.0)

    assert keys(got) == [(2, MIN), (2, MAX), (1, MAX)]


def test_saturated_images_stop_counting():
    e = zeros(4, 3)
    e[:, MAX, 0, 0] = torch.tensor([2.0, 2.0, 0.0, 0.0])  # mean 1.0: first pick
    e[:, MAX, 1, 0] = torch.tensor([1.5, 1.5, 0.0, 0.0])  # mean 0.75 over all images
    e[:, MAX, 2, 0] = torch.tensor([0.0, 0.0, 0.5, 0.5])  # mean 0.25 over all, 0.5 over 2..3

    # Without the stopping rule coordinate 1 would win the second pick...
    unbounded = select_for_class(e, 0, all_images(e), num_attributes=2, max_image_effect=1e9)
    assert keys(unbounded) == [(0, MAX), (1, MAX)]

    # ...but images 0 and 1 reached max_image_effect with the first pick, so only 2 and 3 count.
    got = select_for_class(e, 0, all_images(e), num_attributes=2, max_image_effect=1.0)
    assert keys(got) == [(0, MAX), (2, MAX)]
    assert got[1][2] == pytest.approx(0.5)  # mean over the active images only


def test_flip_rule_keeps_images_that_one_strong_coordinate_moves_but_does_not_flip():
    # A decision that needs two factors: images 0-3 sit 5 logits from the target class;
    # coordinate 0 closes 3 of them on every image, coordinate 1 the remaining 3 on images 0-1,
    # coordinate 2 on images 2-3.
    e = zeros(4, 4)
    e[:, MAX, 0, 0] = 3.0
    e[:, MAX, 1, 0] = torch.tensor([3.0, 3.0, 0.0, 0.0])
    e[:, MAX, 2, 0] = torch.tensor([0.0, 0.0, 3.0, 3.0])
    e[:, MAX, 3, 0] = 0.2  # a weak coordinate that helps everyone a little
    base = torch.tensor([[0.0, 5.0]]).repeat(4, 1)  # every image is class 1 by 5 logits

    # The official rule retires every image after the first pick (a gain of 3 >= 1)...
    official = select_for_class(e, 0, all_images(e), num_attributes=8, active_until=EFFECT)
    assert keys(official) == [(0, MAX)]

    # ...the flip rule keeps them until the summed effects flip them: images 0-1 flip with
    # coordinate 1, then only 2-3 count and coordinate 2 is picked, and nothing is left.
    got = select_for_class(
        e, 0, all_images(e), num_attributes=8, active_until=FLIP, base_logits=base
    )
    assert keys(got) == [(0, MAX), (1, MAX), (2, MAX)]
    assert got[2][2] == pytest.approx(3.0)  # the mean over images 2-3 only


def test_flip_rule_counts_the_effect_on_every_class():
    # Coordinate 0 raises the target logit by 3 but the competing logit by 3 too: it never
    # flips anything, so the image stays active and coordinate 1 (which lowers the competitor)
    # is picked after it even though its target gain is smaller.
    e = zeros(1, 2)
    e[0, MAX, 0] = torch.tensor([3.0, 3.0])
    e[0, MAX, 1] = torch.tensor([0.5, -4.0])
    base = torch.tensor([[0.0, 2.0]])

    got = select_for_class(
        e, 0, all_images(e), num_attributes=8, active_until=FLIP, base_logits=base
    )
    assert keys(got) == [(0, MAX), (1, MAX)]


def test_flip_rule_needs_the_base_logits():
    e = zeros(2, 3)
    with pytest.raises(InvalidArgumentError, match="needs base_logits of shape \\[2, 2\\]"):
        select_for_class(e, 0, all_images(e), active_until=FLIP)
    with pytest.raises(InvalidArgumentError, match="got \\[2, 3\\]"):
        select_for_class(e, 0, all_images(e), active_until=FLIP, base_logits=torch.zeros(2, 3))
    with pytest.raises(InvalidArgumentError, match="active_until 'never'"):
        select_for_class(e, 0, all_images(e), active_until="never")


def test_find_attributes_passes_the_flip_rule_to_every_class():
    # Binary: class 1 images need coordinates 0 and 1 together to reach class 0.
    e = zeros(2, 3)
    e[:, MAX, 0, 0] = 3.0
    e[:, MAX, 1, 0] = 2.5
    e[:, MAX, 0, 1] = -3.0
    e[:, MAX, 1, 1] = -2.5
    base = torch.tensor([[0.0, 8.0], [0.0, 8.0]])  # coordinate 0 alone leaves (3, 5)
    predicted = torch.tensor([1, 1])

    official = find_attributes(e, predicted, num_classes=2)
    flip = find_attributes(e, predicted, num_classes=2, active_until=FLIP, base_logits=base)

    assert keys(official.per_class[0]) == [(0, MAX)]
    assert keys(flip.per_class[0]) == [(0, MAX), (1, MAX)]
    assert keys(flip.per_class[1]) == [(0, MIN), (1, MIN)]


def test_stops_cleanly_when_no_image_is_active():
    e = zeros(2, 3)
    e[:, MAX, 0, 0] = 5.0
    e[:, MAX, 1, 0] = 3.0

    got = select_for_class(e, 0, all_images(e), num_attributes=8, max_image_effect=1.0)

    assert keys(got) == [(0, MAX)]
    assert all(math.isfinite(score) for _, _, score in got)


def test_only_masked_images_are_used():
    e = zeros(3, 5)
    e[:2, MAX, 1, 0] = torch.tensor([0.2, 0.4])
    e[2, MIN, 4, 0] = 9.0  # image 2 is of the target class: must not drive the choice
    mask = torch.tensor([True, True, False])

    got = select_for_class(e, 0, mask, num_attributes=8, max_image_effect=100.0)

    assert keys(got) == [(1, MAX)]
    assert got[0][2] == pytest.approx(0.3)
    assert select_for_class(e, 0, torch.zeros(3, dtype=torch.bool)) == []


def test_ties_go_to_lowest_flat_index_and_results_repeat():
    num_coords = 4
    e = zeros(3, num_coords)
    e[:, MAX, 1, 0] = 0.5  # j = S + 1
    e[:, MIN, 3, 0] = 0.5  # j = 3: lower, so first

    first = select_for_class(e, 0, all_images(e), num_attributes=2, max_image_effect=100.0)

    assert keys(first) == [(3, MIN), (1, MAX)]
    assert select_for_class(e, 0, all_images(e), num_attributes=2, max_image_effect=100.0) == first


def test_select_rejects_bad_arguments():
    e = zeros(3, 4)
    with pytest.raises(InvalidArgumentError, match="target class 2"):
        select_for_class(e, 2, all_images(e))
    with pytest.raises(InvalidArgumentError, match="image_mask"):
        select_for_class(e, 0, torch.ones(2, dtype=torch.bool))
    with pytest.raises(InvalidArgumentError, match=r"\[N, 2, S, C\]"):
        select_for_class(torch.zeros(3, 4, 2), 0, torch.ones(3, dtype=torch.bool))


def test_unstable_images_are_zeroed_in_a_copy():
    e = zeros(3, 4)  # 16 entries per image
    e[0].view(-1)[:5] = 3.0  # 5 large entries: not more than max_count
    e[1].view(-1)[:3] = 3.0
    e[1].view(-1)[3:6] = -3.0  # 6 large entries, counted by magnitude: unstable
    e[2].view(-1)[:10] = 2.0  # exactly the threshold is not large
    before = e.clone()

    out, unstable = filter_unstable(e, threshold=2.0, max_count=5)

    assert unstable.tolist() == [False, True, False]
    assert torch.equal(e, before)  # input untouched
    assert torch.equal(out[1], torch.zeros_like(out[1]))
    assert torch.equal(out[[0, 2]], before[[0, 2]])


def binary_effects() -> torch.Tensor:
    e = zeros(2, 6)
    e[:, MAX, 2, 0] = torch.tensor([0.2, 0.4])  # mean 0.3
    e[:, MIN, 2, 1] = 0.1
    e[:, MIN, 4, 0] = 0.2
    e[:, MAX, 4, 1] = -0.1
    e[:, MIN, 5, 0] = 0.5
    e[:, MAX, 5, 1] = 0.4
    e[:, MAX, 5, 0] = 9.0  # would dominate if the class 1 entry were not flipped
    return e


def test_combine_binary_flips_dedups_and_ranks():
    e = binary_effects()
    list_c0 = [(2, MAX, 0.0), (4, MIN, 0.0)]
    list_c1 = [(2, MIN, 0.0), (5, MAX, 0.0)]  # k = 2 already in the class 0 list: dropped

    got = combine_binary(e, list_c0, list_c1)

    # (5, MAX) toward class 1 becomes (5, MIN) toward class 0:
    # scores: (5, MIN) 0.5 + 0.4, (2, MAX) 0.3 + 0.1, (4, MIN) 0.2 - 0.1.
    assert keys(got) == [(5, MIN), (2, MAX), (4, MIN)]
    assert [score for _, _, score in got] == pytest.approx([0.9, 0.4, 0.1])


def test_find_attributes_binary():
    e = zeros(4, 5)
    predicted = torch.tensor([0, 0, 1, 1])
    # Toward class 0, seen on the class 1 images 2..3: k = 0 up.
    e[2:, MAX, 0, 0] = 0.8
    e[2:, MAX, 0, 1] = -0.6
    # Toward class 1, seen on the class 0 images 0..1: k = 0 down (a duplicate of k = 0 once
    # flipped), and k = 3 up, which becomes (3, MIN) toward class 0.
    e[:2, MIN, 0, 1] = 0.7
    e[:2, MAX, 3, 1] = 0.5
    e[:2, MIN, 3, 0] = -0.2

    result = find_attributes(e, predicted, num_classes=2, max_image_effect=100.0)

    # Scores over all 4 images: (0, MAX) 0.4 + 0.35, (3, MIN) -0.1 + 0.25.
    assert keys(result.per_class[0]) == [(0, MAX), (3, MIN)]
    assert [s for _, _, s in result.per_class[0]] == pytest.approx([0.75, 0.15])
    # Class 1: same coordinates reversed, scored by their mean class 1 gain.
    assert keys(result.per_class[1]) == [(0, MIN), (3, MAX)]
    assert [s for _, _, s in result.per_class[1]] == pytest.approx([0.35, 0.25])
    assert result.num_unstable == 0

    short = find_attributes(e, predicted, num_classes=2, num_attributes=1, max_image_effect=100.0)
    assert keys(short.per_class[0]) == [(0, MAX)]
    assert keys(short.per_class[1]) == [(0, MIN)]


def test_find_attributes_multiclass_one_vs_rest():
    e = zeros(6, 5, num_classes=3)
    predicted = torch.tensor([0, 0, 1, 1, 2, 2])
    e[2:, MAX, 0, 0] = 1.0
    e[:2, MAX, 4, 0] = 9.0  # images already of class 0: ignored for class 0
    e[[0, 1, 4, 5], MIN, 2, 1] = 0.5
    e[:4, MAX, 3, 2] = 0.25
    e[:4, MIN, 1, 2] = 0.2

    result = find_attributes(e, predicted, num_classes=3, max_image_effect=100.0)

    assert sorted(result.per_class) == [0, 1, 2]
    assert keys(result.per_class[0]) == [(0, MAX)]
    assert keys(result.per_class[1]) == [(2, MIN)]
    assert keys(result.per_class[2]) == [(3, MAX), (1, MIN)]
    assert result.per_class[2][0][2] == pytest.approx(0.25)


def test_find_attributes_drops_unstable_images():
    e = zeros(3, 4)
    predicted = torch.tensor([1, 1, 1])
    e[0, MAX, 1, 0] = 0.5
    e[1, MIN, 2, 0] = 1.0
    e[1, :, 3, :] = 5.0  # 4 large entries make image 1 unstable with max_count 3

    result = find_attributes(
        e, predicted, num_classes=2, max_image_effect=100.0, unstable_max_count=3
    )

    assert result.unstable.tolist() == [False, True, False]
    assert result.num_unstable == 1
    assert keys(result.per_class[0]) == [(1, MAX)]


def test_find_attributes_checks_class_count():
    with pytest.raises(InvalidArgumentError, match="num_classes=3"):
        find_attributes(zeros(2, 4), torch.tensor([0, 1]), num_classes=3)
