"""The errors of the OCI client: messages that name the registry and the repository,
never a credential."""

from __future__ import annotations


class OCIError(Exception):
    """A registry request failed, or what it sent is not what was asked for."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class AuthError(OCIError):
    """The registry refused the credentials, or asked for credentials we do not have."""


class NotFound(OCIError):
    """The repository, tag or blob does not exist (HTTP 404)."""
