"""The HTTP transport on the real server (loopback): OIP v2 REST with tritonclient.http and
plain requests, the stylex JSON endpoint against gRPC's Explain, and the error statuses."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
from PIL import Image

from stylex.serving.client import ExplainClient
from stylex.serving.oip import OUTPUTS

from .conftest import MODEL_DIR, Gate, png_bytes, wait_until

MODEL = "shapes32"


@pytest.fixture(scope="module")
def http_server(make_server):
    return make_server(http_port=0, max_batch_size=8, max_delay_ms=5.0, max_queue=256)


def url(server, path: str) -> str:
    return f"http://127.0.0.1:{server.server.http_port}{path}"


def call(server, path: str, body: bytes | None = None, headers: dict[str, str] | None = None):
    """(status, headers, body) of one request; an HTTP error status is an answer too."""
    req = urllib.request.Request(url(server, path), data=body, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def call_json(server, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None and not isinstance(body, bytes) else body
    status, _, out = call(server, path, data, **kw)
    return status, json.loads(out)


def multipart(fields: dict[str, str], image: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="x.png"\r\n'
        "Content-Type: image/png\r\n\r\n".encode()
        + image
        + b"\r\n"
    )
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def data_url_bytes(value: str) -> bytes:
    head, _, data = value.partition(",")
    assert head == "data:image/png;base64"
    return base64.b64decode(data)


# --- health and metadata --------------------------------------------------------------------
def test_health_and_metadata(http_server):
    assert call_json(http_server, "/v2/health/live") == (200, {"live": True})
    assert call_json(http_server, "/v2/health/ready") == (200, {"ready": True})
    status, meta = call_json(http_server, "/v2")
    assert status == 200 and meta["name"] == "stylex" and "binary_tensor_data" in meta["extensions"]
    for path in (f"/v2/models/{MODEL}", f"/v2/models/{MODEL}/versions/{MODEL_DIR.name}"):
        status, model = call_json(http_server, path)
        assert status == 200
        assert model["versions"] == [MODEL_DIR.name]
        assert [(o["name"], o["datatype"]) for o in model["outputs"]] == [
            (o.name, o.datatype) for o in OUTPUTS
        ]
        assert call_json(http_server, path + "/ready") == (200, {"name": MODEL, "ready": True})
    status, err = call_json(http_server, "/v2/models/other")
    assert status == 400 and err == {
        "error": f"unknown model 'other'; this server serves {MODEL!r}",
        "code": "INVALID_ARGUMENT",
    }
    status, err = call_json(http_server, f"/v2/models/{MODEL}/versions/99/ready")
    assert status == 400 and "unknown version '99'" in err["error"]


# --- OIP inference ----------------------------------------------------------------------------
TRITON_HTTP = r"""
import json, sys
from pathlib import Path

import numpy as np
import tritonclient.http as triton

address, image_path, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
client = triton.InferenceServerClient(url=address)
image = triton.InferInput("image", [2], "BYTES")
image.set_data_from_numpy(np.array([image_path.read_bytes()] * 2, dtype=np.object_))
outputs = [triton.InferRequestedOutput(name, binary_data=name != "predicted")
           for name in ("probabilities", "predicted", "counterfactuals", "explanation")]
result = client.infer("shapes32", [image], outputs=outputs, parameters={"top_k": 3})
for i, png in enumerate(result.as_numpy("counterfactuals")[0]):
    (out / f"counterfactual_{i}.png").write_bytes(png)
