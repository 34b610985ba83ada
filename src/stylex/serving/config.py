"""Server configuration: flags override STYLEX_* environment variables override defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from typing import Any

from stylex.data.decode import DEFAULT_MAX_IMAGE_PIXELS
from stylex.errors import ConfigError, InvalidArgumentError
from stylex.explain.single.options import check_mode
from stylex.runtime.model_dir import PRECISIONS

MiB = 1024 * 1024


@dataclass(frozen=True)
class ServeConfig:
    model_dir: str = ""  # exported model directory; "" = the default model (default_model_dir)
    address: str = "127.0.0.1:50051"  # HOST:PORT to listen on; port 0 = any free port
    port_file: str = ""  # once listening, write "HOST:PORT" (the bound port) to this file
    http_port: int = -1  # OIP REST + /v1/explain on address's host; 0 = any free port, -1 = off
    metrics_port: int = 9090  # Prometheus /metrics on the loopback; 0 = off
    metrics_address: str = "127.0.0.1"  # where the metrics HTTP server listens
    max_batch_size: int = 8  # images per engine call
    max_delay_ms: float = 5.0  # wait at most this long to fill a batch
    max_queue: int = 64  # queued requests beyond which callers get RESOURCE_EXHAUSTED
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    threads: int = 0  # ONNX Runtime intra-op threads; 0 = the container's CPU limit
    precision: str = "fp32"  # fp32 | fp16 (the model directory's accepted fp16 variant)
    max_message_bytes: int = 8 * MiB  # largest request; larger get RESOURCE_EXHAUSTED (HTTP 413)
    max_send_message_bytes: int = 64 * MiB  # largest response (top_k images)
    grace_s: float = 10.0  # seconds in-flight RPCs get to finish on SIGTERM
    drain_delay_s: float = 0.0  # NOT_SERVING this long before refusing new RPCs on SIGTERM
    tls_cert: str = ""  # PEM certificate chain; with tls_key turns TLS on
    tls_key: str = ""  # PEM private key
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS  # decoded pixels of one image, from its header
    decode_budget_pixels: int = 2 * DEFAULT_MAX_IMAGE_PIXELS  # pixels decoding at once, server-wide
    decode_wait_s: float = 5.0  # longest wait for decode budget when a request has no deadline
    default_mode: str = ""  # catalog | image for requests that do not say; "" = the model's
    num_candidates: int = 0  # image mode's default edits evaluated exactly; 0 = the model's
    max_candidates: int = 0  # what one request may ask for at most; 0 = the model's

    def __post_init__(self) -> None:
        if ":" not in self.address:
            raise ConfigError(f"address {self.address!r} is not HOST:PORT")
        for name in ("max_batch_size", "max_queue", "max_message_bytes", "max_image_pixels"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_delay_ms < 0:
            raise ConfigError(f"max_delay_ms must be >= 0, got {self.max_delay_ms}")
        if not -1 <= self.http_port < 65536:
            raise ConfigError(f"http_port {self.http_port} out of range [-1 (off), 65535]")
        if not 0 <= self.metrics_port < 65536:
            raise ConfigError(f"metrics_port {self.metrics_port} out of range [0, 65535]")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision {self.precision!r}: expected one of {list(PRECISIONS)}")
        if self.decode_budget_pixels < self.max_image_pixels:
            raise ConfigError(
                f"decode_budget_pixels {self.decode_budget_pixels} must be >= max_image_pixels "
                f"{self.max_image_pixels} (one image at the cap must fit)"
            )
        if self.decode_wait_s < 0:
            raise ConfigError(f"decode_wait_s must be >= 0, got {self.decode_wait_s}")
        if self.default_mode:
            try:
                object.__setattr__(self, "default_mode", check_mode(self.default_mode))
            except InvalidArgumentError as e:
                raise ConfigError(f"default_mode: {e}") from None
        for name in ("num_candidates", "max_candidates"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ConfigError("TLS needs both tls_cert and tls_key (or neither)")

    @property
    def tls(self) -> bool:
        return bool(self.tls_cert)

    @property
    def explain_defaults(self) -> dict[str, Any]:
        """The set ones of default_mode / num_candidates / max_candidates, as the engine's
        "explain" section spells them."""
        values = {"mode": self.default_mode, "num_candidates": self.num_candidates,
                  "max_candidates": self.max_candidates}  # fmt: skip
        return {k: v for k, v in values.items() if v}

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: Any) -> ServeConfig:
        """Defaults <- STYLEX_<FIELD> environment variables <- `overrides` that are not None."""
        env = dict(os.environ if env is None else env)
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"STYLEX_{f.name.upper()}")
            if raw is None or raw == "":
                continue
            kind: type = type(f.default)
            try:
                values[f.name] = kind(raw)
            except ValueError:
                raise ConfigError(
                    f"STYLEX_{f.name.upper()}={raw!r} is not a valid {kind.__name__}"
                ) from None
        cfg = cls(**values)
        return replace(cfg, **{k: v for k, v in overrides.items() if v is not None})
