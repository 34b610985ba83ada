"""The transport-neutral data plane: requests in domain types -> batched engine calls ->
explanations.

gRPC servicers (and any other transport) only decode their wire messages into option values
and an image, await `ExplainService.explain`, and encode the `Explanation` they get back
(off the batch thread). Here live what every transport shares: image decoding off the event
loop, the dynamic batcher that groups concurrent requests into one `engine.explain_batch` call
(per-image options, one answer or one error per image), the `ready` flag and the metrics.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from stylex.data.decode import (
    DEFAULT_MAX_IMAGE_PIXELS,
    check_pixels,
    decode_image_bytes,
    image_pixels,
)
from stylex.data.images import check_image_format
from stylex.errors import InvalidArgumentError, UnavailableError
from stylex.explain.single.explanation import Explanation
from stylex.explain.single.options import MAX_TOP_K, ExplainOptions
from stylex.runtime.engine import InferenceEngine
from stylex.serving.batching import DynamicBatcher
from stylex.serving.budget import DecodeBudget
from stylex.serving.metrics import ServingMetrics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rendering:
    """How an answer's images come back (the explanation itself does not depend on it)."""

    image_format: str = "png"  # of the counterfactuals (and reconstruction): png | jpeg | none
    reconstruction: bool = False  # also return the reconstruction

    def __post_init__(self) -> None:
        check_image_format(self.image_format)  # refused when the request arrives, not later


@dataclass(frozen=True)
class ExplainInput:
    """One explanation request as a transport decoded it: option values still as the user
    sent them (the wire's unset values mean the defaults; `ExplainService.options` checks them)."""

    image: bytes | torch.Tensor  # encoded image, or x [3, R, R] in [-1, 1] (OIP FP32)
    options: dict[str, Any]  # top_k / target / shift / mode / num_candidates, as for
    # `InferenceEngine.options`
    rendering: Rendering = Rendering()
    request_id: str = ""


@dataclass(frozen=True)
class ModelInfo:
    """What a server serves: the answer of GetModelInfo and the OIP model metadata."""

    name: str
    version: str
    resolution: int  # px
    class_names: list[str]
    catalog: dict[str, list[dict[str, Any]]]  # class name -> its attributes (`to_dict`)
    stylex_version: str
    providers: list[str]  # the engine's execution providers, in order
    max_top_k: int
    default_mode: str  # what a request that names no mode gets
    default_num_candidates: int
    max_num_candidates: int


_Item = tuple[torch.Tensor, ExplainOptions]


