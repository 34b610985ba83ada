"""End to end against a real grpc.aio server on a loopback port, serving the shipped model."""

from __future__ import annotations

import io
import struct
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
import pytest
import torch
from PIL import Image

from stylex.data.decode import decode_image_bytes
from stylex.errors import InvalidArgumentError, ResourceExhaustedError, StylexError
from stylex.serving.client import ExplainClient
from stylex.serving.grpc.gen.inference import grpc_predict_v2_pb2 as oip
from stylex.serving.grpc.gen.inference import grpc_predict_v2_pb2_grpc as oip_grpc
from stylex.serving.grpc.gen.stylex.v1 import explain_pb2_grpc as pb_grpc
from tests.conftest import catalog_attributes

from .conftest import MODEL_DIR, Gate, png_bytes, wait_until


def _stub(server):
    channel = grpc.insecure_channel(server.address)
    return channel, pb_grpc.ExplainServiceStub(channel)


def _code(fn) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as info:
        fn()
    return info.value.code()


# --- the answer ---------------------------------------------------------------------------
def test_explain_equals_engine(server, client, engine, images):
    for image in images[:3]:
        got = client.explain(image, top_k=4)
        x = decode_image_bytes(image, engine.resolution)
        (exp,) = engine.explain(x[None], top_k=4)
        names = exp.class_names
        assert got["predicted"] == names[exp.predicted]
        assert got["target"] == names[exp.target]
        np.testing.assert_allclose(list(got["probs"].values()), exp.probs.numpy(), atol=1e-5)
        np.testing.assert_allclose(
            list(got["probs_reconstruction"].values()), exp.probs_reconstruction.numpy(), atol=1e-5
        )
        assert [(a["index"], a["direction"]) for a in got["attributes"]] == [
            (cf.attribute.index, "max" if cf.attribute.direction == 1 else "min")
            for cf in exp.counterfactuals
        ]
        for a, cf in zip(got["attributes"], exp.counterfactuals, strict=True):
            assert a["effect"] == pytest.approx(cf.effect, abs=1e-5)
            np.testing.assert_allclose(list(a["probs"].values()), cf.probs.numpy(), atol=1e-5)
            with Image.open(io.BytesIO(a["counterfactual"])) as im:
                assert im.format == "PNG" and im.size == (32, 32)
        with Image.open(io.BytesIO(got["reconstruction"])) as im:
            assert im.size == (32, 32)


def test_explain_options(client, images):
    pred = client.explain(images[0], top_k=2, target="predicted", image_format="none")
    assert pred["target"] == pred["predicted"]
    assert len(pred["attributes"]) == catalog_attributes(2)
    assert pred["attributes"][0]["counterfactual"] == b""
    by_index = client.explain(images[0], target="1", image_format="jpeg")
    assert by_index["target"] == "light_bg"
    with Image.open(io.BytesIO(by_index["attributes"][0]["counterfactual"])) as im:
        assert im.format == "JPEG"


def test_stream_in_order_and_bad_item_does_not_stop_it(client, images):
    sent = [images[0], b"not an image", images[1], images[2]]
    got = list(client.explain_many(sent, top_k=2))
    assert [r["request_id"] for r in got] == ["0", "1", "2", "3"]
    assert got[1]["error"]["code"] == "INVALID_ARGUMENT"
    shown = catalog_attributes(2)
    assert all("error" not in r and len(r["attributes"]) == shown for r in (got[0], got[2], got[3]))
    assert got[0]["probs"] == client.explain(images[0], top_k=2)["probs"]


def test_model_info(client, engine):
    info = client.model_info()
    assert info["name"] == "shapes32" and info["version"] == MODEL_DIR.name  # the version folder
    assert info["resolution"] == 32 and info["class_names"] == ["dark_bg", "light_bg"]
    assert {c["class_name"] for c in info["catalog"]} == {"dark_bg", "light_bg"}
    first = info["catalog"][0]["attributes"][0]
    want = engine.catalog.for_class(info["catalog"][0]["class_name"])[0]
    assert int(first["index"]) == want.index and first["layer"] == want.layer
    assert info["providers"] == engine.providers


def test_health_serving_and_reflection(server, client):
    assert client.health() == "SERVING"
    assert client.health("stylex.v1.ExplainService") == "SERVING"
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    with grpc.insecure_channel(server.address) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        (resp,) = stub.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")])
        )
        names = {s.name for s in resp.list_services_response.service}
        # Reflection describes each service too (grpcurl needs it), OIP's own pool included.
        for symbol, proto in (("inference.GRPCInferenceService", "grpc_predict_v2.proto"),
                              ("stylex.v1.ExplainService", "explain.proto")):  # fmt: skip
            (resp,) = stub.ServerReflectionInfo(
                iter([reflection_pb2.ServerReflectionRequest(file_containing_symbol=symbol)])
            )
            assert not resp.HasField("error_response"), resp.error_response
            files = resp.file_descriptor_response.file_descriptor_proto
            assert any(proto.encode() in f for f in files), symbol
    assert {"stylex.v1.ExplainService", "inference.GRPCInferenceService"} <= names


