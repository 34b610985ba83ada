"""The shipped model answers fixed inputs as `golden.json` says, through ONNX Runtime, through
stylex's torch interpreter of the same graphs, and through a real gRPC server on loopback: a
silent change in any of decoding, encoding, the graphs, the catalog, the screen, the ranking or
the wire shows here. (`python -m tests.runtime.golden` rewrites the file; see its docstring.)"""

from __future__ import annotations

import json
from typing import Any

import pytest

from stylex.runtime import OrtEngine
from stylex.runtime.model_dir import shipped_model_dir
from tests.runtime.golden import (
    GOLDEN,
    REQUESTS,
    InterpretedEngine,
    explain_summaries,
    input_pngs,
    input_tensors,
    model_digest,
    summary,
)


@pytest.fixture(scope="module")
def golden() -> dict[str, Any]:
    doc = json.loads(GOLDEN.read_text())
    assert doc["model"]["manifest_sha256"] == model_digest(), (
        f"{GOLDEN.name} was written for other model bytes than {shipped_model_dir()}: if the "
        "shipped model changed on purpose, run `python -m tests.runtime.golden` and review the diff"
    )
    assert doc["requests"] == REQUESTS
    return doc["results"]


def assert_matches(got: dict[str, Any], want: dict[str, Any], tol: float, where: str) -> None:
    """Same decision, mode and joint ranks; probabilities and effects within `tol`; the same
    edit at every rank whose effect stands apart from the others' by more than 2 * tol (edits
    with tied effects, ~0 for most, may trade places between executors)."""
    for key in ("mode", "predicted", "target"):
        assert got[key] == want[key], f"{where}: {key}"
    for key in ("probs", "probs_reconstruction"):
        assert got[key] == pytest.approx(want[key], abs=tol), f"{where}: {key}"
    assert len(got["attributes"]) == len(want["attributes"]), where
    effects = [a["effect"] for a in want["attributes"]]
    for rank, (a, b) in enumerate(zip(got["attributes"], want["attributes"], strict=True)):
        assert a["effect"] == pytest.approx(b["effect"], abs=tol), f"{where}: rank {rank + 1}"
        if all(abs(b["effect"] - e) > 2 * tol for j, e in enumerate(effects) if j != rank):
            edit = lambda t: (t["layer"], t["channel"], t["index"], t["direction"])  # noqa: E731
            assert edit(a) == edit(b), f"{where}: rank {rank + 1}"
            assert a["probs"] == pytest.approx(b["probs"], abs=tol), f"{where}: rank {rank + 1}"
    j, k = got["joint"], want["joint"]
    assert (j["ranks"], j["flips"]) == (k["ranks"], k["flips"]), f"{where}: joint"
    assert j["probs"] == pytest.approx(k["probs"], abs=tol), f"{where}: joint"


def assert_all_match(results: dict[str, list[dict]], golden: dict, tol: float, path: str) -> None:
    assert sorted(results) == sorted(golden)
    for kind, wanted in golden.items():
        assert len(results[kind]) == len(wanted)
        for i, (got, want) in enumerate(zip(results[kind], wanted, strict=True)):
            assert_matches(got, want, tol, f"{path}, {kind} request, image {i}")


def test_the_golden_inputs_hold_both_classes(golden):
    assert {r["predicted"] for r in golden["catalog"]} == {"dark_bg", "light_bg"}


def test_onnx_runtime_gives_the_golden_answers(golden):
    engine = OrtEngine.load(shipped_model_dir(), device="cpu", intra_op_threads=1)
    results = explain_summaries(engine, input_tensors(engine.resolution))
    assert_all_match(results, golden, 1e-4, "ONNX Runtime")


def test_the_torch_interpreter_gives_the_golden_answers(golden):
    engine = InterpretedEngine(shipped_model_dir())
    results = explain_summaries(engine, input_tensors(engine.resolution))
    assert_all_match(results, golden, 1e-3, "torch interpreter")


def test_the_grpc_server_gives_the_golden_answers(golden):
    from stylex.serving.client import ExplainClient
    from tests.serving.conftest import ServerThread

    server = ServerThread(None, max_batch_size=4, max_delay_ms=2.0)  # it loads the model itself
    try:
        with ExplainClient(server.address, timeout=60) as client:
            results = {
                kind: [summary(client.explain(png, **request)) for png in input_pngs()]
                for kind, request in REQUESTS.items()
            }
    finally:
        server.stop()
    assert_all_match(results, golden, 1e-4, "gRPC server")
