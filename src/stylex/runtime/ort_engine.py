"""The ONNX Runtime backend: the four graphs of an exported model directory.

Providers: CUDA (explicit device id; cuDNN algorithm search "HEURISTIC" so a new batch shape
does not trigger a benchmarking pass), TensorRT first when asked, CPU always last as the
fallback. The providers the sessions actually got are logged and kept in `engine.providers`.
On CUDA, IO binding keeps w between encoder and style graph, and every image between synthesis
and classifier, on the device; only what the caller gets back is copied to the host.

IMAGE mode's screen needs d log P(target) / d styles, which ONNX Runtime cannot give: the same
verified synthesis and classifier bytes run once more as torch modules (the differentiable ONNX
interpreter, `stylex.classifiers.onnx_torch`) for that one gradient; every candidate is then
evaluated exactly by the sessions.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stylex.errors import InvalidArgumentError
from stylex.explain.single.options import DEFAULT_NUM_CANDIDATES, MAX_NUM_CANDIDATES, parse_mode
from stylex.runtime.engine import InferenceEngine
from stylex.runtime.model_dir import GRAPHS, ModelDir, ModelDirError, read_model_dir
from stylex.runtime.threads import cpu_limit

log = logging.getLogger(__name__)

CUDNN_CONV_ALGO_SEARCH = "HEURISTIC"  # or "DEFAULT"; "EXHAUSTIVE" re-benchmarks every shape
GPU_PROVIDERS = ("CUDAExecutionProvider", "TensorrtExecutionProvider")


def _ort():
    try:
        import onnxruntime
    except ImportError as exc:
        raise InvalidArgumentError(
            "the ONNX Runtime engine needs onnxruntime (pip install 'stylex[cpu]' or 'stylex[gpu]')"
        ) from exc
    return onnxruntime


def choose_providers(
    device: str = "auto",  # "auto" | "cpu" | "cuda" | "cuda:N"
    tensorrt: bool = False,  # put TensorRT before CUDA when it is available
    available: Sequence[str] | None = None,  # default: what this onnxruntime build offers
    trt_cache_dir: str | None = None,  # where TensorRT keeps built engines
) -> list[tuple[str, dict[str, Any]]]:
    """The provider list for a session, most preferred first, CPU last."""
    if available is None:
        available = _ort().get_available_providers()
    if device != "auto" and device != "cpu" and not device.startswith("cuda"):
        raise InvalidArgumentError(f"device {device!r}: expected auto, cpu, cuda or cuda:N")
    device_id = 0
    if device.startswith("cuda:"):
        try:
            device_id = int(device.split(":", 1)[1])
        except ValueError:
            raise InvalidArgumentError(f"device {device!r}: expected cuda:N") from None
    want_gpu = device.startswith("cuda") or (
        device == "auto" and "CUDAExecutionProvider" in available
    )
    providers: list[tuple[str, dict[str, Any]]] = []
    if want_gpu:
        if "CUDAExecutionProvider" not in available:
            raise InvalidArgumentError(
                f"device {device!r} asked for, but this onnxruntime has no CUDA provider "
                f"(available: {list(available)}); install onnxruntime-gpu or use --device cpu"
            )
        if tensorrt:
            if "TensorrtExecutionProvider" in available:
                trt: dict[str, Any] = {"device_id": device_id, "trt_engine_cache_enable": True}
                if trt_cache_dir:
                    trt["trt_engine_cache_path"] = trt_cache_dir
                providers.append(("TensorrtExecutionProvider", trt))
            else:
                log.warning("TensorRT asked for but not available; using CUDA")
        providers.append(
            (
                "CUDAExecutionProvider",
                {"device_id": device_id, "cudnn_conv_algo_search": CUDNN_CONV_ALGO_SEARCH},
            )
        )
    providers.append(("CPUExecutionProvider", {}))
    return providers


class OrtEngine(InferenceEngine):
    """ONNX Runtime sessions of a verified model directory. Build it with `OrtEngine.load`."""

    def __init__(
        self,
        model: ModelDir,
        sessions: dict[str, Any],
        device_id: int = 0,
        explain: dict[str, Any] | None = None,  # over the manifest's "explain" section
    ) -> None:
        self.model = model
        self.catalog = model.catalog
        self.screen_prior = model.screen
        self.resolution = model.resolution
        self.sessions = sessions
        self.device_id = device_id
        first = sessions["synthesis"].get_providers()
        self._providers = list(first)
        # IO binding only when the graphs really run on the GPU (a CUDA provider that failed
        # to load leaves the session on the CPU).
        self.on_gpu = first[0] in GPU_PROVIDERS
        self._differentiable: tuple[torch.nn.Module, torch.nn.Module] | None = None
        self._differentiable_lock = threading.Lock()
        section = model.manifest.get("explain") or {}
        where = f"{self.model.path / 'manifest.json'} explain"
        if not isinstance(section, dict):
            raise ModelDirError(f"{where}: expected an object, got {type(section).__name__}")
        if explain:
            where += f" with the server's {sorted(explain)}"
        self._read_explain_defaults({**section, **explain} if explain else section, where)

    def _read_explain_defaults(self, cfg: dict[str, Any], where: str) -> None:
        """The manifest's optional "explain" section {"mode", "num_candidates",
        "max_candidates"}, with a server's overrides; without either: CATALOG mode."""
        try:
            self.default_mode = parse_mode(cfg.get("mode"), self.default_mode)
        except InvalidArgumentError as exc:
            raise ModelDirError(f"{where}: {exc}") from None
        for key, default in (
            ("max_candidates", MAX_NUM_CANDIDATES),
            ("num_candidates", DEFAULT_NUM_CANDIDATES),
        ):
            value = cfg.get(key, default)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ModelDirError(f"{where}.{key} {value!r}: expected an integer >= 1")
            setattr(self, "max_candidates" if key == "max_candidates" else "default_candidates",
                    value)  # fmt: skip
        if self.default_candidates > self.max_candidates:
            raise ModelDirError(
                f"{where}.num_candidates {self.default_candidates} exceeds max_candidates "
                f"{self.max_candidates}"
            )

    @classmethod
    def load(
        cls,
        model_dir: str | Path,
        *,
        device: str = "auto",  # "auto" | "cpu" | "cuda" | "cuda:N"
        tensorrt: bool = False,
        intra_op_threads: int | None = None,  # default: the container's CPU limit
        inter_op_threads: int = 1,
        warmup_batch_sizes: Sequence[int] = (1,),  # run every graph once per size at load
        trt_cache_dir: str | None = None,
        precision: str = "fp32",  # "fp16": the directory's accepted fp16 variant (GPU)
        explain: dict[str, Any] | None = None,  # mode / num_candidates / max_candidates over
        # the manifest's "explain" section (a server's defaults)
    ) -> OrtEngine:
        """Verify the directory (schema, sha256 of every file), open the four sessions and warm
        them up. Any failure raises before an engine exists: nothing is half-loaded."""
        ort = _ort()
        model = read_model_dir(model_dir, precision)
        providers = choose_providers(device, tensorrt, trt_cache_dir=trt_cache_dir)
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads or cpu_limit()
        options.inter_op_num_threads = inter_op_threads
        # The four sessions run one after another; spinning worker threads of the session that
        # just finished steal the cores from the next one (seen: synthesis + classifier took
        # 91 ms with spinning, vs 49 ms + 2 ms alone).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if precision == "fp16" and providers[0][0] == "CPUExecutionProvider":
            # The CPU provider lacks float16 kernels for some operators and warns about each
            # one it cannot constant-fold; it runs them in float32 behind casts.
            options.log_severity_level = 3
            log.warning("fp16 graphs on the CPU provider: slower than fp32, meant for GPUs")
        sessions = {}
        for name, data in model.graphs.items():
            try:  # the checked bytes, not the file again: no swap between check and load
                sessions[name] = ort.InferenceSession(
                    data,
                    sess_options=options,
                    providers=[p for p, _ in providers],
                    provider_options=[o for _, o in providers],
                )
            except Exception as exc:
                raise ModelDirError(
                    f"model file {model.path / GRAPHS[name][0]} cannot be loaded by "
                    f"onnxruntime: {str(exc).strip().splitlines()[0] if str(exc) else exc!r}"
                ) from None
        device_id = int(providers[0][1].get("device_id", 0))
        engine = cls(model, sessions, device_id=device_id, explain=explain)
        log.info(
            "loaded %s (%s; threads: %d intra, %d inter) on providers %s",
            model.path, precision, options.intra_op_num_threads, inter_op_threads,
            engine.providers,
        )  # fmt: skip
        engine.warm_up(warmup_batch_sizes)
        return engine

    @property
    def providers(self) -> list[str]:
        return list(self._providers)

    offers_style_gradient = True

    def differentiable_logits(self, conv: torch.Tensor, rgb: torch.Tensor) -> torch.Tensor:
        """Synthesis + classifier as torch modules (CPU), for IMAGE mode's gradient."""
        synthesis, classifier = self._torch_graphs()
        return classifier(synthesis(conv, rgb))

    def _torch_graphs(self) -> tuple[torch.nn.Module, torch.nn.Module]:
        """The verified synthesis and classifier bytes as differentiable torch modules, built
        on first use (most servers never screen)."""
        with self._differentiable_lock:
            if self._differentiable is None:
                import onnx

                from stylex.classifiers.onnx_torch import OnnxModule

                graphs = self.model.graphs
                self._differentiable = tuple(  # type: ignore[assignment]
                    OnnxModule(onnx.load_from_string(graphs[name]), source=GRAPHS[name][0]).eval()
                    for name in ("synthesis", "classifier")
                )
            assert self._differentiable is not None
            return self._differentiable

    @property
    def precision(self) -> str:
        return self.model.precision

    def warm_up(self, batch_sizes: Sequence[int]) -> None:
        """Run every graph once per batch size, so the first request pays no allocation."""
        r = self.resolution
        for n in batch_sizes:
            x = torch.zeros(n, 3, r, r)
            p = torch.full((n, len(self.class_names)), 1.0 / len(self.class_names))
            conv, rgb = self.encode_styles(x, p)
            self.synthesize_classify(conv, rgb)

    # --- running graphs -----------------------------------------------------------------
    def _run(self, graph: str, feeds: dict[str, Any], keep_on_device: bool = False) -> list[Any]:
        """Run one graph. Feeds are numpy arrays or (GPU) OrtValues. Returns numpy arrays, or
        OrtValues left on the device when `keep_on_device`."""
        sess = self.sessions[graph]
        if not self.on_gpu:
            return sess.run(None, feeds)
        binding = sess.io_binding()
        for name, value in feeds.items():
            if isinstance(value, np.ndarray):
                binding.bind_cpu_input(name, np.ascontiguousarray(value))
            else:
                binding.bind_ortvalue_input(name, value)
        for name in GRAPHS[graph][2]:
            binding.bind_output(name, "cuda", self.device_id)
        sess.run_with_iobinding(binding)
        outputs = binding.get_outputs()
        return outputs if keep_on_device else [o.numpy() for o in outputs]

    @staticmethod
    def _np(t: torch.Tensor) -> np.ndarray:
        return t.detach().to("cpu", torch.float32).contiguous().numpy()

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        (w,) = self._run("encoder", {"x": self._np(x)})
        return torch.from_numpy(w)

    def styles(self, w: torch.Tensor, p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        conv, rgb = self._run("style", {"w": self._np(w), "p": self._np(p)})
        return torch.from_numpy(conv), torch.from_numpy(rgb)

    def synthesize(self, conv: torch.Tensor, rgb: torch.Tensor) -> torch.Tensor:
        (x,) = self._run("synthesis", {"conv_styles": self._np(conv), "rgb_styles": self._np(rgb)})
        return torch.from_numpy(x)

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        (logits,) = self._run("classifier", {"x": self._np(x)})
        return torch.from_numpy(logits)

    def encode_styles(self, x: torch.Tensor, p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        (w,) = self._run("encoder", {"x": self._np(x)}, keep_on_device=True)
        conv, rgb = self._run("style", {"w": w, "p": self._np(p)})
        return torch.from_numpy(conv), torch.from_numpy(rgb)

    def synthesize_classify(
        self, conv: torch.Tensor, rgb: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        feeds = {"conv_styles": self._np(conv), "rgb_styles": self._np(rgb)}
        (x,) = self._run("synthesis", feeds, keep_on_device=True)
        (logits,) = self._run("classifier", {"x": x})
        x_host = x if isinstance(x, np.ndarray) else x.numpy()
        return torch.from_numpy(x_host), torch.from_numpy(logits)
