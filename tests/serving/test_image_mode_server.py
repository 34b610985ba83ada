"""IMAGE mode and the joint counterfactual against the real server (stylex.v1 and OIP) and the
TorchServe service layer: the new fields, their defaults, their errors, batching."""

from __future__ import annotations

import base64
import io
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
import pytest
from PIL import Image

from stylex.data.decode import decode_image_bytes
from stylex.errors import InvalidArgumentError
from stylex.explain.single.explanation import explanation_to_dict
from stylex.serving.client import ExplainClient
from stylex.serving.grpc.gen.inference import grpc_predict_v2_pb2 as oip
from stylex.serving.grpc.gen.inference import grpc_predict_v2_pb2_grpc as oip_grpc
from stylex.serving.grpc.gen.stylex.v1 import explain_pb2 as pb
from stylex.serving.grpc.gen.stylex.v1 import explain_pb2_grpc as pb_grpc
from stylex.serving.oip import unpack_bytes as _unpack_bytes
from stylex.serving.torchserve.service import TorchServeExplainer

from .conftest import Gate


def _engine_answer(engine, image: bytes, **options):
    x = decode_image_bytes(image, engine.resolution)
    (exp,) = engine.explain_batch([x], engine.options(**options))
    return exp


def _same_as_engine(got: dict, exp) -> None:
    want = explanation_to_dict(exp)
    assert got["mode"] == want["mode"]
    assert [(a["index"], a["direction"]) for a in got["attributes"]] == [
        (a["index"], a["direction"]) for a in want["attributes"]
    ]
    for a, b in zip(got["attributes"], want["attributes"], strict=True):
        assert a["effect"] == pytest.approx(b["effect"], abs=1e-5)
    joint = got["joint"]
    assert joint["ranks"] == want["joint"]["ranks"] and joint["ranks"][0] == 1
    assert joint["effect"] == pytest.approx(want["joint"]["effect"], abs=1e-5)
    assert (joint["predicted"], joint["flips"]) == (
        want["joint"]["predicted"], want["joint"]["flips"],
    )  # fmt: skip
    np.testing.assert_allclose(
        list(joint["probs"].values()), list(want["joint"]["probs"].values()), atol=1e-5
    )


def test_grpc_image_mode_equals_the_engine(client, engine, images):
    for image in images[:3]:
        got = client.explain(image, top_k=3, mode="image", num_candidates=12)
        assert got["mode"] == "image"
        _same_as_engine(got, _engine_answer(engine, image, top_k=3, mode="image",
                                            num_candidates=12))  # fmt: skip
        with Image.open(io.BytesIO(got["joint"]["counterfactual"])) as im:
            assert im.format == "PNG" and im.size == (32, 32)


def test_grpc_default_is_the_models_catalog_mode(server, client, engine, images):
    """An old client sends neither mode nor num_candidates: CATALOG, as before."""
    channel = grpc.insecure_channel(server.address)
    with channel:
        stub = pb_grpc.ExplainServiceStub(channel)
        resp = stub.Explain(pb.ExplainRequest(image=images[0], top_k=2), timeout=30)
    assert resp.mode == pb.EXPLAIN_MODE_CATALOG
    assert resp.HasField("joint") and resp.joint.ranks[0] == 1
    want = _engine_answer(engine, images[0], top_k=2)
    assert [a.index for a in resp.attributes] == [cf.attribute.index for cf in want.counterfactuals]
    none = client.explain(images[0], top_k=2, image_format="none")
    assert none["mode"] == "catalog" and none["joint"]["counterfactual"] == b""


def test_model_info_says_the_defaults_and_the_cap(client, engine):
    info = client.model_info()
    assert info["default_mode"] == "EXPLAIN_MODE_CATALOG"
    assert int(info["default_num_candidates"]) == engine.default_candidates
    assert int(info["max_num_candidates"]) == engine.max_candidates


