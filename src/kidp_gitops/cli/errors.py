"""Errors that know their exit code; only `main.run` prints them and exits."""

from __future__ import annotations


class CliError(Exception):
    """One readable line for the user and the exit code that goes with it."""

    exit_code = 1

    def __init__(self, message: str, exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code
