"""The one map from exceptions to gRPC status codes."""

from __future__ import annotations

import logging

import grpc

from stylex.errors import StylexError

log = logging.getLogger(__name__)


def status_of(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """Exception -> (status code, one-line message). Every `StylexError` carries its status
    (`grpc_status`); anything else is a bug: INTERNAL, logged with its traceback, and its text
    is not sent to the caller."""
    if isinstance(exc, StylexError):
        code = getattr(grpc.StatusCode, exc.grpc_status, grpc.StatusCode.INTERNAL)
        return code, str(exc)
    log.error("internal error", exc_info=exc)
    return grpc.StatusCode.INTERNAL, f"internal error ({type(exc).__name__}); see the server log"