# --- Open Inference Protocol ----------------------------------------------------------------
def _unpack(raw: bytes) -> list[bytes]:
    out, pos = [], 0
    while pos < len(raw):
        (n,) = struct.unpack_from("<I", raw, pos)
        out.append(raw[pos + 4 : pos + 4 + n])
        pos += 4 + n
    return out


def test_oip(server, engine, images):
    with grpc.insecure_channel(server.address) as channel:
        stub = oip_grpc.GRPCInferenceServiceStub(channel)
        assert stub.ServerLive(oip.ServerLiveRequest()).live
        assert stub.ServerReady(oip.ServerReadyRequest()).ready
        assert stub.ModelReady(oip.ModelReadyRequest(name="shapes32", version=MODEL_DIR.name)).ready
        assert stub.ServerMetadata(oip.ServerMetadataRequest()).name == "stylex"
        meta = stub.ModelMetadata(oip.ModelMetadataRequest(name="shapes32"))
        assert meta.inputs[0].name == "image" and meta.outputs[0].shape == [-1, 2]
        code = _code(lambda: stub.ModelMetadata(oip.ModelMetadataRequest(name="nope")))
        assert code == grpc.StatusCode.INVALID_ARGUMENT

        req = oip.ModelInferRequest(model_name="shapes32", id="r1")
        req.inputs.add(name="image", datatype="BYTES", shape=[2])
        req.inputs[0].contents.bytes_contents.extend(images[:2])
        req.parameters["top_k"].int64_param = 3
        resp = stub.ModelInfer(req)
        out = {
            o.name: (o, raw) for o, raw in zip(resp.outputs, resp.raw_output_contents, strict=True)
        }
        assert resp.id == "r1"
        probs = np.frombuffer(out["probabilities"][1], "<f4").reshape(2, 2)
        x = torch.stack([decode_image_bytes(b, 32) for b in images[:2]])
        want = engine.explain(x, top_k=3)
        np.testing.assert_allclose(probs, torch.stack([e.probs for e in want]).numpy(), atol=1e-5)
        assert list(out["counterfactuals"][0].shape) == [2, catalog_attributes(3)]
        assert len(_unpack(out["counterfactuals"][1])) == 2 * catalog_attributes(3)
        assert b'"attributes"' in _unpack(out["explanation"][1])[0]

        # FP32 input, raw contents, one requested output
        req = oip.ModelInferRequest(model_name="shapes32")
        req.inputs.add(name="image", datatype="FP32", shape=[2, 3, 32, 32])
        req.raw_input_contents.append(x.numpy().astype("<f4").tobytes())
        req.outputs.add(name="probabilities")
        resp = stub.ModelInfer(req)
        assert [o.name for o in resp.outputs] == ["probabilities"]
        np.testing.assert_allclose(
            np.frombuffer(resp.raw_output_contents[0], "<f4").reshape(2, 2), probs, atol=1e-5
        )

        bad = oip.ModelInferRequest(model_name="shapes32")
        bad.inputs.add(name="image", datatype="FP32", shape=[1, 3, 8, 8])
        bad.raw_input_contents.append(b"\0" * 4 * 192)
        assert _code(lambda: stub.ModelInfer(bad)) == grpc.StatusCode.INVALID_ARGUMENT


