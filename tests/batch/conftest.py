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


def assert_records_equal_engine(
    records: list[dict], engine, *, top_k: int = 5, target=None, shift: float = 1.0, **options
) -> int:
    """Every ok record equals `engine.explain` on that image (with the job's options: `options`
    carries mode and num_candidates), decoded from its file the way a caller would; returns how
    many records were compared. Within 1e-4: the job's batch size
    differs from the single image here, and with it the kernels."""
    from stylex.data.decode import decode_image_bytes
    from stylex.explain.vocabulary.attributes import direction_name

    compared = 0
    for r in records:
        if r["status"] != "ok":
            continue
        x = decode_image_bytes(Path(r["path"]).read_bytes(), engine.resolution)
        (exp,) = engine.explain(x[None], top_k=top_k, target=target, shift=shift, **options)
        got, names = r["explanation"], exp.class_names
        assert (got["predicted"], got["target"]) == (names[exp.predicted], names[exp.target])
        assert list(got["probs"].values()) == pytest.approx(exp.probs.tolist(), abs=1e-4)
        assert [(a["index"], a["direction"]) for a in got["attributes"]] == [
            (cf.attribute.index, direction_name(cf.attribute.direction))
            for cf in exp.counterfactuals
        ], r["id"]
        for a, cf in zip(got["attributes"], exp.counterfactuals, strict=True):
            assert a["effect"] == pytest.approx(float(cf.effect), abs=1e-4), r["id"]
            assert list(a["probs"].values()) == pytest.approx(cf.probs.tolist(), abs=1e-4)
        compared += 1
    return compared
