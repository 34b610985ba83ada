import pytest
from PIL import Image

from stylex.data import DigitsDataset, FolderDataset, ShapesDataset, build_dataset
from stylex.errors import DataError


def test_dispatch(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    shapes = build_dataset("shapes", 16, num_images=5, rule="striped")
    assert isinstance(shapes, ShapesDataset) and len(shapes) == 5
    assert shapes.describe()["rule"] == "striped"
    assert len(build_dataset("shapes", 16)) == 10_000
    assert isinstance(build_dataset("digits", 16, rule="3_vs_8"), DigitsDataset)
    folder = build_dataset(str(tmp_path), 16)
    assert isinstance(folder, FolderDataset) and len(folder) == 1


def test_describe_rebuilds_the_same_data(tmp_path):
    d = build_dataset("shapes", 16, num_images=7, seed=3, rule="hue3").describe()
    again = build_dataset(
        d["spec"], d["resolution"], num_images=d["num_images"], seed=d["seed"], rule=d["rule"]
    )
    assert again.describe() == d


@pytest.mark.parametrize("resolution", [48, 4, 2048, 0, 32.0, True])
def test_bad_resolution(resolution):
    with pytest.raises(DataError, match="power of two"):
        build_dataset("shapes", resolution)


def test_unknown_name_lists_choices(tmp_path):
    with pytest.raises(DataError, match="shapes, shapes-free, digits") as info:
        build_dataset("mnist", 32)
    assert "'mnist'" in str(info.value)
    with pytest.raises(DataError, match="unknown data set"):
        build_dataset(str(tmp_path / "nope"), 32)


def test_folder_takes_no_rule(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    with pytest.raises(DataError, match="rule"):
        build_dataset(str(tmp_path), 16, rule="striped")


def test_recorded_descriptions_rebuild_their_pose():
    from stylex.data import spec_of_description

    for spec in ("shapes", "shapes-free"):
        info = build_dataset(spec, 16, num_images=3).describe()
        assert spec_of_description(info) == spec
        assert build_dataset(spec_of_description(info), 16, num_images=3).describe() == info
    # Written before the aligned pose existed: `shapes` then meant free pose.
    old = {k: v for k, v in build_dataset("shapes-free", 16, num_images=3).describe().items()
           if k != "pose"} | {"spec": "shapes"}  # fmt: skip
    assert spec_of_description(old) == "shapes-free"
