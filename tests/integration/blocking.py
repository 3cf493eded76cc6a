"""Calls that block the event loop, caught where they happen.

Every controller, the receiver and the dashboard share one event loop: a tree walked,
archived, copied or deleted on it stalls them all. `install()` wraps the functions that
do such work (tarfile, shutil's tree functions, os.walk) so that a call made by kidp's own
code on the thread that runs an event loop is recorded; `take()` hands the records over.
Calls from worker threads (`asyncio.to_thread`), from tests and from libraries' own
recursion are not recorded.
"""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import sys
import tarfile
from collections.abc import Callable
from typing import Any

WATCHED: list[tuple[Any, str]] = [
    (tarfile, "open"),
    (shutil, "rmtree"),
    (shutil, "copytree"),
    (shutil, "make_archive"),
    (os, "walk"),
]
_RECORDS: list[str] = []
# Code that runs in processes of its own, never on the engine's loop: the local control
# plane and `kidp up` start, seed and stop things before and after any controller runs.
_OUTSIDE_THE_ENGINE = ("kidp_gitops.devcluster.", "kidp_gitops.local.", "kidp_gitops.cli.")


def _on_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _watch(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(real)
    def watched(*args: Any, **kwargs: Any) -> Any:
        try:
            caller = sys._getframe(1)
        except ValueError:  # called with no Python frame above (an atexit callback)
            return real(*args, **kwargs)
        module = str(caller.f_globals.get("__name__", ""))
        ours = module.startswith("kidp_gitops.") and not module.startswith(_OUTSIDE_THE_ENGINE)
        if ours and _on_loop():
            _RECORDS.append(f"{name} from {module}:{caller.f_lineno} ({caller.f_code.co_name})")
        return real(*args, **kwargs)

    return watched


def install() -> Callable[[], None]:
    """Wrap the watched functions; returns what puts them back."""
    originals = [(owner, attr, getattr(owner, attr)) for owner, attr in WATCHED]
    for owner, attr, real in originals:
        setattr(owner, attr, _watch(f"{owner.__name__}.{attr}", real))

    def restore() -> None:
        for owner, attr, real in originals:
            setattr(owner, attr, real)

    return restore


def take() -> list[str]:
    """The calls recorded since the last take, each once."""
    found = sorted(set(_RECORDS))
    _RECORDS.clear()
    return found
