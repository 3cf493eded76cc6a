"""Errors of the local control plane, each with a message a person can act on."""

from __future__ import annotations


class DevClusterError(Exception):
    """The local control plane could not be built, started, stopped or found."""


class ComponentFailed(DevClusterError):
    """One component exited or never became healthy; the message ends with its log tail."""

    def __init__(self, component: str, why: str, log_tail: str):
        super().__init__(f"{component} {why}\n--- last lines of its log ---\n{log_tail}")
        self.component = component
