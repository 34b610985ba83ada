"""A real server whose engine batches are held at a gate: what is computed, dropped, refused
and counted is asserted from the batches the engine received and from the server's counters,
never from how long anything took."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import numpy as np
import pytest

from stylex.data.decode import decode_image_bytes
from stylex.errors import ResourceExhaustedError, UnavailableError
from stylex.serving.client import ExplainClient
from stylex.serving.grpc.gen.inference import grpc_predict_v2_pb2 as oip
from stylex.serving.grpc.gen.inference import grpc_predict_v2_pb2_grpc as oip_grpc
from stylex.serving.grpc.gen.stylex.v1 import explain_pb2 as pb
from stylex.serving.grpc.gen.stylex.v1 import explain_pb2_grpc as pb_grpc
from stylex.serving.grpc.servicers import STREAM_WINDOW

from .conftest import MODEL_DIR, Gate, ServerThread, wait_until


def request(image: bytes, **fields: Any) -> pb.ExplainRequest:
    return pb.ExplainRequest(image=image, image_format=pb.IMAGE_FORMAT_NONE, **fields)


def same_image(item: Any, image: bytes) -> bool:
    return bool((item[0] == decode_image_bytes(image, 32)).all())


@pytest.fixture()
def gated(make_server):
    """A server that runs one item per batch at once, and its gate (closed)."""
    server = make_server(max_batch_size=1, max_delay_ms=0.0, max_queue=8)
    return server, Gate(server)


def test_expired_queued_request_is_dropped_not_computed(gated, images):
    server, gate = gated
    service = server.server.service
    with grpc.insecure_channel(server.address) as channel, ThreadPoolExecutor(2) as pool:
        stub = pb_grpc.ExplainServiceStub(channel)
        first = pool.submit(stub.Explain, request(images[0]), timeout=60)
        wait_until(gate.holds(1), "the first request reached the engine")
        late = pool.submit(stub.Explain, request(images[1]), timeout=3.0)
        wait_until(lambda: service.queue_depth == 1, "the second request is queued")
        with pytest.raises(grpc.RpcError) as info:
            late.result(60)
        assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        gate.gate.set()
        assert first.result(60).predicted
        assert stub.Explain(request(images[2]), timeout=60).predicted  # served after it
    assert len(gate.computed) == 2
    assert same_image(gate.computed[0], images[0]) and same_image(gate.computed[1], images[2])
    assert service.queue_depth == 0


def test_mixed_options_share_one_batch_and_each_gets_its_own(make_server, engine, images):
    server = make_server(max_batch_size=3, max_delay_ms=60_000.0)  # the batch waits for all 3
    gate = Gate(server, open_=True)
    asked = [
        (images[0], {"top_k": 1}),
        (images[1], {"top_k": 3, "target": "light_bg"}),
        (images[2], {"top_k": 2, "shift": 0.5, "target": "predicted"}),
    ]
    with ExplainClient(server.address, timeout=60) as client, ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(lambda a: client.explain(a[0], image_format="none", **a[1]), asked))
    assert [len(batch) for batch in gate.batches] == [3]
    got_options = {(o.top_k, o.target, o.shift) for _, o in gate.batches[0]}
    assert len(got_options) == 3
    for (image, options), answer in zip(asked, answers, strict=True):
        x = decode_image_bytes(image, engine.resolution)
        (want,) = engine.explain(x[None], **options)
        assert answer["target"] == want.class_names[want.target]
        assert [a["index"] for a in answer["attributes"]] == [
            cf.attribute.index for cf in want.counterfactuals
        ]
        for a, cf in zip(answer["attributes"], want.counterfactuals, strict=True):
            assert a["effect"] == pytest.approx(float(cf.effect), abs=1e-4)
            np.testing.assert_allclose(list(a["probs"].values()), cf.probs.numpy(), atol=1e-4)


def test_status_counters_count_each_answer(gated, images):
    server, gate = gated
    gate.gate.set()

    def count(status: str) -> float:
        return server.metric("stylex_requests_total", {"method": "Explain", "status": status})

    max_queue = server.server.service._batcher.max_queue
    with ExplainClient(server.address, timeout=60) as client, ThreadPoolExecutor(12) as pool:
        client.explain(images[0], top_k=1, image_format="none")
        for bad in (lambda: client.explain(b"not an image"),
                    lambda: client.explain(images[0], top_k=65)):  # fmt: skip
            with pytest.raises(Exception, match="INVALID_ARGUMENT"):
                bad()
        gate.gate.clear()
        running = pool.submit(client.explain, images[1], top_k=1, image_format="none")
        wait_until(gate.holds(2), "a request is held in the engine")
        queued = pool.submit(client.explain, images[2], top_k=1, image_format="none")
        wait_until(lambda: server.server.service.queue_depth == 1, "a request is queued")
        for _ in range(max_queue - 1):  # fill the queue to its limit with held requests
            pool.submit(client.explain, images[3], top_k=1, image_format="none")
        wait_until(lambda: server.server.service.queue_depth == max_queue, "the queue is full")
        with pytest.raises(ResourceExhaustedError):
            client.explain(images[4], top_k=1)
        gate.gate.set()
        running.result(60), queued.result(60)
    wait_until(lambda: count("OK") == 2 + max_queue, "every held request was answered")
    assert (count("INVALID_ARGUMENT"), count("RESOURCE_EXHAUSTED")) == (2.0, 1.0)
    assert len(gate.computed) == 2 + max_queue  # the refused one never reached the engine


def _stream(stub, sent: list[bytes], **kwargs: Any):
    return stub.ExplainStream(iter([request(b, request_id=str(i)) for i, b in enumerate(sent)]),
                              **kwargs)  # fmt: skip


@pytest.mark.parametrize("ending", ["deadline", "cancel"])
def test_ended_stream_drops_its_queued_items(gated, images, ending):
    server, gate = gated
    service = server.server.service
    with grpc.insecure_channel(server.address) as channel:
        stub = pb_grpc.ExplainServiceStub(channel)
        call = _stream(stub, images[:3], timeout=3.0 if ending == "deadline" else 60)
        wait_until(lambda: gate.holds(1)() and service.queue_depth == 2, "1 held, 2 queued")
        if ending == "cancel":
            call.cancel()
        with pytest.raises(grpc.RpcError) as info:
            list(call)
        want = "DEADLINE_EXCEEDED" if ending == "deadline" else "CANCELLED"
        assert info.value.code() == getattr(grpc.StatusCode, want)
        # Within 30 s: before the gate gives up on its own (60 s) and frees the queue anyway.
        wait_until(lambda: _dropped(service), "the server let the queued items go", 30.0)
        gate.gate.set()
        assert stub.Explain(request(images[4]), timeout=60).predicted
    # The held item ran; the two queued behind it went with the stream and never did.
    assert len(gate.computed) == 2 and same_image(gate.computed[1], images[4])


def _dropped(service) -> bool:
    """Whether every queued entry's caller has gone (the batcher skips those)."""
    return all(entry.future.done() for entry in service._batcher._pending)