# --- bad input -----------------------------------------------------------------------------
def _bomb_png(width: int, height: int) -> bytes:
    """A valid PNG header claiming width x height, with a tiny (wrong) data stream."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("not an image", lambda good: b"hello, world"),
        ("truncated png", lambda good: good[: len(good) // 2]),
        ("empty", lambda good: b""),
        ("decompression bomb", lambda good: _bomb_png(50000, 50000)),
    ],
)
def test_bad_images_invalid_argument(client, images, name, make):
    with pytest.raises(InvalidArgumentError) as info:
        client.explain(make(images[0]))
    assert "INVALID_ARGUMENT" in str(info.value)
    assert client.explain(images[0], top_k=1)["attributes"]  # still serving


def test_bomb_message_names_the_problem(client):
    with pytest.raises(InvalidArgumentError, match=r"DecompressionBomb|pixels|exceeds"):
        client.explain(_bomb_png(50000, 50000))


@pytest.mark.parametrize("mode", ["L", "RGBA", "I;16", "P"])
def test_other_modes_converted(client, mode):
    rng = np.random.default_rng(1)
    if mode == "I;16":
        image = png_bytes(rng.integers(0, 65535, (32, 32), dtype=np.uint16))
    elif mode == "RGBA":
        image = png_bytes(rng.integers(0, 256, (32, 32, 4), dtype=np.uint8))
    else:
        im = Image.fromarray(rng.integers(0, 256, (40, 24), dtype=np.uint8), "L").convert(mode)
        buf = io.BytesIO()
        im.save(buf, format="PNG")
        image = buf.getvalue()
    assert len(client.explain(image, top_k=2)["attributes"]) == catalog_attributes(2)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"top_k": 65}, "top_k 65 out of range"),
        ({"target": "blue"}, "unknown class 'blue'"),
        ({"target": "7"}, "class index 7 out of range"),
        ({"shift": -1.0}, "shift must be"),
    ],
)
def test_bad_options(client, images, options, match):
    with pytest.raises(InvalidArgumentError, match=match):
        client.explain(images[0], **options)


def test_oversize_message_resource_exhausted(server, client):
    with pytest.raises(ResourceExhaustedError):
        client.explain(b"\0" * (9 * 1024 * 1024))


# --- load ----------------------------------------------------------------------------------
def test_queued_clients_are_batched_full(make_server, images):
    """32 clients at once while the engine holds the first batch: the 32 - k queued requests
    then go in full batches of 8 (and one remainder), each answered."""
    server = make_server(max_batch_size=8, max_delay_ms=5.0, max_queue=256)
    gate = Gate(server)
    barrier = threading.Barrier(32)

    def run(i: int) -> str:
        with ExplainClient(server.address, timeout=60) as c:
            barrier.wait()
            return c.explain(images[i % len(images)], top_k=2, image_format="none")["predicted"]

    with ThreadPoolExecutor(32) as pool:
        answers = [pool.submit(run, i) for i in range(32)]
        predicted = gate.release_after_queueing(server, answers)
    assert all(p in ("dark_bg", "light_bg") for p in predicted)
    sizes = [len(b) for b in gate.batches]
    rest = 32 - sizes[0]
    assert sizes[1:] == [8] * (rest // 8) + ([rest % 8] if rest % 8 else []), sizes
    assert server.metric("stylex_batch_size_sum") == 32


@pytest.mark.slow
def test_overload_then_recovery(make_server, images):
    server = make_server(max_batch_size=1, max_delay_ms=0.0, max_queue=2)
    codes: list[str] = []
    lock = threading.Lock()

    def run(i: int) -> None:
        with ExplainClient(server.address, timeout=60) as c:
            try:
                c.explain(images[i % len(images)], top_k=1)
                code = "OK"
            except ResourceExhaustedError:
                code = "RESOURCE_EXHAUSTED"
            with lock:
                codes.append(code)

    with ThreadPoolExecutor(32) as pool:
        list(pool.map(run, range(64)))
    assert "RESOURCE_EXHAUSTED" in codes and "OK" in codes, codes
    assert set(codes) == {"OK", "RESOURCE_EXHAUSTED"}
    with ExplainClient(server.address, timeout=60) as c:  # recovered
        assert c.explain(images[0], top_k=1)["attributes"]
    server.stop()


def test_graceful_shutdown_finishes_in_flight(make_server, images):
    server = make_server(max_batch_size=1, drain_delay_s=0.5)
    entered, release = threading.Event(), threading.Event()
    original = server.server.service._run_batch

    def held_batch(items):
        entered.set()
        assert release.wait(60)
        return original(items)

    server.server.service._batcher._run_batch = held_batch
    with ExplainClient(server.address, timeout=60) as c, ThreadPoolExecutor(1) as pool:
        in_flight = pool.submit(c.explain, images[0], top_k=1)
        assert entered.wait(60)  # the request is now held in the batch
        stopping = server.submit(server.server.stop(5.0))
        wait_until(lambda: c.health() == "NOT_SERVING", "draining")  # not yet refusing
        assert not in_flight.done()

        def refuses() -> bool:
            try:
                ExplainClient(server.address, timeout=5).explain(images[1], top_k=1)
            except StylexError:  # UNAVAILABLE, or no answer at all while the port closes
                return True
            return False

        # Past drain_delay_s the server refuses new RPCs, while the in-flight one still runs.
        wait_until(refuses, "new requests are refused")
        assert not in_flight.done()
        release.set()
        assert in_flight.result(60)["attributes"]  # the in-flight request completed
        stopping.result(60)
    assert not server.server.service.ready
