"""gRPC servicers: decode the wire message, call the service, encode the answer. Nothing else.

Errors become statuses through `errors.status_of`; every RPC is counted and timed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc

from stylex.serving.grpc import codec, oip_codec
from stylex.serving.grpc.errors import status_of
from stylex.serving.grpc.gen.inference import grpc_predict_v2_pb2 as oip
from stylex.serving.grpc.gen.inference import grpc_predict_v2_pb2_grpc as oip_grpc
from stylex.serving.grpc.gen.stylex.v1 import explain_pb2 as pb
from stylex.serving.grpc.gen.stylex.v1 import explain_pb2_grpc as pb_grpc
from stylex.serving.service import ExplainService

T = TypeVar("T")
STREAM_WINDOW = 32  # stream items in flight at once: enough to fill batches, bounded memory


def deadline_of(context: grpc.aio.ServicerContext) -> float | None:
    """The RPC's deadline as a time.monotonic() value (None: the client set none)."""
    remaining = context.time_remaining()
    return None if remaining is None else time.monotonic() + remaining


async def _answer(
    service: ExplainService,
    method: str,
    context: grpc.aio.ServicerContext,
    work: Callable[[], Awaitable[T]],
) -> T:
    """Run one unary RPC: time it, count it by status, turn an exception into a status."""
    t0 = time.perf_counter()
    status = "OK"
    try:
        return await work()
    except asyncio.CancelledError:
        status = "CANCELLED"
        raise
    except Exception as exc:
        code, message = status_of(exc)
        status = code.name
        await context.abort(code, message)
        raise AssertionError("unreachable") from None  # abort raises
    finally:
        if service.metrics is not None:
            service.metrics.observe_request(method, status, time.perf_counter() - t0)


class ExplainServicer(pb_grpc.ExplainServiceServicer):
    """stylex.v1.ExplainService over an `ExplainService`."""

    def __init__(self, service: ExplainService) -> None:
        self.service = service

    async def Explain(
        self, request: pb.ExplainRequest, context: grpc.aio.ServicerContext
    ) -> pb.ExplainResponse:
        async def work() -> pb.ExplainResponse:
            req = codec.from_grpc(request)
            exp = await self.service.explain_input(req, deadline_of(context))
            return await asyncio.to_thread(codec.to_grpc, exp, req.request_id, req.rendering)

        return await _answer(self.service, "Explain", context, work)

    async def ExplainStream(
        self,
        request_iterator: AsyncIterator[pb.ExplainRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[pb.ExplainResponse]:
        """Items run concurrently (so they share batches) and are answered in order; a failed
        item is answered with `error` set and the stream goes on."""
        deadline = deadline_of(context)
        window: asyncio.Queue[tuple[str, asyncio.Task[Any]] | None] = asyncio.Queue(STREAM_WINDOW)

        async def one(request: pb.ExplainRequest) -> pb.ExplainResponse:
            t0 = time.perf_counter()
            status = "OK"
            try:
                req = codec.from_grpc(request)
                exp = await self.service.explain_input(req, deadline)
                return await asyncio.to_thread(codec.to_grpc, exp, req.request_id, req.rendering)
            except Exception as exc:
                status = status_of(exc)[0].name
                return codec.error_to_grpc(exc, request.request_id)
            finally:
                if self.service.metrics is not None:
                    elapsed = time.perf_counter() - t0
                    self.service.metrics.observe_request("ExplainStream", status, elapsed)

        async def read() -> None:
            try:
                async for request in request_iterator:
                    task = asyncio.ensure_future(one(request))
                    try:
                        await window.put((request.request_id, task))
                    except asyncio.CancelledError:
                        task.cancel()
                        raise
            finally:
                await window.put(None)

        reader = asyncio.create_task(read())
        try:
            while (entry := await window.get()) is not None:
                yield await entry[1]
            await reader  # a broken request stream surfaces here
        finally:
            # A cancelled or expired stream: its items still in the window are dropped, not
            # computed for a caller that has gone.
            reader.cancel()
            while not window.empty():
                if (entry := window.get_nowait()) is not None:
                    entry[1].cancel()

    async def GetModelInfo(
        self, request: pb.ModelInfoRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelInfo:
        async def work() -> pb.ModelInfo:
            return codec.model_info_to_grpc(self.service.model_info())

        return await _answer(self.service, "GetModelInfo", context, work)


class InferenceServicer(oip_grpc.GRPCInferenceServiceServicer):
    """Open Inference Protocol v2 (`inference.GRPCInferenceService`) over the same service."""

    def __init__(self, service: ExplainService) -> None:
        self.service = service

    async def ServerLive(self, request, context) -> oip.ServerLiveResponse:
        return oip.ServerLiveResponse(live=True)

    async def ServerReady(self, request, context) -> oip.ServerReadyResponse:
        return oip.ServerReadyResponse(ready=self.service.ready)

    async def ModelReady(self, request, context) -> oip.ModelReadyResponse:
        async def work() -> oip.ModelReadyResponse:
            self.service.check_model(request.name, request.version)
            return oip.ModelReadyResponse(ready=self.service.ready)

        return await _answer(self.service, "ModelReady", context, work)

    async def ServerMetadata(self, request, context) -> oip.ServerMetadataResponse:
        from stylex import __version__

        return oip.ServerMetadataResponse(name="stylex", version=__version__, extensions=[])

    async def ModelMetadata(self, request, context) -> oip.ModelMetadataResponse:
        async def work() -> oip.ModelMetadataResponse:
            self.service.check_model(request.name, request.version)
            return oip_codec.metadata(self.service.model_info())

        return await _answer(self.service, "ModelMetadata", context, work)

    async def ModelInfer(self, request, context) -> oip.ModelInferResponse:
        async def work() -> oip.ModelInferResponse:
            self.service.check_model(request.model_name, request.model_version)
            info = self.service.model_info()
            options = self.service.options(**oip_codec.parameters(request))
            oip_codec.requested_outputs(request)  # unknown output names fail before any work
            images = oip_codec.inputs(request, info.resolution)
            deadline = deadline_of(context)
            exps = await asyncio.gather(
                *(self.service.explain(x, options, deadline) for x in images)
            )
            return await asyncio.to_thread(oip_codec.response, request, info, list(exps))

        return await _answer(self.service, "ModelInfer", context, work)
