"""The transport-neutral data plane: requests in domain types -> batched engine calls -> results.

gRPC servicers (and any other transport) only decode their wire messages into `ExplainInput`,
await `ExplainService.explain`, and encode the `ExplainResult`. Here live what every transport
shares: option defaults and checks, image decoding off the event loop, the dynamic batcher that
groups concurrent requests into one `engine.explain` call, the `ready` flag and the metrics.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from stylex.data.images import to_uint8_image
from stylex.errors import InvalidArgumentError, UnavailableError
from stylex.explain.explainer import MAX_TOP_K, check_shift, check_top_k
from stylex.explain.explanation import Explanation
from stylex.runtime.engine import InferenceEngine
from stylex.serving.batching import DynamicBatcher
from stylex.serving.metrics import ServingMetrics
from stylex.serving.torchserve.requests import DEFAULT_TOP_K, decode_image_bytes

log = logging.getLogger(__name__)

IMAGE_FORMATS = ("png", "jpeg", "none")
PREDICTED = "predicted"  # target option: move toward the class the classifier predicts


@dataclass(frozen=True)
class ExplainInput:
    """One explanation request, as every transport hands it over."""

    image: bytes  # encoded PNG / JPEG
    top_k: int = 0  # 0 = DEFAULT_TOP_K
    target: str = ""  # class name or index; "" = runner-up class; "predicted"
    shift: float = 0.0  # 0 = 1.0
    image_format: str = "png"  # of the returned images: png | jpeg | none
    return_reconstruction: bool = False
    request_id: str = ""


@dataclass
class AttributeResult:
    rank: int  # 1 = largest effect
    layer: str
    channel: int
    index: int
    direction: str  # "min" | "max"
    label: str
    effect: float  # probs[target] change vs the reconstruction
    counterfactual: bytes  # encoded image; b"" when image_format is "none"
    probs: dict[str, float]  # class -> probability of the counterfactual


@dataclass
class ExplainResult:
    request_id: str
    probs: dict[str, float]  # of the input
    probs_reconstruction: dict[str, float]
    predicted: str
    target: str
    reconstruction: bytes  # b"" unless asked for
    image_format: str
    attributes: list[AttributeResult] = field(default_factory=list)  # best first


@dataclass(frozen=True)
class _Options:
    top_k: int
    target: int | str | None  # None = runner-up; PREDICTED resolved in the batch
    shift: float
    image_format: str
    return_reconstruction: bool


@dataclass(frozen=True)
class _Item:
    x: torch.Tensor  # [3, R, R] in [-1, 1]
    options: _Options
    request_id: str


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
    ) -> None:
        self.engine = engine
        self.max_batch_size = max_batch_size
        self.metrics = metrics
        self._batcher: DynamicBatcher[_Item, ExplainResult] = DynamicBatcher(
            self._run_batch,
            max_batch_size=max_batch_size,
            max_delay_ms=max_delay_ms,
            max_queue=max_queue,
            metrics=metrics,
            name="explain",
        )
        self._ready = False

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

    def model_info(self) -> dict[str, Any]:
        """Name, version, resolution, classes, the attribute catalog and versions."""
        engine = self._engine()
        from stylex import __version__

        return {
            "name": self.model_name,
            "version": self.model_version,
            "resolution": engine.resolution,
            "class_names": list(engine.class_names),
            "catalog": {
                name: [a.to_dict() for a in attrs] for name, attrs in engine.catalog.classes.items()
            },
            "stylex_version": __version__,
            "providers": list(engine.providers),
            "max_top_k": MAX_TOP_K,
        }

    def _engine(self) -> InferenceEngine:
        if not self._ready or self.engine is None:
            raise UnavailableError("the model is not ready (loading, or the server is draining)")
        return self.engine

    # --- requests ------------------------------------------------------------------------
    async def explain(self, req: ExplainInput, deadline: float | None = None) -> ExplainResult:
        """Explain one encoded image. `deadline` is a `time.monotonic()` value; a request still
        queued when it passes is dropped, not computed."""
        options = self.options(
            top_k=req.top_k,
            target=req.target,
            shift=req.shift,
            image_format=req.image_format,
            return_reconstruction=req.return_reconstruction,
        )
        return await self.explain_bytes(req.image, options, req.request_id, deadline)

    async def explain_bytes(
        self,
        image: bytes,  # encoded PNG / JPEG
        options: _Options,  # from `options`
        request_id: str = "",
        deadline: float | None = None,
    ) -> ExplainResult:
        """Decode (in a worker thread, off the event loop) and explain one image."""
        engine = self._engine()
        if not image:
            raise InvalidArgumentError("image is empty; expected PNG or JPEG bytes")
        t0 = time.perf_counter()
        x = await asyncio.to_thread(decode_image_bytes, image, engine.resolution)
        self._stage("decode", t0)
        return await self.explain_tensor(x, options, request_id, deadline)

    async def explain_tensor(
        self,
        x: torch.Tensor,  # [3, R, R] in [-1, 1]
        options: _Options,
        request_id: str = "",
        deadline: float | None = None,
    ) -> ExplainResult:
        """Explain one decoded image (the OIP FP32 input, or after `explain` decoded it)."""
        engine = self._engine()
        r = engine.resolution
        if tuple(x.shape) != (3, r, r):
            raise InvalidArgumentError(f"image has shape {list(x.shape)}, expected [3, {r}, {r}]")
        if not bool(torch.isfinite(x).all()):
            raise InvalidArgumentError("image has NaN or infinite values")
        return await self._batcher.submit(_Item(x, options, request_id), deadline)

    def options(
        self,
        *,
        top_k: int = 0,
        target: str = "",
        shift: float = 0.0,
        image_format: str = "png",
        return_reconstruction: bool = False,
    ) -> _Options:
        """Wire defaults -> checked options; InvalidArgumentError names the bad value."""
        engine = self._engine()
        top_k = check_top_k(top_k or DEFAULT_TOP_K)
        shift = check_shift(shift or 1.0)
        if image_format not in IMAGE_FORMATS:
            raise InvalidArgumentError(
                f"image format {image_format!r} unknown; expected one of {list(IMAGE_FORMATS)}"
            )
        resolved: int | str | None
        if target == "":
            resolved = None
        elif target == PREDICTED:
            resolved = PREDICTED
        else:
            resolved = int(target) if target.isdigit() else target
            engine.catalog.class_name(resolved)  # InvalidArgumentError for an unknown class
        return _Options(top_k, resolved, float(shift), image_format, return_reconstruction)

    def _stage(self, stage: str, t0: float) -> None:
        if self.metrics is not None:
            self.metrics.observe_stage(stage, time.perf_counter() - t0)

    # --- the batch (runs in the batcher's worker thread) ---------------------------------
    def _run_batch(self, items: list[_Item]) -> list[ExplainResult | BaseException]:
        """One engine call per group of items that share (target, shift); a failing group is
        retried item by item, so one bad request never fails the others."""
        engine = self.engine
        assert engine is not None
        targets = self._resolve_predicted(engine, items)
        groups: dict[tuple[Any, float], list[int]] = defaultdict(list)
        for i, item in enumerate(items):
            groups[(targets[i], item.options.shift)].append(i)
        out: list[ExplainResult | BaseException | None] = [None] * len(items)
        for (target, shift), idx in groups.items():
            top_k = max(items[i].options.top_k for i in idx)
            try:
                x = torch.stack([items[i].x for i in idx])
                exps = engine.explain(x, top_k=top_k, target=target, shift=shift)
                for i, exp in zip(idx, exps, strict=True):
                    out[i] = self._result(exp, items[i])
            except Exception:
                for i in idx:
                    out[i] = self._run_one(engine, items[i], target)
        return [r if r is not None else RuntimeError("item not run") for r in out]

    def _run_one(
        self, engine: InferenceEngine, item: _Item, target: Any
    ) -> ExplainResult | BaseException:
        try:
            opts = item.options
            (exp,) = engine.explain(item.x[None], top_k=opts.top_k, target=target, shift=opts.shift)
            return self._result(exp, item)
        except Exception as exc:
            return exc

    @staticmethod
    def _resolve_predicted(engine: InferenceEngine, items: list[_Item]) -> list[Any]:
        """ "predicted" targets -> the argmax class index of each input (one classifier call)."""
        targets: list[Any] = [item.options.target for item in items]
        pending = [i for i, t in enumerate(targets) if t == PREDICTED]
        if pending:
            logits = engine.classify(torch.stack([items[i].x for i in pending]))
            for i, cls in zip(pending, logits.argmax(dim=1).tolist(), strict=True):
                targets[i] = int(cls)
        return targets

    def _result(self, exp: Explanation, item: _Item) -> ExplainResult:
        opts = item.options
        names = exp.class_names

        def probs(t: torch.Tensor) -> dict[str, float]:
            return {n: float(v) for n, v in zip(names, t.tolist(), strict=True)}

        fmt = opts.image_format
        return ExplainResult(
            request_id=item.request_id,
            probs=probs(exp.probs),
            probs_reconstruction=probs(exp.probs_reconstruction),
            predicted=names[exp.predicted],
            target=names[exp.target],
            reconstruction=encode_image(exp.reconstruction, fmt)
            if opts.return_reconstruction
            else b"",
            image_format=fmt,
            attributes=[
                AttributeResult(
                    rank=rank,
                    layer=cf.attribute.layer,
                    channel=cf.attribute.channel,
                    index=cf.attribute.index,
                    direction="max" if cf.attribute.direction == 1 else "min",
                    label=cf.attribute.label,
                    effect=float(cf.effect),
                    counterfactual=encode_image(cf.image, fmt),
                    probs=probs(cf.probs),
                )
                for rank, cf in enumerate(exp.counterfactuals[: opts.top_k], start=1)
            ],
        )


def encode_image(image: torch.Tensor, image_format: str) -> bytes:
    """x [3, R, R] in [-1, 1] -> PNG / JPEG bytes; b"" for "none"."""
    if image_format == "none":
        return b""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(to_uint8_image(image)).save(
        buf, format="PNG" if image_format == "png" else "JPEG"
    )
    return buf.getvalue()
