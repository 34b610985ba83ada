"""list_inputs: folders, globs and manifests -> sorted items with stable ids."""

from __future__ import annotations

import json

import pytest

from stylex.batch import list_inputs, safe_name
from stylex.errors import DataError
from tests.batch.conftest import NUM_GOOD


def test_folder_is_recursive_sorted_and_skips_hidden(image_dir, tmp_path):
    items = list_inputs(image_dir)
    ids = [i.id for i in items]
    assert ids == sorted(ids)
    assert len(items) == NUM_GOOD + 1
    assert "sub/img00.png" in ids and "corrupt.png" in ids
    assert all(i.path == image_dir / i.id for i in items)
    # Hidden files (atomic-write temporaries) and non-images are not inputs.
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "a.png").write_bytes(b"")
    (folder / ".a.png.123.tmp.png").write_bytes(b"")
    (folder / "notes.txt").write_text("x")
    assert [i.id for i in list_inputs(folder)] == ["a.png"]


def test_glob(image_dir):
    items = list_inputs(str(image_dir / "**" / "img0*.png"))
    assert [i.id for i in items] == sorted(
        ["img01.png", "img02.png", "img04.png", "img05.png", "img07.png", "img08.png",
         "sub/img00.png", "sub/img03.png", "sub/img06.png", "sub/img09.png"]
    )  # fmt: skip
    assert all(i.path.is_file() for i in items)


def test_txt_manifest_relative_to_its_folder(image_dir, tmp_path):
    manifest = image_dir / "list.txt"
    manifest.write_text("# comment\nimg02.png\n\nsub/img03.png\nmissing.png\nimg02.png\n")
    try:
        items = list_inputs(manifest)
    finally:
        manifest.unlink()
    assert [i.id for i in items] == ["img02.png", "missing.png", "sub/img03.png"]
    assert items[0].path == image_dir / "img02.png"
    # A missing file stays an item: it becomes an "error" line, not a failed job.
    assert not items[1].path.exists()


def test_jsonl_manifest(image_dir, tmp_path):
    manifest = tmp_path / "list.jsonl"
    lines = [{"path": str(image_dir / "img01.png")}, {"path": str(image_dir / "img04.png"),
             "id": "four"}]  # fmt: skip
    manifest.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    items = list_inputs(manifest)
    assert [i.id for i in items] == sorted(["four", (image_dir / "img01.png").as_posix()])
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"path": "a.png"}\n{"file": "b.png"}\n')
    with pytest.raises(DataError, match="line 2"):
        list_inputs(bad)


def test_bad_inputs(tmp_path):
    with pytest.raises(DataError, match="not found"):
        list_inputs(tmp_path / "nope")
    with pytest.raises(DataError, match="no images"):
        list_inputs(str(tmp_path / "*.png"))
    clash = tmp_path / "clash.jsonl"
    clash.write_text('{"path": "a.png", "id": "x"}\n{"path": "b.png", "id": "x"}\n')
    with pytest.raises(DataError, match="two files"):
        list_inputs(clash)


def test_safe_name_is_unique_and_flat():
    assert "/" not in safe_name("a/b.png")
    assert safe_name("a/b.png") != safe_name("a_b.png")
