"""Errors of the Kubernetes layer, by kind, so callers catch by layer:

KubeError
├── ConfigError          no usable kubeconfig or in-cluster configuration
├── ConnectionFailed     the server could not be reached, or the stream broke
├── ApiError             the server answered with a status >= 400 (.status, .reason)
└── UnknownKind          the server does not serve an apiVersion/kind (mapper)
"""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]


class KubeError(Exception):
    """Base of every error raised by this package."""


class ConnectionFailed(KubeError):
    """The API server could not be reached or the connection broke."""


class ApiError(KubeError):
    """The API server answered with an error status."""

    def __init__(self, status: int, reason: str, message: str, body: JSON | None = None):
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.body = body or {}

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        return self.status == 409

    @property
    def forbidden(self) -> bool:
        return self.status == 403

    @property
    def gone(self) -> bool:
        return self.status == 410


class ConfigError(KubeError):
    """No usable configuration: a missing or invalid kubeconfig, or not in a cluster."""
