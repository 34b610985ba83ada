"""The HTTP transport: the Open Inference Protocol v2 REST API and a stylex JSON endpoint, on
aiohttp, in the gRPC server's process and event loop, over the same `ExplainService` (engine,
batcher, decode budget, deadlines, metrics, drain).

    GET  /v2/health/live, /v2/health/ready        200, or 503 while loading or draining
    GET  /v2                                       server metadata
    GET  /v2/models/{name}[/versions/{v}]          model metadata
    GET  /v2/models/{name}[/versions/{v}]/ready    200, or 503
    POST /v2/models/{name}[/versions/{v}]/infer    OIP inference (`oip_json`)
    POST /v1/explain                               one image -> the one result layout (JSON)
    GET  /                                         the explain page (static/, no CDN)
    GET  /v1/info, /v1/samples/{n}.png             what the page reads: model info, samples

`/v1/explain` takes the image as the body (`Content-Type: image/png` or `image/jpeg`) or as the
`image` field of a multipart form; options (top_k, target, shift, mode, num_candidates,
image_format, return_reconstruction) come as query parameters or form fields. It answers
`explanation_to_dict`'s layout, the images as `data:` URLs.

Errors answer `{"error": message, "code": gRPC status name}` with the error's HTTP status:
400 a bad request, 413 an image or body over its cap, 429 overload, 503 not ready or draining,
504 a deadline passed, 500 a bug (its text stays in the log). A request's deadline is the
`Stylex-Timeout-Ms` header (milliseconds), like a gRPC deadline.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from aiohttp import BodyPartReader, web

from stylex.errors import (
    InvalidArgumentError,
    PayloadTooLargeError,
    StylexError,
    UnavailableError,
)
from stylex.explain.single.explanation import explanation_to_dict
from stylex.serving.http import oip_json
from stylex.serving.service import ExplainInput, ExplainService, Rendering

log = logging.getLogger(__name__)

TIMEOUT_HEADER = "Stylex-Timeout-Ms"
OPTION_FIELDS = ("top_k", "target", "shift", "mode", "num_candidates")
IMAGE_TYPES = {"image/png": "png", "image/jpeg": "jpeg"}
STATIC = Path(__file__).parent / "static"
STATIC_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
NUM_SAMPLES = 8  # built-in sample images the page offers
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(body: Any, status: int = 200) -> web.Response:
    return web.json_response(body, status=status, dumps=json.dumps)


def error_response(exc: BaseException) -> tuple[web.Response, str]:
    """(the answer to a failed request, its gRPC status name for the metrics)."""
    if isinstance(exc, StylexError):
        code, status, message = exc.grpc_status, exc.http_status, str(exc)
    else:
        log.error("internal error", exc_info=exc)
        code, status = "INTERNAL", 500
        message = f"internal error ({type(exc).__name__}); see the server log"
    return _json({"error": message, "code": code}, status), code


class HttpApi:
    """The routes over one service; `draining` turns readiness and new work away."""

    def __init__(self, service: ExplainService, max_body_bytes: int) -> None:
        self.service = service
        self.max_body_bytes = max_body_bytes
        self.draining = False
        self._samples: list[bytes] | None = None  # rendered on first request

    def application(self) -> web.Application:
        app = web.Application(client_max_size=self.max_body_bytes)
        route = app.router
        route.add_get("/v2/health/live", self.live)
        route.add_get("/v2/health/ready", self.ready)
        route.add_get("/v2", self.server_metadata)
        for base in ("/v2/models/{name}", "/v2/models/{name}/versions/{version}"):
            route.add_get(base, self._counted("http:ModelMetadata", self.model_metadata))
            route.add_get(base + "/ready", self._counted("http:ModelReady", self.model_ready))
            route.add_post(base + "/infer", self._counted("http:ModelInfer", self.infer))
        route.add_post("/v1/explain", self._counted("http:Explain", self.explain))
        route.add_get("/", self.page)
        route.add_get("/static/{file}", self.static)
        route.add_get("/v1/info", self._counted("http:Info", self.model_info))
        route.add_get("/v1/samples/{n}.png", self._counted("http:Sample", self.sample))
        return app

    # --- helpers ---------------------------------------------------------------------------
    def _counted(self, method: str, handler: Handler) -> Handler:
        """Time and count a route by status, and turn an exception into its error answer."""

        async def run(request: web.Request) -> web.StreamResponse:
            t0 = time.perf_counter()
            code = "OK"
            try:
                return await handler(request)
            except web.HTTPRequestEntityTooLarge:
                response, code = error_response(self._too_large(request.content_length))
                return response
            except ConnectionResetError:  # the body stopped short of its Content-Length
                response, code = error_response(_short_body(request.content_length))
                return response
            except asyncio.CancelledError:
                code = "CANCELLED"
                raise
            except Exception as exc:
                response, code = error_response(exc)
                return response
            finally:
                if self.service.metrics is not None:
                    self.service.metrics.observe_request(method, code, time.perf_counter() - t0)

        return run

    def _too_large(self, size: int | None) -> PayloadTooLargeError:
        what = "request body" if size is None else f"request body of {size} bytes"
        return PayloadTooLargeError(
            f"{what} is larger than the limit of {self.max_body_bytes} bytes (--max-message-bytes)"
        )

    def _check_size(self, request: web.Request) -> None:
        """A body announced larger than the limit is refused before it is read."""
        size = request.content_length
        if size is not None and size > self.max_body_bytes:
            raise self._too_large(size)

    @property
    def is_ready(self) -> bool:
        return self.service.ready and not self.draining

    def _check_accepting(self) -> None:
        if self.draining:
            raise UnavailableError("the server is draining; not accepting requests")

    def _check_model(self, request: web.Request) -> None:
        self.service.check_model(request.match_info["name"], request.match_info.get("version", ""))

    @staticmethod
    def _deadline(request: web.Request) -> float | None:
        raw = request.headers.get(TIMEOUT_HEADER)
        if raw is None:
            return None
        try:
            ms = float(raw)
        except ValueError:
            ms = -1.0
        if not ms > 0:
            raise InvalidArgumentError(f"{TIMEOUT_HEADER} {raw!r} is not a positive number")
        return time.monotonic() + ms / 1000.0

    # --- health and metadata ---------------------------------------------------------------
    async def live(self, request: web.Request) -> web.Response:
        return _json({"live": True})

    async def ready(self, request: web.Request) -> web.Response:
        return _json({"ready": self.is_ready}, 200 if self.is_ready else 503)

    async def server_metadata(self, request: web.Request) -> web.Response:
        from stylex import __version__

        return _json({"name": "stylex", "version": __version__, "extensions": oip_json.EXTENSIONS})

    async def model_metadata(self, request: web.Request) -> web.Response:
        self._check_model(request)
        return _json(oip_json.model_metadata(self.service.model_info()))

    async def model_ready(self, request: web.Request) -> web.Response:
        self._check_model(request)
        body = {"name": self.service.model_name, "ready": self.is_ready}
        return _json(body, 200 if self.is_ready else 503)

    # --- the page --------------------------------------------------------------------------
    async def page(self, request: web.Request) -> web.Response:
        return web.Response(body=(STATIC / "index.html").read_bytes(), content_type="text/html")

    async def static(self, request: web.Request) -> web.Response:
        name = request.match_info["file"]
        path = STATIC / name
        if "/" in name or path.suffix not in STATIC_TYPES or not path.is_file():
            raise web.HTTPNotFound(text=f"no static file {name!r}")
        return web.Response(body=path.read_bytes(), content_type=STATIC_TYPES[path.suffix])

    async def model_info(self, request: web.Request) -> web.Response:
        return _json({**asdict(self.service.model_info()), "num_samples": NUM_SAMPLES})

    async def sample(self, request: web.Request) -> web.Response:
        raw = request.match_info["n"]
        if not raw.isdecimal() or not 0 <= int(raw) < NUM_SAMPLES:
            raise InvalidArgumentError(f"sample {raw!r} unknown; expected 0 to {NUM_SAMPLES - 1}")
        if self._samples is None:
            from stylex.serving.http.samples import sample_pngs

            engine = self.service.engine
            if engine is None:
                raise UnavailableError("the model is not loaded yet")
            self._samples = await asyncio.to_thread(sample_pngs, engine, NUM_SAMPLES)
        return web.Response(body=self._samples[int(raw)], content_type="image/png")

    # --- work ------------------------------------------------------------------------------
    async def infer(self, request: web.Request) -> web.Response:
        self._check_accepting()
        self._check_model(request)
        self._check_size(request)
        deadline = self._deadline(request)
        info = self.service.model_info()
        body = await request.read()
        header_length = request.headers.get(oip_json.HEADER_LENGTH)
        req = oip_json.infer_request(body, header_length, info.resolution)
        options = self.service.options(**req.options)
        exps = await asyncio.gather(
            *(self.service.explain(x, options, deadline) for x in req.images)
        )
        out, json_length = await asyncio.to_thread(oip_json.infer_response, req, info, exps)
        if json_length is None:
            return web.Response(body=out, content_type="application/json")
        headers = {oip_json.HEADER_LENGTH: str(json_length)}
        return web.Response(body=out, headers=headers, content_type="application/octet-stream")

    async def explain(self, request: web.Request) -> web.Response:
        self._check_accepting()
        self._check_size(request)
        deadline = self._deadline(request)
        fields: dict[str, str] = dict(request.query)
        if request.content_type == "multipart/form-data":
            image, form = await _read_form(request, self.max_body_bytes)
            fields.update(form)
        elif request.content_type in IMAGE_TYPES:
            image = await request.read()
        else:
            raise InvalidArgumentError(
                f"Content-Type {request.content_type!r} unsupported; send the image as "
                f"{' or '.join(IMAGE_TYPES)} or as the 'image' field of multipart/form-data"
            )
        unknown = sorted(set(fields) - {*OPTION_FIELDS, "image_format", "return_reconstruction"})
        if unknown:
            raise InvalidArgumentError(
                f"unknown fields {unknown}; expected some of "
                f"{', '.join((*OPTION_FIELDS, 'image_format', 'return_reconstruction'))}"
            )
        rendering = Rendering(
            fields.get("image_format") or "png",
            _flag(fields.get("return_reconstruction", ""), "return_reconstruction"),
        )
        req = ExplainInput(
            image=image,
            options={k: fields.get(k) or None for k in OPTION_FIELDS},
            rendering=rendering,
            request_id=request.headers.get("X-Request-Id", ""),
        )
        exp = await self.service.explain_input(req, deadline)
        result = await asyncio.to_thread(_result_json, exp, req)
        return web.Response(body=result, content_type="application/json")


def _short_body(size: int | None) -> InvalidArgumentError:
    what = "the request body" if size is None else f"the request body of {size} bytes"
    return InvalidArgumentError(f"{what} (Content-Length) ended early: the connection closed")


async def _read_form(request: web.Request, max_bytes: int) -> tuple[bytes, dict[str, str]]:
    """The `image` field and the other fields of a multipart form, at most `max_bytes` read."""
    image: bytes | None = None
    fields: dict[str, str] = {}
    total = 0
    try:
        reader = await request.multipart()
        async for part in reader:
            if not isinstance(part, BodyPartReader) or part.name is None:
                continue
            data = bytearray()
            while chunk := await part.read_chunk():
                total += len(chunk)
                if total > max_bytes:
                    raise PayloadTooLargeError(
                        f"the form is larger than the limit of {max_bytes} bytes "
                        "(--max-message-bytes)"
                    )
                data.extend(chunk)
            if part.name == "image":
                image = bytes(data)
            else:
                fields[part.name] = data.decode("utf-8", errors="replace")
    except ValueError as e:  # aiohttp's word for a broken form: no boundary, a part with no end
        raise InvalidArgumentError(f"the multipart form is malformed ({e})") from None
    if image is None:
        raise InvalidArgumentError("the form has no 'image' field")
    return image, fields


def _flag(value: str, name: str) -> bool:
    if value.lower() in ("", "0", "false", "no"):
        return False
    if value.lower() in ("1", "true", "yes"):
        return True
    raise InvalidArgumentError(f"{name} {value!r} is not true or false")


def _data_url(data: bytes, image_format: str) -> str:
    if not data:
        return ""
    return f"data:image/{image_format};base64,{base64.b64encode(data).decode('ascii')}"


def _result_json(exp, req: ExplainInput) -> bytes:
    """An explanation in `explanation_to_dict`'s layout, images as data URLs (encodes them:
    call it beside the batch thread)."""
    fmt = req.rendering.image_format
    d = explanation_to_dict(
        exp, request_id=req.request_id, image_format=fmt,
        reconstruction=req.rendering.reconstruction,
    )  # fmt: skip
    d["reconstruction"] = _data_url(d["reconstruction"], fmt)
    for a in d["attributes"]:
        a["counterfactual"] = _data_url(a["counterfactual"], fmt)
    if d["joint"] is not None:
        d["joint"]["counterfactual"] = _data_url(d["joint"]["counterfactual"], fmt)
    return json.dumps(d).encode()
