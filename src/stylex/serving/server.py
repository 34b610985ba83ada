"""The server: stylex.v1 + Open Inference Protocol v2 + health + reflection on grpc.aio, and
with `http_port` the HTTP transport (`serving.http.app`) in the same event loop, over the same
service.

Lifecycle: load the model and check all of it (manifest, checksums, ONNX Runtime sessions)
before a port is bound, so a bad model directory is one clear error and never a listening
server; then listen with health NOT_SERVING (HTTP ready 503), warm up, and report SERVING. On
SIGTERM / SIGINT: NOT_SERVING and HTTP draining (ready 503, new work 503), stop accepting RPCs,
give the in-flight ones `grace_s` to finish (the batcher keeps running for them), drain the
batcher, exit.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import descriptor_pool
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection, reflection_pb2

from stylex.errors import ConfigError
from stylex.fileio import write_bytes
from stylex.runtime.engine import InferenceEngine
from stylex.runtime.model_dir import default_model_dir
from stylex.serving.budget import DecodeBudget
from stylex.serving.config import ServeConfig
from stylex.serving.grpc.gen.inference import grpc_predict_v2_pb2 as oip
from stylex.serving.grpc.gen.inference import grpc_predict_v2_pb2_grpc as oip_grpc
from stylex.serving.grpc.gen.stylex.v1 import explain_pb2 as pb
from stylex.serving.grpc.gen.stylex.v1 import explain_pb2_grpc as pb_grpc
from stylex.serving.grpc.servicers import ExplainServicer, InferenceServicer
from stylex.serving.metrics import ServingMetrics
from stylex.serving.service import ExplainService

log = logging.getLogger(__name__)

SERVICE_NAMES = (
    pb.DESCRIPTOR.services_by_name["ExplainService"].full_name,
    oip.DESCRIPTOR.services_by_name["GRPCInferenceService"].full_name,
)


def reflection_pool() -> descriptor_pool.DescriptorPool:
    """One pool with every service the server offers, for reflection. The OIP messages live in
    a pool of their own (so tritonclient can share the process: protos/generate.py), the others
    in the default pool; reflection reads one."""
    pool = descriptor_pool.DescriptorPool()
    added: set[str] = set()

    def add(file) -> None:  # a FileDescriptor, its imports first
        if file.name in added:
            return
        for dependency in file.dependencies:
            add(dependency)
        pool.AddSerializedFile(file.serialized_pb)
        added.add(file.name)

    for file in (pb.DESCRIPTOR, oip.DESCRIPTOR, health_pb2.DESCRIPTOR, reflection_pb2.DESCRIPTOR):
        add(file)
    return pool


class ExplainServer:
    """One grpc.aio server around one `ExplainService`."""

    def __init__(
        self,
        config: ServeConfig,
        *,
        engine: InferenceEngine | None = None,  # None: load config.model_dir at `start`
        metrics: ServingMetrics | None = None,  # None: a fresh registry
    ) -> None:
        self.config = config
        self.metrics = metrics if metrics is not None else ServingMetrics()
        self.service = ExplainService(
            engine,
            max_batch_size=config.max_batch_size,
            max_delay_ms=config.max_delay_ms,
            max_queue=config.max_queue,
            metrics=self.metrics,
            max_image_pixels=config.max_image_pixels,
            decode_budget=DecodeBudget(config.decode_budget_pixels, config.decode_wait_s),
        )
        self.health = health_aio.HealthServicer()
        self.port = 0  # the bound port, after `start`
        self.http_port = 0  # the bound HTTP port, after `start` (with config.http_port >= 0)
        self._server: grpc.aio.Server | None = None
        self._http: HttpListener | None = None

    async def start(self) -> int:
        """Load and check the model, listen, warm up, then report SERVING. Returns the port."""
        cfg = self.config
        if self.service.engine is None:
            self.service.engine = await asyncio.to_thread(self._load)
        server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", cfg.max_message_bytes),
                ("grpc.max_send_message_length", cfg.max_send_message_bytes),
            ]
        )
        pb_grpc.add_ExplainServiceServicer_to_server(ExplainServicer(self.service), server)
        oip_grpc.add_GRPCInferenceServiceServicer_to_server(InferenceServicer(self.service), server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        reflection.enable_server_reflection(
            (*SERVICE_NAMES, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
             reflection.SERVICE_NAME),
            server, pool=reflection_pool(),
        )  # fmt: skip
        await self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
        try:
            if cfg.tls:
                creds = grpc.ssl_server_credentials([(_read(cfg.tls_key), _read(cfg.tls_cert))])
                self.port = server.add_secure_port(cfg.address, creds)
            else:
                self.port = server.add_insecure_port(cfg.address)
        except RuntimeError as e:  # grpc's "Failed to bind"
            raise ConfigError(f"cannot listen on {cfg.address}: {e}") from None
        await server.start()
        self._server = server
        log.info("listening on %s (port %d, tls=%s)", cfg.address, self.port, cfg.tls)
        host = cfg.address.rsplit(":", 1)[0]
        try:
            if cfg.http_port >= 0:
                self._http = HttpListener(self.service, cfg.max_message_bytes)
                self.http_port = await self._http.start(host, cfg.http_port, cfg.grace_s)
                log.info("HTTP on %s:%d", host, self.http_port)
        except BaseException:
            await server.stop(0)
            raise
        if cfg.port_file:  # for a parent that asked for port 0 (atomic: whole or absent)
            lines = [f"{host}:{self.port}"] + ([f"{host}:{self.http_port}"] if self._http else [])
            write_bytes(cfg.port_file, "".join(line + "\n" for line in lines).encode())
        try:
            if cfg.metrics_port:
                self.metrics.start_http_server(cfg.metrics_port, cfg.metrics_address)
            await self.service.start()
        except BaseException:
            await server.stop(0)  # a failed start leaves no server behind
            if self._http is not None:
                await self._http.stop()
            raise
        await self._set_health(health_pb2.HealthCheckResponse.SERVING)
        return self.port

    def _load(self) -> InferenceEngine:
        from stylex.runtime import OrtEngine
        from stylex.runtime.threads import quiet_torch_glue

        quiet_torch_glue()
        return OrtEngine.load(
            self.config.model_dir or default_model_dir(),
            device=self.config.device,
            intra_op_threads=self.config.threads or None,
            precision=self.config.precision,
            explain=self.config.explain_defaults,
        )

    async def _set_health(self, status: int) -> None:
        await self.health.set("", status)
        for name in SERVICE_NAMES:
            await self.health.set(name, status)

    async def stop(self, grace_s: float | None = None) -> None:
        """NOT_SERVING, refuse new RPCs, let in-flight ones finish, drain the batcher."""
        await self.health.enter_graceful_shutdown()  # NOT_SERVING from here on
        if self._http is not None:
            self._http.api.draining = True  # ready 503, new work 503
        if self.config.drain_delay_s > 0:
            # Load balancers and probes see NOT_SERVING and stop sending before we refuse.
            await asyncio.sleep(self.config.drain_delay_s)
        grace = self.config.grace_s if grace_s is None else grace_s
        stops = []
        if self._server is not None:
            stops.append(self._server.stop(grace))
        if self._http is not None:
            stops.append(self._http.stop(grace))
        await asyncio.gather(*stops)  # in-flight requests of both transports get the grace
        await self.service.stop(drain=True)

    async def wait_for_termination(self) -> None:
        assert self._server is not None
        await self._server.wait_for_termination()


class HttpListener:
    """The HTTP transport's aiohttp site on the running loop."""

    def __init__(self, service: ExplainService, max_body_bytes: int) -> None:
        from stylex.serving.http.app import HttpApi

        self.api = HttpApi(service, max_body_bytes)
        self._runner: Any = None

    async def start(self, host: str, port: int, grace_s: float) -> int:
        from aiohttp import web

        runner = web.AppRunner(self.api.application(), access_log=None, shutdown_timeout=grace_s)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as e:
            await runner.cleanup()
            raise ConfigError(f"cannot listen for HTTP on {host}:{port}: {e.strerror}") from None
        self._runner = runner
        return int(runner.addresses[0][1])

    async def stop(self, grace_s: float | None = None) -> None:
        """Stop listening; in-flight requests get the runner's shutdown timeout."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise ConfigError(f"cannot read TLS file {path!r}: {e.strerror}") from None


async def serve(config: ServeConfig) -> None:
    """Run until SIGTERM or SIGINT, then shut down gracefully."""
    server = ExplainServer(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    port = await server.start()
    host = config.address.rsplit(":", 1)[0]
    http = f", HTTP on {host}:{server.http_port}" if config.http_port >= 0 else ""
    print(f"stylex: serving {server.service.model_name} on {host}:{port}{http}", flush=True)
    await stop.wait()
    log.info("signal received: draining")
    await server.stop()
