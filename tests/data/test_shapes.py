import json
import pickle

import numpy as np
import pytest
import torch

from stylex.data import FACTORS, SHAPES, ShapesDataset
from stylex.errors import DataError


@pytest.mark.parametrize("resolution", [16, 32, 64])
def test_images_are_rgb_in_range(resolution):
    ds = ShapesDataset(resolution, num_images=8)
    for i in range(len(ds)):
        x, label = ds[i]
        assert x.shape == (3, resolution, resolution)
        assert x.dtype == torch.float32
        assert -1.0 <= x.min() and x.max() <= 1.0
        assert label in (0, 1)


def test_same_seed_and_index_give_identical_images():
    a = ShapesDataset(32, num_images=10, seed=3)
    b = ShapesDataset(32, num_images=10, seed=3)
    for i in (0, 7):
        torch.testing.assert_close(a[i][0], b[i][0], rtol=0, atol=0)
        assert a.factors(i) == b.factors(i)
    # Image i does not depend on the data set size.
    assert ShapesDataset(32, num_images=100, seed=3).factors(7) == a.factors(7)


def test_different_seeds_and_indices_differ():
    a = ShapesDataset(32, num_images=10, seed=0)
    b = ShapesDataset(32, num_images=10, seed=1)
    assert not torch.equal(a[0][0], b[0][0])
    assert not torch.equal(a[0][0], a[1][0])


def test_image_is_background_plus_object():
    ds = ShapesDataset(32, num_images=4, seed=5)
    x, _ = ds[0]
    f = ds.factors(0)
    # Corners lie outside the object (it stays a margin away from the border).
    corners = x[:, [0, 0, -1, -1], [0, -1, 0, -1]]
    torch.testing.assert_close(corners, torch.full_like(corners, f["bg"] * 2 - 1))
    # The object covers its centre pixel, in a colour different from the background.
    cy, cx = int(f["pos_y"] * 32), int(f["pos_x"] * 32)
    assert (x[:, cy, cx] - (f["bg"] * 2 - 1)).abs().max() > 0.2


def test_factor_table_matches_factors():
    ds = ShapesDataset(16, num_images=50, seed=2)
    table = ds.factor_table()
    assert list(table) == list(FACTORS)
    assert all(column.shape == (50,) for column in table.values())
    for i in (0, 17, 49):
        assert {name: table[name][i].item() for name in FACTORS} == ds.factors(i)
    assert ds.factor_table() is table  # cached


def test_factor_ranges_keep_object_inside():
    table = ShapesDataset(16, num_images=2000).factor_table()
    assert set(np.unique(table["shape"])) == set(range(len(SHAPES)))
    assert set(np.unique(table["stripes"])) == {0, 1}
    for name in ("hue", "angle"):
        assert table[name].min() >= 0.0 and table[name].max() < 1.0
    reach = table["size"] / 2
    for axis in ("pos_x", "pos_y"):
        assert (table[axis] - reach > 0).all() and (table[axis] + reach < 1).all()


def test_labels_in_items_match_labels_column():
    ds = ShapesDataset(16, num_images=30, rule="shape")
    assert [ds[i][1] for i in range(30)] == ds.labels().tolist()
    assert ds.labels().tolist() == ds.factor_table()["shape"].tolist()


def test_negative_and_out_of_range_index():
    ds = ShapesDataset(16, num_images=5)
    assert ds.factors(-1) == ds.factors(4)
    with pytest.raises(IndexError):
        ds[5]


def test_describe_is_json_and_names_the_rule():
    ds = ShapesDataset(32, num_images=10, seed=4, rule="size > 0.5 and stripes == 1")
    d = json.loads(json.dumps(ds.describe()))
    assert d["kind"] == "shapes"
    assert (d["resolution"], d["num_images"], d["seed"]) == (32, 10, 4)
    assert d["rule"] == "size > 0.5 and stripes == 1"
    assert d["rule_factors"] == ["size", "stripes"]
    assert d["class_names"] == ["false", "true"]


def test_dataset_pickles_for_dataloader_workers():
    ds = ShapesDataset(16, num_images=10, rule="shape == 'circle' or hue < 0.2")
    clone = pickle.loads(pickle.dumps(ds))
    assert clone.labels().tolist() == ds.labels().tolist()
    assert torch.equal(clone[3][0], ds[3][0])


@pytest.mark.parametrize(
    "kwargs", [{"num_images": 0}, {"seed": -1}, {"rule": "hue_blue"}, {"rule": 3}]
)
def test_bad_arguments(kwargs):
    with pytest.raises(DataError):
        ShapesDataset(32, **kwargs)


def test_aligned_pose_is_the_free_pose_image_centred_and_upright():
    aligned = ShapesDataset(32, num_images=20, seed=4)
    free = ShapesDataset(32, num_images=20, seed=4, pose="free")
    assert aligned.pose == "aligned"
    for i in range(20):
        a, f = aligned.factors(i), free.factors(i)
        assert (a["pos_x"], a["pos_y"], a["angle"]) == (0.5, 0.5, 0.0)
        # Every other factor is the one the free-pose image with the same seed and index has.
        for name in ("shape", "hue", "size", "stripes", "bg"):
            assert a[name] == f[name]
    assert np.ptp(free.factor_table()["pos_x"]) > 0.1
    assert np.ptp(aligned.factor_table()["pos_x"]) == 0.0
    many = ShapesDataset(32, num_images=200, seed=4)
    factors = [many.factors(i) for i in range(200)]
    # Centred: a circle's pixels (the object colour's coverage) have their centroid at the
    # image centre, pixel (15.5, 15.5).
    i = next(i for i, f in enumerate(factors) if f["shape"] == 0)
    x = many[i][0]
    cover = (x - (factors[i]["bg"] * 2 - 1)).abs().amax(dim=0)  # [R,R]
    ys, xs = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    centroid = [float((cover * g).sum() / cover.sum()) for g in (ys, xs)]
    assert centroid == pytest.approx([15.5, 15.5], abs=0.35)
    # Upright (a vertex straight up): a plain triangle is mirror-symmetric about the vertical
    # axis, up to the rasteriser's rounding.
    i = next(i for i, f in enumerate(factors) if (f["shape"], f["stripes"]) == (2, 0))
    x = many[i][0]
    assert float((x - x.flip(-1)).abs().mean()) < 0.02


def test_pose_is_recorded_and_checked():
    assert ShapesDataset(16, num_images=2).describe()["spec"] == "shapes"
    info = ShapesDataset(16, num_images=2, pose="free").describe()
    assert (info["spec"], info["pose"]) == ("shapes-free", "free")
    with pytest.raises(DataError, match="pose 'tilted' is not valid; expected one of aligned, fr"):
        ShapesDataset(16, num_images=2, pose="tilted")
