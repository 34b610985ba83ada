import io
import json
import re

import numpy as np
import pytest
import torch
from PIL import Image

from stylex.data import FolderDataset
from stylex.errors import DataError


def _write(path, size, colour, fmt):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path, format=fmt)


def _png_bytes(size=(20, 12)):
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def class_folder(tmp_path):
    root = tmp_path / "pets"
    _write(root / "cat" / "a.png", (40, 30), (255, 0, 0), "PNG")
    _write(root / "cat" / "b.jpg", (17, 50), (255, 0, 0), "JPEG")
    _write(root / "cat" / "nested" / "c.JPEG", (64, 64), (255, 0, 0), "JPEG")
    _write(root / "dog" / "d.png", (8, 9), (0, 0, 255), "PNG")
    _write(root / "dog" / "e.bmp", (300, 100), (0, 0, 255), "BMP")
    (root / "dog" / "x.png").write_bytes(np.random.default_rng(1).bytes(500))
    (root / "dog" / "truncated.png").write_bytes(_png_bytes()[:-20])
    (root / "dog" / "notes.txt").write_text("not an image")
    (root / ".hidden").mkdir()
    return root


def test_class_folders(class_folder):
    with pytest.warns(UserWarning, match="skipped 2 unreadable") as record:
        ds = FolderDataset(class_folder, 16)
    message = str(record[0].message)
    assert "x.png" in message and "truncated.png" in message
    assert sorted(p.name for p, _ in ds.skipped) == ["truncated.png", "x.png"]
    assert ds.class_names == ["cat", "dog"]
    assert [p.name for p in ds.files] == ["a.png", "b.jpg", "c.JPEG", "d.png", "e.bmp"]
    assert ds.labels().tolist() == [0, 0, 0, 1, 1]
    for i in range(len(ds)):
        x, label = ds[i]
        assert x.shape == (3, 16, 16) and x.dtype == torch.float32
        # Solid red for cats, solid blue for dogs; JPEG drifts a little.
        expected = torch.tensor([1.0, -1.0, -1.0] if label == 0 else [-1.0, -1.0, 1.0])
        torch.testing.assert_close(x.mean(dim=(1, 2)), expected, atol=0.05, rtol=0)


def test_describe_is_json(class_folder):
    with pytest.warns(UserWarning):
        d = json.loads(json.dumps(FolderDataset(class_folder, 16).describe()))
    assert d["kind"] == "folder" and d["root"] == str(class_folder)
    assert (d["num_images"], d["num_skipped"]) == (5, 2)
    assert d["class_names"] == ["cat", "dog"]


def test_num_images_keeps_every_class(class_folder):
    with pytest.warns(UserWarning):
        ds = FolderDataset(class_folder, 16, num_images=2)
    # Readable files are a, b, c (cat) and d, e (dog); the cap keeps the first and the last.
    assert [p.name for p in ds.files] == ["a.png", "e.bmp"]
    assert ds.labels().tolist() == [0, 1]


def test_flat_folder(tmp_path):
    _write(tmp_path / "b.png", (30, 10), (0, 255, 0), "PNG")
    _write(tmp_path / "a.webp", (10, 30), (0, 255, 0), "WEBP")
    ds = FolderDataset(tmp_path, 8)
    assert ds.class_names == ["unlabeled"]
    assert [p.name for p in ds.files] == ["a.webp", "b.png"]
    assert ds.labels().tolist() == [0, 0]
    assert ds[1][0].shape == (3, 8, 8)


def test_empty_folder(tmp_path):
    with pytest.raises(DataError, match="no readable images") as info:
        FolderDataset(tmp_path, 16)
    assert str(tmp_path) in str(info.value)


def test_folder_of_unreadable_files(tmp_path):
    (tmp_path / "x.png").write_bytes(b"garbage")
    folder_named = pytest.raises(DataError, match=re.escape(str(tmp_path)))
    with pytest.warns(UserWarning, match=r"x\.png"), folder_named:
        FolderDataset(tmp_path, 16)


def test_empty_class_folder(tmp_path):
    _write(tmp_path / "cat" / "a.png", (8, 8), (0, 0, 0), "PNG")
    (tmp_path / "dog").mkdir()
    with pytest.raises(DataError, match="dog"):
        FolderDataset(tmp_path, 16)


def test_missing_path(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        FolderDataset(tmp_path / "nope", 16)


def test_file_that_breaks_after_the_scan(tmp_path):
    _write(tmp_path / "a.png", (8, 8), (0, 0, 0), "PNG")
    ds = FolderDataset(tmp_path, 8)
    (tmp_path / "a.png").write_bytes(b"broken")
    with pytest.raises(DataError, match=r"a\.png"):
        ds[0]


def test_loose_files_beside_class_folders_are_ignored(tmp_path):
    _write(tmp_path / "cat" / "a.png", (8, 8), (0, 0, 0), "PNG")
    _write(tmp_path / "stray.png", (8, 8), (0, 0, 0), "PNG")
    with pytest.warns(UserWarning, match=r"stray\.png"):
        ds = FolderDataset(tmp_path, 8)
    assert [p.name for p in ds.files] == ["a.png"]
