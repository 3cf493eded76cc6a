"""Timing wrappers loaded into the engine at start-up (see `bench/phases/__init__.py`)."""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures.thread
import functools
import importlib
import inspect
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

TARGETS = [
    ("kidp_gitops.kube.client", "KubeClient.request"),
    ("kidp_gitops.notification.server", "ReceiverServer.hook"),
    ("kidp_gitops.runtime.lifecycle", "Lifecycle.reconcile"),
    ("kidp_gitops.runtime.lifecycle", "Lifecycle._patch_status"),
    ("kidp_gitops.runtime.lifecycle", "ObjectReconciler.reconcile"),  # older trees
    ("kidp_gitops.runtime.lifecycle", "ObjectReconciler._patch_status"),
    ("kidp_gitops.source.gitrepository", "GitRepositoryReconciler.run"),
    ("kidp_gitops.source.gitrepository", "GitRepositoryReconciler._auth"),
    ("kidp_gitops.source.git", "Git.ls_remote"),
    ("kidp_gitops.source.git", "Git.fetch"),
    ("kidp_gitops.source.git", "Git._resolve"),
    ("kidp_gitops.source.git", "Git._has_commit"),
    ("kidp_gitops.source.git", "Git._fetch_commit"),
    ("kidp_gitops.source.git", "Git._export"),
    ("kidp_gitops.vcs.gitenv", "_execute"),
    ("kidp_gitops.storage.artifacts", "ArtifactStore.archive"),
    ("kidp_gitops.storage.trees", "fetch"),
    ("kidp_gitops.kustomize.reconciler", "KustomizationReconciler._build"),
    ("kidp_gitops.kustomize.pipeline", "render"),
    ("kidp_gitops.kustomize.reconciler", "KustomizationReconciler._apply"),
]

_records: list[tuple[float, float, str, str]] = []
_lock = threading.Lock()


def _note(name: str, start: float, end: float, detail: str = "") -> None:
    with _lock:
        _records.append((start, end, name, detail))


def _flush(directory: str) -> None:
    with _lock:
        rows = list(_records)
        _records.clear()
    with open(os.path.join(directory, f"phases-{os.getpid()}.tsv"), "a") as f:
        for start, end, name, detail in rows:
            f.write(f"{start:.6f}\t{end:.6f}\t{name}\t{detail}\n")


def _detail(name: str, args: tuple[Any, ...]) -> str:
    if name == "KubeClient.request" and len(args) > 2:
        return f"{args[1]} {args[2]}"
    if name.endswith(".reconcile") and args:
        return type(args[0]).__name__
    return ""


def _wrapped(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def timed_async(*args: Any, **kwargs: Any) -> Any:
            start = time.monotonic()
            try:
                return await fn(*args, **kwargs)
            finally:
                _note(name, start, time.monotonic(), _detail(name, args))

        return timed_async

    @functools.wraps(fn)
    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.monotonic()
        try:
            return fn(*args, **kwargs)
        finally:
            _note(name, start, time.monotonic(), _detail(name, args))

    return timed


def _wrap(module_name: str, qualname: str) -> None:
    try:
        owner: Any = importlib.import_module(module_name)
    except ImportError:
        sys.stderr.write(f"bench.phases: no module {module_name}\n")
        return
    *outer, attr = qualname.split(".")
    for part in outer:
        owner = getattr(owner, part, None)
    fn = getattr(owner, attr, None) if owner is not None else None
    if fn is None:
        sys.stderr.write(f"bench.phases: no {module_name}.{qualname} in this tree\n")
        return
    setattr(owner, attr, _wrapped(qualname, fn))


def _label(fn: Any, args: tuple[Any, ...]) -> str:
    # asyncio.to_thread submits partial(Context.run, func, ...): name the func.
    inner = getattr(fn, "func", fn)
    if getattr(inner, "__qualname__", "") == "Context.run":
        first = (getattr(fn, "args", ()) or args or (None,))[0]
        inner = getattr(first, "func", first)
    return str(getattr(inner, "__qualname__", type(inner).__name__))


def _watch_threads() -> None:
    pool = concurrent.futures.thread.ThreadPoolExecutor
    submit = pool.submit

    def timed_submit(self: Any, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        queued = time.monotonic()
        label = _label(fn, args)

        def run(*a: Any, **k: Any) -> Any:
            start = time.monotonic()
            try:
                return fn(*a, **k)
            finally:
                _note("thread", start, time.monotonic(), f"{label} wait={start - queued:.4f}")

        return submit(self, run, *args, **kwargs)

    pool.submit = timed_submit  # type: ignore[method-assign]


def _watch_loop() -> None:
    policy = asyncio.DefaultEventLoopPolicy
    new_event_loop = policy.new_event_loop

    def with_monitor(self: Any) -> asyncio.AbstractEventLoop:
        loop = new_event_loop(self)

        async def lateness() -> None:
            while True:
                start = time.monotonic()
                await asyncio.sleep(0.005)
                late = time.monotonic() - start - 0.005
                if late > 0.02:
                    _note("looplag", start, time.monotonic(), f"{late:.4f}")

        tasks: set[asyncio.Task[None]] = set()
        loop.call_soon(lambda: tasks.add(loop.create_task(lateness())))
        return loop

    policy.new_event_loop = with_monitor  # type: ignore[method-assign]


def _install(directory: str) -> None:
    os.makedirs(directory, exist_ok=True)
    for module_name, qualname in TARGETS:
        _wrap(module_name, qualname)
    _watch_threads()
    _watch_loop()
    atexit.register(_flush, directory)

    def flush_often() -> None:
        while True:
            time.sleep(2)
            _flush(directory)

    threading.Thread(target=flush_often, daemon=True, name="bench-phases").start()


_DIR = os.environ.get("KIDP_BENCH_PHASES")
if _DIR and "controller" in sys.argv and "run" in sys.argv:
    _install(_DIR)
