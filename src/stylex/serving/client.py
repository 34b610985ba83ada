"""A Python client of the stylex.v1 ExplainService (blocking; one channel per client)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from stylex.errors import (
    InvalidArgumentError,
    ResourceExhaustedError,
    StylexError,
    UnavailableError,
)
from stylex.serving.grpc.codec import FORMAT_TO_WIRE, mode_to_wire, response_to_dict
from stylex.serving.grpc.gen.stylex.v1 import explain_pb2 as pb
from stylex.serving.grpc.gen.stylex.v1 import explain_pb2_grpc as pb_grpc

_ERRORS = {
    "INVALID_ARGUMENT": InvalidArgumentError,
    "RESOURCE_EXHAUSTED": ResourceExhaustedError,
    "UNAVAILABLE": UnavailableError,
}


@dataclass(frozen=True)
class TLS:
    """Client TLS: the CA bundle that signed the server's certificate (None: system roots)."""

    ca_cert: str | None = None
    server_name: str | None = None  # override the name checked against the certificate


def _error(exc: grpc.RpcError) -> StylexError:
    """An RPC failure -> the typed error of its status (one clear line for the CLI)."""
    code = exc.code()
    cls = _ERRORS.get(code.name, StylexError)
    return cls(f"server answered {code.name}: {exc.details()}")


class ExplainClient:
    """Blocking client: `explain`, `explain_many` (one stream), `model_info`, `health`."""

    def __init__(
        self,
        address: str,  # HOST:PORT
        *,
        timeout: float | None = 30.0,  # seconds per call (the deadline sent to the server)
        tls: TLS | None = None,
        max_message_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        options: list[tuple[str, Any]] = [("grpc.max_receive_message_length", max_message_bytes)]
        if tls is None:
            self._channel = grpc.insecure_channel(address, options=options)
        else:
            ca = Path(tls.ca_cert).read_bytes() if tls.ca_cert else None
            if tls.server_name:
                options.append(("grpc.ssl_target_name_override", tls.server_name))
            self._channel = grpc.secure_channel(
                address, grpc.ssl_channel_credentials(root_certificates=ca), options=options
            )
        self.timeout = timeout
        self._stub = pb_grpc.ExplainServiceStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> ExplainClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def request(
        image: bytes,
        *,
        top_k: int = 0,
        target: str = "",
        shift: float = 0.0,
        image_format: str = "png",
        return_reconstruction: bool = True,
        request_id: str = "",
        mode: str | None = None,  # "catalog" | "image"; None or "": the server's default
        num_candidates: int = 0,  # IMAGE mode; 0: the server's default
    ) -> pb.ExplainRequest:
        return pb.ExplainRequest(
            mode=mode_to_wire(mode),
            num_candidates=num_candidates,
            image=image,
            top_k=top_k,
            target=str(target),
            shift=shift,
            image_format=FORMAT_TO_WIRE[image_format],
            return_reconstruction=return_reconstruction,
            request_id=request_id,
        )

    def explain(self, image: bytes, **options: Any) -> dict[str, Any]:
        """Explain one encoded image; options as `request` (top_k, target, shift, ...)."""
        try:
            resp = self._stub.Explain(self.request(image, **options), timeout=self.timeout)
        except grpc.RpcError as exc:
            raise _error(exc) from None
        return response_to_dict(resp)

    def explain_many(self, images: Iterable[bytes], **options: Any) -> Iterator[dict[str, Any]]:
        """Explain many images over one stream, in order. A failed item yields a dict with an
        "error" {code, message} instead of raising, and the stream goes on."""
        requests = (
            self.request(image, request_id=str(i), **options) for i, image in enumerate(images)
        )
        try:
            for resp in self._stub.ExplainStream(requests, timeout=self.timeout):
                if resp.HasField("error"):
                    yield {
                        "request_id": resp.request_id,
                        "error": {"code": resp.error.code, "message": resp.error.message},
                    }
                else:
                    yield response_to_dict(resp)
        except grpc.RpcError as exc:
            raise _error(exc) from None

    def model_info(self) -> dict[str, Any]:
        from google.protobuf.json_format import MessageToDict

        try:
            info = self._stub.GetModelInfo(pb.ModelInfoRequest(), timeout=self.timeout)
        except grpc.RpcError as exc:
            raise _error(exc) from None
        return MessageToDict(info, preserving_proto_field_name=True)

    def health(self, service: str = "") -> str:
        """The health service's status name: "SERVING", "NOT_SERVING", ..."""
        try:
            resp = self._health.Check(
                health_pb2.HealthCheckRequest(service=service), timeout=self.timeout
            )
        except grpc.RpcError as exc:
            raise _error(exc) from None
        return health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status)


def explain_files_remote(
    address: str,
    images: list[Path],
    out_dir: Path,
    *,
    top_k: int = 5,
    target: str | None = None,
    shift: float = 1.0,
    mode: str | None = None,  # None: the server's default
    num_candidates: int = 0,  # IMAGE mode; 0: the server's default
    timeout: float | None = 60.0,
) -> list[dict[str, Any]]:
    """Explain image files on a server; write OUT/<stem>/{explanation.json, reconstruction.png,
    counterfactual-<rank>.png} as `stylex explain --run-dir` does. Returns the JSON results."""
    from stylex.explain.single.output import write_explanation_files

    results = []
    with ExplainClient(address, timeout=timeout) as client:
        for path in images:
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise InvalidArgumentError(f"cannot read image {path}: {exc}") from None
            res = client.explain(
                data, top_k=top_k, target=target or "", shift=shift, return_reconstruction=True,
                mode=mode, num_candidates=num_candidates,
            )  # fmt: skip
            folder = out_dir / path.stem
            result = write_explanation_files(folder, res, str(path))
            results.append({**result, "output": str(folder)})
    return results