answers = {
    "live": client.is_server_live(),
    "ready": client.is_server_ready(),
    "model_ready": client.is_model_ready("shapes32"),
    "metadata": client.get_model_metadata("shapes32"),
    "probabilities": result.as_numpy("probabilities").tolist(),
    "predicted": [p if isinstance(p, str) else p.decode() for p in result.as_numpy("predicted")],
    "explanation": [json.loads(e) for e in result.as_numpy("explanation")],
    "counterfactuals_shape": list(result.as_numpy("counterfactuals").shape),
}
(out / "answers.json").write_text(json.dumps(answers))
"""


def test_tritonclient_http_against_the_real_server(http_server, images, tmp_path):
    image_path = tmp_path / "image.png"
    image_path.write_bytes(images[0])
    address = f"127.0.0.1:{http_server.server.http_port}"
    proc = subprocess.run(
        [sys.executable, "-c", TRITON_HTTP, address, str(image_path), str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    got = json.loads((tmp_path / "answers.json").read_text())
    with ExplainClient(http_server.address, timeout=30) as c:
        want = c.explain(images[0], top_k=3)

    assert (got["live"], got["ready"], got["model_ready"]) == (True, True, True)
    assert got["metadata"]["name"] == MODEL and got["metadata"]["versions"] == [MODEL_DIR.name]
    np.testing.assert_allclose(got["probabilities"], [list(want["probs"].values())] * 2, atol=1e-5)
    assert got["predicted"] == [want["predicted"]] * 2  # sent as JSON strings
    assert [a["index"] for a in got["explanation"][0]["attributes"]] == [
        a["index"] for a in want["attributes"]
    ]
    k = len(want["attributes"])
    assert got["counterfactuals_shape"] == [2, k]
    for i, attribute in enumerate(want["attributes"]):  # the same pixels as over gRPC
        sent = (tmp_path / f"counterfactual_{i}.png").read_bytes()
        assert np.array_equal(_pixels(sent), _pixels(attribute["counterfactual"]))


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def test_infer_in_json_base64_and_fp32(http_server, images):
    with ExplainClient(http_server.address, timeout=30) as c:
        want = c.explain(images[1], top_k=2)
    body = {
        "id": "r1",
        "parameters": {"top_k": 2},
        "inputs": [{"name": "image", "datatype": "BYTES", "shape": [1],
                    "parameters": {"content_type": "base64"},
                    "data": [base64.b64encode(images[1]).decode()]}],
        "outputs": [{"name": "probabilities"}, {"name": "joint_counterfactual"}],
    }  # fmt: skip
    status, resp = call_json(http_server, f"/v2/models/{MODEL}/infer", body)
    assert status == 200 and resp["id"] == "r1" and resp["model_version"] == MODEL_DIR.name
    probs, joint = resp["outputs"]
    assert probs["shape"] == [1, len(want["probs"])]
    np.testing.assert_allclose(probs["data"], list(want["probs"].values()), atol=1e-5)
    assert joint["parameters"] == {"content_type": "base64"}
    assert np.array_equal(
        _pixels(base64.b64decode(joint["data"][0])), _pixels(want["joint"]["counterfactual"])
    )

    x = np.asarray(Image.open(io.BytesIO(images[1])).convert("RGB"), np.float32) / 127.5 - 1
    fp32 = {"inputs": [{"name": "image", "datatype": "FP32", "shape": [1, 3, 32, 32],
                        "data": x.transpose(2, 0, 1).reshape(-1).tolist()}],
            "outputs": [{"name": "probabilities"}]}  # fmt: skip
    status, resp = call_json(http_server, f"/v2/models/{MODEL}/infer", fp32)
    assert status == 200
    np.testing.assert_allclose(resp["outputs"][0]["data"], list(want["probs"].values()), atol=1e-4)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{not json", "the request is not valid JSON"),
        ({"inputs": []}, "expected one input named 'image', got []"),
        ({"inputs": [{"name": "image", "datatype": "BYTES", "shape": [1], "data": ["eA=="]}]},
         'must be base64 strings with parameters {"content_type": "base64"}'),
        ({"parameters": {"top_k": "five"}, "inputs": []},
         "parameter top_k 'five' is not an integer"),
        ({"parameters": {"colour": 1}, "inputs": []}, "unknown request parameters ['colour']"),
        ({"outputs": [{"name": "pixels"}], "inputs": []}, "unknown outputs ['pixels']"),
        ({"inputs": [{"name": "image", "datatype": "INT8", "shape": [1], "data": [1]}]},
         "input datatype 'INT8' unsupported"),
    ],
)  # fmt: skip
def test_bad_infer_requests_name_the_problem(http_server, body, fragment):
    status, err = call_json(http_server, f"/v2/models/{MODEL}/infer", body)
    assert status == 400 and err["code"] == "INVALID_ARGUMENT"
    assert fragment in err["error"]


# --- the stylex JSON endpoint ---------------------------------------------------------------
def test_explain_endpoint_answers_what_grpc_answers(http_server, images):
    with ExplainClient(http_server.address, timeout=30) as c:
        want = c.explain(images[2], top_k=3, return_reconstruction=True)
    raw = call_json(
        http_server, "/v1/explain?top_k=3&return_reconstruction=true", images[2],
        headers={"Content-Type": "image/png", "X-Request-Id": "abc"},
    )  # fmt: skip
    body, ctype = multipart({"top_k": "3", "return_reconstruction": "1"}, images[2])
    form = call_json(http_server, "/v1/explain", body, headers={"Content-Type": ctype})
    for status, got in (raw, form):
        assert status == 200
        assert got["probs"] == pytest.approx(want["probs"], abs=1e-5)
        assert (got["predicted"], got["target"], got["mode"]) == (
            want["predicted"], want["target"], want["mode"],
        )  # fmt: skip
        assert [(a["index"], a["direction"]) for a in got["attributes"]] == [
            (a["index"], a["direction"]) for a in want["attributes"]
        ]
        for a, b in zip(got["attributes"], want["attributes"], strict=True):
            assert np.array_equal(_pixels(data_url_bytes(a["counterfactual"])),
                                  _pixels(b["counterfactual"]))  # fmt: skip
        assert np.array_equal(
            _pixels(data_url_bytes(got["reconstruction"])), _pixels(want["reconstruction"])
        )
    assert raw[1]["request_id"] == "abc"


@pytest.mark.parametrize(
    ("query", "ctype", "fragment"),
    [
        ("?top_k=0", "image/png", "top_k 0 out of range"),
        ("?mode=pixels", "image/png", "mode 'pixels' unknown"),
        ("?colour=red", "image/png", "unknown fields ['colour']"),
        ("?image_format=gif", "image/png", "image format 'gif' unknown"),
        ("", "text/plain", "Content-Type 'text/plain' unsupported"),
    ],
)
def test_explain_endpoint_bad_requests(http_server, images, query, ctype, fragment):
    status, err = call_json(
        http_server, "/v1/explain" + query, images[0], headers={"Content-Type": ctype}
    )
    assert status == 400 and fragment in err["error"], err


# --- statuses under load, size, deadline and drain -------------------------------------------
def test_too_large_is_413_with_the_grpc_message(make_server):
    s = make_server(http_port=0, max_image_pixels=40 * 40, decode_budget_pixels=2 * 40 * 40,
                    max_message_bytes=64 * 1024)  # fmt: skip
    big = png_bytes(np.zeros((41, 41, 3), np.uint8))
    status, err = call_json(s, "/v1/explain", big, headers={"Content-Type": "image/png"})
    assert status == 413 and "41 x 41 = 1,681 pixels, over the cap of 1,600" in err["error"]
    noise = png_bytes(np.random.default_rng(0).integers(0, 256, (200, 200, 3), dtype=np.uint8))
    assert len(noise) > 64 * 1024
    status, err = call_json(s, "/v1/explain", noise, headers={"Content-Type": "image/png"})
    assert status == 413 and "larger than the limit of 65536 bytes" in err["error"]
    assert err["code"] == "RESOURCE_EXHAUSTED"


def test_overload_is_429_and_a_passed_deadline_504(make_server, images):
    s = make_server(http_port=0, max_batch_size=1, max_delay_ms=0.0, max_queue=1)
    gate = Gate(s)
    headers = {"Content-Type": "image/png"}
    with ThreadPoolExecutor(4) as pool:
        held = pool.submit(call_json, s, "/v1/explain", images[0], headers=headers)
        wait_until(gate.holds(1), "the first request is at the engine")
        queued = pool.submit(call_json, s, "/v1/explain", images[1], headers=headers)
        wait_until(lambda: s.server.service.queue_depth == 1, "the second request queued")
        status, err = call_json(s, "/v1/explain", images[2], headers=headers)
        assert status == 429 and err["code"] == "RESOURCE_EXHAUSTED", err
        gate.gate.set()
        assert held.result(60)[0] == 200 and queued.result(60)[0] == 200
    gate.gate.clear()
    with ThreadPoolExecutor(2) as pool:
        held = pool.submit(call_json, s, "/v1/explain", images[0], headers=headers)
        wait_until(gate.holds(3), "a request is at the engine")
        status, err = call_json(
            s, "/v1/explain", images[1], headers={**headers, "Stylex-Timeout-Ms": "200"}
        )
        assert status == 504 and err["code"] == "DEADLINE_EXCEEDED", err
        gate.gate.set()
        assert held.result(60)[0] == 200
    soon = {**headers, "Stylex-Timeout-Ms": "soon"}
    status, err = call_json(s, "/v1/explain", images[0], headers=soon)
    assert status == 400 and "Stylex-Timeout-Ms 'soon' is not a positive number" in err["error"]


def test_draining_is_503_for_readiness_and_new_work(make_server, images):
    s = make_server(http_port=0)
    s.server._http.api.draining = True
    try:
        assert call_json(s, "/v2/health/ready") == (503, {"ready": False})
        assert call_json(s, f"/v2/models/{MODEL}/ready")[0] == 503
        assert call_json(s, "/v2/health/live") == (200, {"live": True})
        status, err = call_json(s, "/v1/explain", images[0], headers={"Content-Type": "image/png"})
        assert status == 503 and err["code"] == "UNAVAILABLE" and "draining" in err["error"]
    finally:
        s.server._http.api.draining = False


def test_http_requests_are_counted_by_status(http_server, images):
    def count(status: str) -> float:
        return http_server.metric(
            "stylex_requests_total", {"method": "http:Explain", "status": status}
        )

    ok, bad = count("OK"), count("INVALID_ARGUMENT")
    call(http_server, "/v1/explain", images[0], {"Content-Type": "image/png"})
    call(http_server, "/v1/explain?top_k=0", images[0], {"Content-Type": "image/png"})
    assert (count("OK"), count("INVALID_ARGUMENT")) == (ok + 1, bad + 1)


def test_random_bodies_get_client_errors_and_the_server_stays_up(http_server, images):
    """Garbage on every work route: a 4xx JSON error naming the problem, never a 5xx, and the
    next good request is answered."""
    rng = np.random.default_rng(0)
    bodies = [rng.bytes(int(n)) for n in rng.integers(0, 2000, 12)]
    bodies += [images[0][: len(images[0]) // 2], b"{}", b"[]", b'{"inputs": "x"}']
    routes = [("/v1/explain", "image/png"), (f"/v2/models/{MODEL}/infer", "application/json")]
    for body in bodies:
        for path, ctype in routes:
            status, _, out = call(http_server, path, body, {"Content-Type": ctype})
            assert 400 <= status < 500, (path, status, out[:200])
            assert json.loads(out)["error"]
    status, _, _ = call(http_server, "/v1/explain", images[0], {"Content-Type": "image/png"})
    assert status == 200


def _fp32_request(first: bytes) -> bytes:
    """An FP32 request of the right shape whose first pixel is written as `first`."""
    data = first + b",0" * (3 * 32 * 32 - 1)
    return (b'{"inputs": [{"name": "image", "datatype": "FP32", "shape": [1, 3, 32, 32], '
            b'"data": [' + data + b"]}]}")  # fmt: skip


INFER = f"/v2/models/{MODEL}/infer"
FORM = "multipart/form-data; boundary=x"
PART = b"--x\r\nContent-Disposition: form-data; name=image\r\n\r\n"


@pytest.mark.parametrize(
    ("path", "ctype", "body", "fragment"),
    [
        (INFER, "application/json", b"[" * 200_000 + b"]" * 200_000, "nested too deeply"),
        (INFER, "application/json", _fp32_request(b"[" * 900 + b"1" + b"]" * 900),
         "FP32 input data must be a flat list of 3072 numbers"),
        (INFER, "application/json", b'{"id": "\xff\xfe"}', "not valid JSON ('utf-8' codec"),
        (INFER, "application/json", _fp32_request(b"1e999999"), "1 of its 3072 values are not"),
        (INFER, "application/json", _fp32_request(b"NaN"), "NaN is not a JSON value"),
        (INFER, "application/json", _fp32_request(b"-Infinity"), "-Infinity is not a JSON"),
        (INFER, "application/json", _fp32_request(b"9" * 5000), "a number of thousands of"),
        (INFER, "application/json", _fp32_request(b'"a"'), "must be a flat list of 3072"),
        ("/v1/explain", FORM, PART, "the multipart form is malformed"),  # a part with no end
        ("/v1/explain", FORM, PART + b"abc\r\n--x", "the multipart form is malformed"),
        ("/v1/explain", "multipart/form-data", PART + b"abc\r\n--x--\r\n",
         "malformed (boundary missed"),
        ("/v1/explain", FORM, b"--y\r\n\r\nabc\r\n--y--\r\n", "Could not find starting boundary"),
        ("/v1/explain", FORM, b"\x00\xff" * 100, "the multipart form is malformed"),
    ],
)  # fmt: skip
def test_malformed_bodies_are_400_with_the_reason(http_server, path, ctype, body, fragment):
    """Bodies that break the JSON reader or the form parser are the caller's error, not ours."""
    status, _, out = call(http_server, path, body, {"Content-Type": ctype})
    err = json.loads(out)
    assert (status, err["code"]) == (400, "INVALID_ARGUMENT"), err
    assert fragment in err["error"]


def test_a_body_shorter_than_its_content_length_is_a_client_error(http_server, images):
    """The client announces 1,000 bytes, sends 10 and goes away: counted as a bad request
    (INVALID_ARGUMENT), never as an internal error, and the server keeps answering."""
    import socket

    def count(code: str) -> float:
        return http_server.metric(
            "stylex_requests_total", {"method": "http:ModelInfer", "status": code}
        )

    before = (count("INVALID_ARGUMENT"), count("INTERNAL"))
    with socket.create_connection(("127.0.0.1", http_server.server.http_port), timeout=10) as s:
        s.sendall(f"POST {INFER} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  "Content-Length: 1000\r\n\r\n".encode() + b'{"inputs":')  # fmt: skip
        s.shutdown(socket.SHUT_WR)
        s.recv(1024)  # the server closes the connection (or answers 400 first)
    wait_until(lambda: count("INVALID_ARGUMENT") == before[0] + 1, "the short body is counted")
    assert count("INTERNAL") == before[1]
    status, _, _ = call(http_server, "/v1/explain", images[0], {"Content-Type": "image/png"})
    assert status == 200
