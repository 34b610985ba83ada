"""One layout of an explanation: the gRPC response, the client's dict, the OIP JSON, the
TorchServe JSON and the files all carry `explanation_to_dict`."""

from __future__ import annotations

import base64
import json
import threading

import pytest

from stylex.data.decode import decode_image_bytes
from stylex.explain.single import explanation as explanation_module
from stylex.explain.single.explanation import explanation_to_dict, without_images
from stylex.serving.grpc import codec, oip_codec
from stylex.serving.grpc.gen.inference import grpc_predict_v2_pb2 as oip
from stylex.serving.service import ModelInfo, Rendering
from stylex.serving.torchserve.service import explanation_response
from tests.conftest import catalog_attributes


@pytest.fixture(scope="module")
def explanation(engine, images):
    (exp,) = engine.explain(decode_image_bytes(images[0], engine.resolution)[None], top_k=3)
    return exp


def _approx(a, b):
    """Equal up to the wire's float32."""
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _approx(a[k], b[k])
    elif isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _approx(x, y)
    elif isinstance(a, float):
        assert a == pytest.approx(b, abs=1e-6)
    else:
        assert a == b


def test_grpc_response_reads_back_as_the_layout(explanation):
    d = explanation_to_dict(explanation, request_id="r1", image_format="png", reconstruction=True)
    resp = codec.to_grpc(explanation, "r1", Rendering("png", reconstruction=True))
    _approx(codec.response_to_dict(resp), d)
    assert d["reconstruction"][:8] == b"\x89PNG\r\n\x1a\n"
    assert all(a["counterfactual"][:8] == b"\x89PNG\r\n\x1a\n" for a in d["attributes"])
    none = codec.response_to_dict(codec.to_grpc(explanation, "", Rendering("none")))
    assert none["reconstruction"] == b"" and all(
        a["counterfactual"] == b"" for a in none["attributes"]
    )


def test_json_documents_are_the_layout_without_images(explanation):
    d = explanation_to_dict(explanation, image_format="png", reconstruction=True)
    ts = explanation_response(explanation)
    assert base64.b64decode(ts.pop("reconstruction_png")) == d["reconstruction"]
    for a, ref in zip(ts["attributes"], d["attributes"], strict=True):
        assert base64.b64decode(a.pop("counterfactual_png")) == ref["counterfactual"]
    joint_png = base64.b64decode(ts["joint"].pop("counterfactual_png"))
    assert joint_png == d["joint"]["counterfactual"] and joint_png[:4] == b"\x89PNG"
    assert ts.pop("image_format") == "png"
    assert ts == without_images(d) == explanation_to_dict(explanation)
    json.dumps(ts)  # plain JSON


def test_oip_explanation_output_is_the_layout(explanation):
    req = oip.ModelInferRequest(id="req-7")
    info = ModelInfo(name="m", version="1", resolution=32, class_names=explanation.class_names,
                     catalog={}, stylex_version="0", providers=["CPUExecutionProvider"],
                     max_top_k=64, default_mode="catalog", default_num_candidates=32,
                     max_num_candidates=256)  # fmt: skip
    resp = oip_codec.response(req, info, [explanation])
    assert (resp.model_name, resp.model_version, resp.id) == ("m", "1", "req-7")
    (raw,) = [
        raw
        for out, raw in zip(resp.outputs, resp.raw_output_contents, strict=True)
        if out.name == "explanation"
    ]
    doc = json.loads(raw[4:])
    assert doc == explanation_to_dict(explanation, request_id="req-7")


def test_images_are_encoded_beside_the_batch_thread(client, images, monkeypatch):
    threads: list[str] = []
    real = explanation_module.encode_image

    def encode_image(x, image_format="png"):
        threads.append(threading.current_thread().name)
        return real(x, image_format)

    monkeypatch.setattr(explanation_module, "encode_image", encode_image)
    got = client.explain(images[0], top_k=2, return_reconstruction=True)
    assert len(got["attributes"]) == catalog_attributes(2)
    # the reconstruction, one per counterfactual and the joint one
    assert len(threads) == 2 + len(got["attributes"])
    assert not any(name.startswith("explain-batch") for name in threads), threads


def test_the_protocol_document_states_the_oip_outputs_of_the_code():
    """protos/README.md's OIP table lists exactly `serving.oip.OUTPUTS`: names, types, shapes."""
    from pathlib import Path

    readme = Path(__file__).parents[2] / "protos" / "README.md"
    rows = [
        [cell.strip().strip("`") for cell in line.strip().strip("|").split("|")]
        for line in readme.read_text().splitlines()
        if line.startswith("| output")
    ]
    documented = [(name, dtype, shape) for _, name, dtype, shape, _ in rows]
    assert documented == [
        (o.name, o.datatype, f"[{', '.join(o.shape)}]") for o in oip_codec.OUTPUTS
    ]