def test_grpc_bad_mode_values(server, client, images):
    cap = client.model_info()["max_num_candidates"]
    with pytest.raises(InvalidArgumentError, match=rf"num_candidates {int(cap) + 1} out of range"):
        client.explain(images[0], mode="image", num_candidates=int(cap) + 1)
    channel = grpc.insecure_channel(server.address)
    with channel:
        stub = pb_grpc.ExplainServiceStub(channel)
        with pytest.raises(grpc.RpcError) as info:
            stub.Explain(pb.ExplainRequest(image=images[0], mode=7), timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "mode 7 unknown" in info.value.details()
    with pytest.raises(InvalidArgumentError, match="mode 'pixels' unknown"):
        client.request(images[0], mode="pixels")  # refused before it is sent


def test_stream_mixes_modes_and_a_bad_item_fails_alone(client, engine, images):
    sent = [images[0], images[1], images[2]]
    got = list(client.explain_many(sent, top_k=2, mode="image", num_candidates=8))
    assert [r["mode"] for r in got] == ["image"] * 3
    for r, image in zip(got, sent, strict=True):
        _same_as_engine(r, _engine_answer(engine, image, top_k=2, mode="image", num_candidates=8))
    bad = list(client.explain_many([images[0], images[1]], mode="image", num_candidates=10**6))
    assert all(r["error"]["code"] == "INVALID_ARGUMENT" for r in bad)


def test_concurrent_image_mode_requests_share_batches(make_server, engine, images):
    """8 clients, IMAGE and CATALOG mode alternating, while the engine holds the first batch:
    everything queued behind it goes in one batch of both modes, each answer its own."""
    server = make_server(max_batch_size=8, max_delay_ms=5.0, max_queue=64)
    gate = Gate(server)
    barrier = threading.Barrier(8)

    def mode(i: int) -> str:
        return "image" if i % 2 == 0 else "catalog"

    def run(i: int) -> dict:
        with ExplainClient(server.address, timeout=60) as c:
            barrier.wait()
            return c.explain(images[i % 3], top_k=2, mode=mode(i), num_candidates=8)

    with ThreadPoolExecutor(8) as pool:
        answers = [pool.submit(run, i) for i in range(8)]
        results = gate.release_after_queueing(server, answers)
    first, *rest = [len(b) for b in gate.batches]
    assert rest == ([8 - first] if first < 8 else []), gate.batches
    if 8 - first > 4:  # more queued than either mode has: the batch holds both
        assert {item[1].mode for item in gate.batches[1]} == {"image", "catalog"}
    for i, got in enumerate(results):
        _same_as_engine(got, _engine_answer(engine, images[i % 3], top_k=2, mode=mode(i),
                                            num_candidates=8))  # fmt: skip


def _oip_outputs(resp) -> dict:
    return {o.name: (o, raw) for o, raw in zip(resp.outputs, resp.raw_output_contents, strict=True)}


def test_oip_mode_parameter(server, engine, images):
    with grpc.insecure_channel(server.address) as channel:
        stub = oip_grpc.GRPCInferenceServiceStub(channel)
        req = oip.ModelInferRequest(model_name="shapes32", id="m1")
        req.inputs.add(name="image", datatype="BYTES", shape=[2])
        req.inputs[0].contents.bytes_contents.extend(images[:2])
        req.parameters["top_k"].int64_param = 2
        req.parameters["mode"].string_param = "image"
        req.parameters["num_candidates"].int64_param = 12
        out = _oip_outputs(stub.ModelInfer(req))
        docs = [json.loads(d) for d in _unpack_bytes(out["explanation"][1])]
        for doc, image in zip(docs, images[:2], strict=True):
            assert doc["mode"] == "image"
            exp = _engine_answer(engine, image, top_k=2, mode="image", num_candidates=12)
            _same_as_engine(doc, exp)
        joints = _unpack_bytes(out["joint_counterfactual"][1])
        assert list(out["joint_counterfactual"][0].shape) == [2]
        assert len(joints) == 2 and all(j[:4] == b"\x89PNG" for j in joints)

        bad = oip.ModelInferRequest(model_name="shapes32")
        bad.inputs.add(name="image", datatype="BYTES", shape=[1])
        bad.inputs[0].contents.bytes_contents.append(images[0])
        bad.parameters["num_candidates"].string_param = "many"
        with pytest.raises(grpc.RpcError) as info:
            stub.ModelInfer(bad)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "parameter num_candidates 'many' is not an integer" in info.value.details()
        bad.parameters.pop("num_candidates")
        bad.parameters["mode"].string_param = "pixels"
        with pytest.raises(grpc.RpcError) as info:
            stub.ModelInfer(bad)
        assert "mode 'pixels' unknown" in info.value.details()


def test_torchserve_json_mode_fields(engine, images):
    explainer = TorchServeExplainer(engine)
    requests = [
        {"body": {"image": base64.b64encode(images[0]).decode(), "top_k": 2, "mode": "image",
                  "num_candidates": 12}},
        {"body": {"image": base64.b64encode(images[1]).decode(), "top_k": 2}},
        {"data": images[2], "mode": b"image", "num_candidates": b"8", "top_k": b"2"},
        {"body": {"image": base64.b64encode(images[0]).decode(), "mode": "pixels"}},
    ]  # fmt: skip
    answers = explainer.encode(explainer.explain(explainer.decode(requests)))
    assert [status for status, _ in answers] == [200, 200, 200, 400]
    bodies = [json.loads(body) for _, body in answers]
    assert [b.get("mode") for b in bodies[:3]] == ["image", "catalog", "image"]
    _same_as_engine(bodies[0], _engine_answer(engine, images[0], top_k=2, mode="image",
                                              num_candidates=12))  # fmt: skip
    _same_as_engine(bodies[2], _engine_answer(engine, images[2], top_k=2, mode="image",
                                              num_candidates=8))  # fmt: skip
    joint_png = base64.b64decode(bodies[0]["joint"]["counterfactual_png"])
    assert joint_png[:4] == b"\x89PNG"
    assert bodies[3]["type"] == "INVALID_ARGUMENT" and "mode 'pixels' unknown" in bodies[3]["error"]


def test_expired_deadline_in_image_mode(server, client, images):
    before = server.metric("stylex_batch_size_sum")
    channel = grpc.insecure_channel(server.address)
    with channel:
        stub = pb_grpc.ExplainServiceStub(channel)
        req = pb.ExplainRequest(image=images[0], mode=pb.EXPLAIN_MODE_IMAGE)
        with pytest.raises(grpc.RpcError) as info:
            stub.Explain(req, timeout=1e-4)
    assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert client.explain(images[0], top_k=1, mode="image")["mode"] == "image"  # still serving
    assert server.metric("stylex_batch_size_sum") - before == 1  # the expired one never ran


def test_cli_explain_on_the_server_in_image_mode(server, engine, images, tmp_path, capsys):
    from stylex.cli import main

    path = tmp_path / "square.png"
    path.write_bytes(images[0])
    out = tmp_path / "out"
    argv = ["explain", str(path), "--server", server.address, "--out", str(out), "--top-k", "2",
            "--mode", "image", "--num-candidates", "12"]  # fmt: skip
    assert main(argv) == 0
    (result,) = json.loads(capsys.readouterr().out)
    written = json.loads((out / "square" / "explanation.json").read_text())
    assert written["mode"] == result["mode"] == "image"
    _same_as_engine(written, _engine_answer(engine, images[0], top_k=2, mode="image",
                                            num_candidates=12))  # fmt: skip
    with Image.open(out / "square" / "joint.png") as im:
        assert im.size == (32, 32)
    assert main([*argv[:-4], "--mode", "image", "--num-candidates", "100000"]) != 0
    assert "num_candidates 100000 out of range" in capsys.readouterr().err


def test_server_defaults_override_the_models(images):
    """`stylex serve --default-mode image --num-candidates 6 --max-candidates 12`."""
    from stylex.errors import ConfigError
    from stylex.serving.config import ServeConfig

    from .conftest import ServerThread

    server = ServerThread(None, default_mode="image", num_candidates=6, max_candidates=12)
    try:
        with ExplainClient(server.address, timeout=60) as c:
            info = c.model_info()
            assert info["default_mode"] == "EXPLAIN_MODE_IMAGE"
            assert (int(info["default_num_candidates"]), int(info["max_num_candidates"])) == (6, 12)
            assert c.explain(images[0], top_k=2)["mode"] == "image"  # the request did not say
            assert c.explain(images[0], top_k=2, mode="catalog")["mode"] == "catalog"
            with pytest.raises(
                InvalidArgumentError, match=r"num_candidates 13 out of range \[1, 12\]"
            ):
                c.explain(images[0], mode="image", num_candidates=13)
    finally:
        server.stop()
    with pytest.raises(ConfigError, match="default_mode: mode 'pixels' unknown"):
        ServeConfig(default_mode="pixels")
    env = {"STYLEX_NUM_CANDIDATES": "9", "STYLEX_DEFAULT_MODE": "image"}
    assert ServeConfig.from_env(env).explain_defaults == {"mode": "image", "num_candidates": 9}
