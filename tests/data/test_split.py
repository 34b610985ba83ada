import json

import numpy as np
import pytest
import torch

from stylex.data import DigitsDataset, ShapesDataset, split_dataset
from stylex.errors import DataError


def test_split_is_stratified_disjoint_and_seeded():
    ds = DigitsDataset(8)  # 178 zeros, 182 ones
    train, val = split_dataset(ds, val_fraction=0.25, seed=1)
    assert np.bincount(val.labels()).tolist() == [44, 46]  # round(178 / 4), round(182 / 4)
    assert len(train) + len(val) == len(ds)
    assert not set(train.indices) & set(val.indices)
    again, _ = split_dataset(ds, val_fraction=0.25, seed=1)
    np.testing.assert_array_equal(again.indices, train.indices)
    other, _ = split_dataset(ds, val_fraction=0.25, seed=2)
    assert not np.array_equal(other.indices, train.indices)


def test_subset_items_and_metadata_come_from_parent():
    ds = ShapesDataset(16, num_images=20, rule="shape")
    train, val = split_dataset(ds, val_fraction=0.3)
    assert (train.resolution, train.class_names) == (16, ds.class_names)
    x, label = val[0]
    parent_x, parent_label = ds[int(val.indices[0])]
    assert torch.equal(x, parent_x) and label == parent_label
    d = json.loads(json.dumps(val.describe()))
    assert (d["kind"], d["num_images"], d["rule"]) == ("shapes", 20, "shape")
    assert (d["split"], d["split_num_images"], d["val_fraction"]) == ("val", len(val), 0.3)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, "0.2"])
def test_bad_fraction(fraction):
    with pytest.raises(DataError, match="val_fraction"):
        split_dataset(ShapesDataset(16, num_images=10), val_fraction=fraction)


def test_tiny_data_keeps_both_sides_non_empty():
    train, val = split_dataset(ShapesDataset(16, num_images=2), val_fraction=0.1)
    assert (len(train), len(val)) == (1, 1)
