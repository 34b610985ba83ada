import json

import numpy as np
import pytest
import torch

from stylex.data import DigitsDataset
from stylex.errors import DataError


def test_default_rule_keeps_zeros_and_ones():
    ds = DigitsDataset(16)
    assert ds.class_names == ["0", "1"]
    assert len(ds) == 360  # 178 zeros and 182 ones in scikit-learn's set
    assert np.bincount(ds.labels()).tolist() == [178, 182]


def test_pair_rule_labels_in_the_order_written():
    ds = DigitsDataset(16, rule="8_vs_3")
    assert ds.class_names == ["8", "3"]
    assert np.bincount(ds.labels()).tolist() == [174, 183]  # 174 eights, 183 threes


def test_all_rule():
    ds = DigitsDataset(8, rule="all")
    assert len(ds) == 1797
    assert ds.class_names == [str(d) for d in range(10)]
    assert sorted(set(ds.labels().tolist())) == list(range(10))


@pytest.mark.parametrize("resolution", [8, 32])
def test_items_are_grey_rgb_in_range(resolution):
    ds = DigitsDataset(resolution, rule="all")
    x, label = ds[5]
    assert x.shape == (3, resolution, resolution) and x.dtype == torch.float32
    assert torch.equal(x[0], x[1]) and torch.equal(x[1], x[2])
    assert x.min() >= -1.0 and x.max() <= 1.0
    assert x.min() == -1.0  # black background
    assert x.max() > 0.0  # bright strokes
    assert label == 5  # the sixth scan is a 5


def test_resolution_8_is_the_scan_itself():
    ds = DigitsDataset(8, rule="all")
    x, _ = ds[0]
    from sklearn.datasets import load_digits

    expected = torch.from_numpy(load_digits().images[0] / 16.0 * 2 - 1).float()
    torch.testing.assert_close(x[0], expected)


def test_num_images_picks_a_seeded_subset():
    a = DigitsDataset(8, num_images=50, seed=1)
    b = DigitsDataset(8, num_images=50, seed=1)
    c = DigitsDataset(8, num_images=50, seed=2)
    assert len(a) == 50
    np.testing.assert_array_equal(a.indices, b.indices)
    assert not np.array_equal(a.indices, c.indices)
    assert (np.diff(a.indices) > 0).all()
    assert len(DigitsDataset(8, num_images=10_000)) == 360  # a cap, not a target


def test_describe_is_json():
    d = json.loads(json.dumps(DigitsDataset(16, num_images=20, rule="3_vs_8").describe()))
    assert d["kind"] == "digits"
    assert (d["resolution"], d["num_images"], d["rule"]) == (16, 20, "3_vs_8")
    assert d["class_names"] == ["3", "8"]


@pytest.mark.parametrize("rule", ["3_vs_3", "3_vs_10", "three_vs_eight", "hue_red", ""])
def test_bad_rule(rule):
    with pytest.raises(DataError, match="digits rule"):
        DigitsDataset(16, rule=rule)
