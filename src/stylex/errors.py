"""Typed errors. Each carries the gRPC status and the HTTP status it maps to, and the CLI exit
code it ends with.

Messages name the bad value and what was expected; the CLI prints them as one line.
"""


class StylexError(Exception):
    """Base class of every error stylex raises on purpose."""

    grpc_status = "INTERNAL"
    http_status = 500
    exit_code = 1


class InvalidArgumentError(StylexError):
    """The caller gave a value stylex cannot use (bad option, bad file, bad shape)."""

    grpc_status = "INVALID_ARGUMENT"
    http_status = 400
    exit_code = 2


class ConfigError(InvalidArgumentError):
    """A configuration value is out of range or inconsistent with another one."""


class DataError(InvalidArgumentError):
    """A data set is empty, unreadable or does not match what it is used with."""


class ClassifierError(InvalidArgumentError):
    """A classifier file or its sidecar is missing, corrupt or does not fit the data."""


class CheckpointError(InvalidArgumentError):
    """A run directory or checkpoint is missing, corrupt or from another configuration."""


class ImageTooLargeError(InvalidArgumentError):
    """An image has more pixels than the server decodes (HTTP 413; gRPC INVALID_ARGUMENT)."""

    http_status = 413


class ResourceExhaustedError(StylexError):
    """Too much work queued or a payload too large."""

    grpc_status = "RESOURCE_EXHAUSTED"
    http_status = 429
    exit_code = 3


class PayloadTooLargeError(ResourceExhaustedError):
    """A request or an image has more bytes than the server accepts (HTTP 413)."""

    http_status = 413


class UnavailableError(StylexError):
    """The model is not loaded yet or the service is draining."""

    grpc_status = "UNAVAILABLE"
    http_status = 503
    exit_code = 4


class StorageError(StylexError):
    """An output folder or object-store prefix cannot be read or written (missing bucket,
    access denied, no backend for the URL's scheme)."""

    grpc_status = "FAILED_PRECONDITION"
    exit_code = 5