def test_stream_window_bounds_the_items_in_flight(make_server, images):
    server = make_server(max_batch_size=1, max_delay_ms=0.0, max_queue=256)
    gate = Gate(server)
    service = server.server.service
    total = 3 * STREAM_WINDOW
    with grpc.insecure_channel(server.address) as channel:
        stub = pb_grpc.ExplainServiceStub(channel)
        call = _stream(stub, [images[i % len(images)] for i in range(total)], timeout=120)
        wait_until(lambda: service.queue_depth >= STREAM_WINDOW - 1, "the window filled")
        # Round trips through the same server: the event loop had every chance to read more.
        with ExplainClient(server.address, timeout=60) as client:
            for _ in range(20):
                assert client.health() == "SERVING"
        # In flight: the window, the item being answered, and the one the reader holds.
        in_flight = len(gate.computed) + service.queue_depth
        assert STREAM_WINDOW <= in_flight <= STREAM_WINDOW + 2, in_flight
        gate.gate.set()
        answers = list(call)
    assert [a.request_id for a in answers] == [str(i) for i in range(total)]
    assert len(gate.computed) == total


def test_not_serving_until_warmed_up(engine, images):
    class SlowWarmUp:
        """The shared engine, with a warm-up that waits to be released."""

        def __init__(self) -> None:
            self.warming, self.release = threading.Event(), threading.Event()

        def warm_up(self, sizes) -> None:
            self.warming.set()
            assert self.release.wait(60)
            engine.warm_up(sizes)

        def __getattr__(self, name: str) -> Any:
            return getattr(engine, name)

    slow = SlowWarmUp()
    server = ServerThread(slow, wait=False)
    try:
        assert slow.warming.wait(60)
        assert server.port > 0  # bound before the warm-up
        with ExplainClient(server.address, timeout=30) as client:
            assert client.health() == "NOT_SERVING"
            with pytest.raises(UnavailableError, match="not ready"):
                client.explain(images[0], top_k=1)
            with grpc.insecure_channel(server.address) as channel:
                ready = oip_grpc.GRPCInferenceServiceStub(channel).ServerReady
                assert ready(oip.ServerReadyRequest(), timeout=30).ready is False
            slow.release.set()
            assert server.starting.result(60) == server.port
            assert client.health() == "SERVING"
            assert client.explain(images[0], top_k=1)["attributes"]
    finally:
        slow.release.set()
        server.stop()


def test_fp16_server_explains_with_the_fp16_variant(images):
    from stylex.runtime import OrtEngine

    server = ServerThread(None, precision="fp16", threads=1)  # the server loads the model
    try:
        assert server.server.service.engine.precision == "fp16"
        want_engine = OrtEngine.load(MODEL_DIR, device="cpu", intra_op_threads=1,
                                     precision="fp16")  # fmt: skip
        fp32 = OrtEngine.load(MODEL_DIR, device="cpu", intra_op_threads=1)
        with ExplainClient(server.address, timeout=60) as client:
            for image in images[:2]:
                got = client.explain(image, top_k=3, image_format="none")
                x = decode_image_bytes(image, 32)[None]
                (want,) = want_engine.explain(x, top_k=3)
                (full,) = fp32.explain(x, top_k=3)
                got_probs = list(got["probs_reconstruction"].values())
                np.testing.assert_allclose(got_probs, want.probs_reconstruction.numpy(), atol=1e-5)
                assert [a["index"] for a in got["attributes"]] == [
                    cf.attribute.index for cf in want.counterfactuals
                ]
                # Really the half-precision graphs: the reconstruction is not fp32's.
                diff = (want.probs_reconstruction - full.probs_reconstruction).abs().max()
                assert float(diff) > 0
    finally:
        server.stop()
