"""Batch fixtures: the shipped 32 px model on the CPU and a folder of 12 shapes PNGs + 1 corrupt."""

from __future__ import annotations

from pathlib import Path

import pytest

from stylex.runtime.model_dir import shipped_model_dir

MODEL_DIR = shipped_model_dir()  # the shipped model
NUM_GOOD = 12


@pytest.fixture(scope="session")
def image_dir(tmp_path_factory) -> Path:
    """12 PNGs (every third in sub/) and corrupt.png, which Pillow cannot open."""
    from PIL import Image

    from stylex.data import build_dataset
    from stylex.data.images import to_uint8_image

    root = tmp_path_factory.mktemp("inputs")
    (root / "sub").mkdir()
    dataset = build_dataset("shapes", 32, num_images=NUM_GOOD, seed=3)
    for i in range(NUM_GOOD):
        folder = root / "sub" if i % 3 == 0 else root
        Image.fromarray(to_uint8_image(dataset[i][0])).save(folder / f"img{i:02d}.png")
    (root / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return root


@pytest.fixture(scope="session")
def engine():
    from stylex.runtime import OrtEngine

    return OrtEngine.load(MODEL_DIR, device="cpu")


def by_id(records: list[dict]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for r in records:
        assert r["id"] not in out, f"{r['id']} appears twice"
        out[r["id"]] = r
    return out


def assert_same_results(a: list[dict], b: list[dict]) -> None:
    """Same ids, statuses and ranked attributes; probabilities equal within 1e-4 (batch sizes
    may differ between runs, and with them the kernels)."""
    a_map, b_map = by_id(a), by_id(b)
    assert sorted(a_map) == sorted(b_map)
    for key, ra in a_map.items():
        rb = b_map[key]
        assert ra["status"] == rb["status"], key
        if ra["status"] != "ok":
            continue
        ea, eb = ra["explanation"], rb["explanation"]
        assert (ea["predicted"], ea["target"]) == (eb["predicted"], eb["target"]), key
        attrs = lambda e: [(t["layer"], t["channel"], t["index"], t["direction"])  # noqa: E731
                           for t in e["attributes"]]  # fmt: skip
        assert attrs(ea) == attrs(eb), key
        for ta, tb in zip(ea["attributes"], eb["attributes"], strict=True):
            assert ta["effect"] == pytest.approx(tb["effect"], abs=1e-4), key
        for name, p in ea["probs"].items():
            assert p == pytest.approx(eb["probs"][name], abs=1e-4), key
