"""Server configuration: flags override STYLEX_* environment variables override defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from typing import Any

from stylex.errors import ConfigError
from stylex.runtime.model_dir import PRECISIONS, default_model_dir

DEFAULT_MODEL_DIR = str(default_model_dir())
MiB = 1024 * 1024


@dataclass(frozen=True)
class ServeConfig:
    model_dir: str = DEFAULT_MODEL_DIR  # exported model directory (manifest + ONNX graphs)
    address: str = "127.0.0.1:50051"  # HOST:PORT to listen on; port 0 = any free port
    metrics_port: int = 9090  # Prometheus /metrics on the loopback; 0 = off
    metrics_address: str = "127.0.0.1"  # where the metrics HTTP server listens
    max_batch_size: int = 8  # images per engine call
    max_delay_ms: float = 5.0  # wait at most this long to fill a batch
    max_queue: int = 64  # queued requests beyond which callers get RESOURCE_EXHAUSTED
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    threads: int = 0  # ONNX Runtime intra-op threads; 0 = the container's CPU limit
    precision: str = "fp32"  # fp32 | fp16 (the model directory's accepted fp16 variant)
    max_message_bytes: int = 8 * MiB  # largest request; larger ones get RESOURCE_EXHAUSTED
    max_send_message_bytes: int = 64 * MiB  # largest response (top_k images)
    grace_s: float = 10.0  # seconds in-flight RPCs get to finish on SIGTERM
    drain_delay_s: float = 0.0  # NOT_SERVING this long before refusing new RPCs on SIGTERM
    tls_cert: str = ""  # PEM certificate chain; with tls_key turns TLS on
    tls_key: str = ""  # PEM private key

    def __post_init__(self) -> None:
        if ":" not in self.address:
            raise ConfigError(f"address {self.address!r} is not HOST:PORT")
        for name in ("max_batch_size", "max_queue", "max_message_bytes"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_delay_ms < 0:
            raise ConfigError(f"max_delay_ms must be >= 0, got {self.max_delay_ms}")
        if not 0 <= self.metrics_port < 65536:
            raise ConfigError(f"metrics_port {self.metrics_port} out of range [0, 65535]")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision {self.precision!r}: expected one of {list(PRECISIONS)}")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ConfigError("TLS needs both tls_cert and tls_key (or neither)")

    @property
    def tls(self) -> bool:
        return bool(self.tls_cert)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: Any) -> ServeConfig:
        """Defaults <- STYLEX_<FIELD> environment variables <- `overrides` that are not None."""
        env = dict(os.environ if env is None else env)
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"STYLEX_{f.name.upper()}")
            if raw is None or raw == "":
                continue
            kind = type(f.default)
            try:
                values[f.name] = kind(raw)
            except ValueError:
                raise ConfigError(
                    f"STYLEX_{f.name.upper()}={raw!r} is not a valid {kind.__name__}"
                ) from None
        cfg = cls(**values)
        return replace(cfg, **{k: v for k, v in overrides.items() if v is not None})