class ExplainService:
    """Explanations of one loaded model, batched across concurrent callers."""

    def __init__(
        self,
        engine: InferenceEngine | None = None,  # None: `start` loads it with `load`
        *,
        max_batch_size: int = 8,  # images per engine call
        max_delay_ms: float = 5.0,  # wait at most this long to fill a batch
        max_queue: int = 64,  # queued requests beyond which callers get RESOURCE_EXHAUSTED
        metrics: ServingMetrics | None = None,
        max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,  # decoded pixels of one image
        decode_budget: DecodeBudget | None = None,  # pixels decoding at once (None: 2 images)
    ) -> None:
        self.engine = engine
        self.max_batch_size = max_batch_size
        self.metrics = metrics
        self.max_image_pixels = max_image_pixels
        self.decode_budget = decode_budget or DecodeBudget(2 * max_image_pixels)
        self._batcher: DynamicBatcher[_Item, Explanation] = DynamicBatcher(
            self._run_batch,
            max_batch_size=max_batch_size,
            max_delay_ms=max_delay_ms,
            max_queue=max_queue,
            metrics=metrics,
            name="explain",
        )
        self._ready = False
        self._info: ModelInfo | None = None
        self._info_engine: InferenceEngine | None = None

    # --- lifecycle -----------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        """True once the model is loaded and warmed up, until `stop` begins."""
        return self._ready

    async def start(self, load: Callable[[], InferenceEngine] | None = None) -> None:
        """Load the engine (in a worker thread, when `load` is given), warm it up at the batch
        sizes it will see, start the batcher, then become ready."""
        if self.engine is None:
            if load is None:
                raise UnavailableError("no engine given and no loader to build one")
            self.engine = await asyncio.to_thread(load)
        engine = self.engine
        if hasattr(engine, "warm_up"):
            sizes = sorted({1, self.max_batch_size})
            await asyncio.to_thread(engine.warm_up, sizes)
        await self._batcher.start()
        self._ready = True
        log.info("model %s ready", self.model_name)

    async def stop(self, drain: bool = True) -> None:
        """Refuse new requests; finish the queued ones when `drain`."""
        self._ready = False
        await self._batcher.stop(drain=drain)

    @property
    def queue_depth(self) -> int:
        return self._batcher.queue_depth

    # --- model facts ---------------------------------------------------------------------
    @property
    def model_name(self) -> str:
        manifest = self._manifest()
        return str(manifest.get("name", "stylex"))

    @property
    def model_version(self) -> str:
        return str(self._manifest().get("version", "1"))

    def _manifest(self) -> dict[str, Any]:
        model = getattr(self.engine, "model", None)
        return getattr(model, "manifest", {}) or {}

    def check_model(self, name: str, version: str = "") -> None:
        """A request's model name and version ("" for either: this server's) must be what it
        serves; InvalidArgumentError names both otherwise."""
        if name and name != self.model_name:
            raise InvalidArgumentError(
                f"unknown model {name!r}; this server serves {self.model_name!r}"
            )
        if version and version != self.model_version:
            raise InvalidArgumentError(
                f"unknown version {version!r} of {name!r}; "
                f"this server serves version {self.model_version!r}"
            )

    def model_info(self) -> ModelInfo:
        """What the served model is (built once per loaded engine)."""
        engine = self._engine()
        if self._info is None or self._info_engine is not engine:
            from stylex import __version__

            self._info = ModelInfo(
                name=self.model_name,
                version=self.model_version,
                resolution=engine.resolution,
                class_names=list(engine.class_names),
                catalog={
                    name: [a.to_dict() for a in attrs]
                    for name, attrs in engine.catalog.classes.items()
                },
                stylex_version=__version__,
                providers=list(engine.providers),
                max_top_k=MAX_TOP_K,
                default_mode=engine.default_mode,
                default_num_candidates=engine.default_candidates,
                max_num_candidates=engine.max_candidates,
            )
            self._info_engine = engine
        return self._info

    def _engine(self) -> InferenceEngine:
        if not self._ready or self.engine is None:
            raise UnavailableError("the model is not ready (loading, or the server is draining)")
        return self.engine

    # --- requests ------------------------------------------------------------------------
    def options(self, **values: Any) -> ExplainOptions:
        """Option values as a user sent them -> options checked against the loaded model."""
        return self._engine().options(**values)

    async def explain(
        self,
        image: bytes | torch.Tensor,  # encoded image, or x [3, R, R] in [-1, 1]
        options: ExplainOptions,
        deadline: float | None = None,  # a time.monotonic() value
    ) -> Explanation:
        """Explain one image: decode it (in a worker thread, off the event loop, within the
        decode budget) and queue it for the next batch. A request still queued when its
        deadline passes is dropped, not computed."""
        engine = self._engine()
        if isinstance(image, (bytes, bytearray)):
            image = await self._decode(bytes(image), engine.resolution, deadline)
        return await self._batcher.submit((image, options), deadline)

    async def _decode(self, data: bytes, resolution: int, deadline: float | None) -> torch.Tensor:
        """The pixel cap is checked from the header before any pixel is decoded; the decode
        itself waits for its share of the server-wide budget."""
        cap = self.max_image_pixels
        size = await asyncio.to_thread(image_pixels, data)
        pixels = check_pixels(size, cap)
        async with self.decode_budget.reserve(pixels, deadline):
            t0 = time.perf_counter()
            x = await asyncio.to_thread(decode_image_bytes, data, resolution, cap, size=size)
            self._stage("decode", t0)
        return x

    async def explain_input(self, req: ExplainInput, deadline: float | None = None) -> Explanation:
        """`explain` of a transport's decoded request (options checked first)."""
        return await self.explain(req.image, self.options(**req.options), deadline)

    def _stage(self, stage: str, t0: float) -> None:
        if self.metrics is not None:
            self.metrics.observe_stage(stage, time.perf_counter() - t0)

    # --- the batch (runs in the batcher's worker thread: the engine and nothing else) ------
    def _run_batch(self, items: list[_Item]) -> list[Explanation | Exception]:
        engine = self.engine
        assert engine is not None
        return engine.explain_batch([x for x, _ in items], [o for _, o in items])
