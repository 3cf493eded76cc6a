"""The releases the engine suspects of ending the shared Helm helper stay suspects after
a restart or a leader change: they are kept in a ConfigMap of the engine's own
namespace, read by the next process before its first action, written only when they
change, and holding nothing of a request."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from kidp_gitops.engine.run import LEASE, Engine
from kidp_gitops.helm import chart, runner, suspicionstore
from kidp_gitops.helm.suspicionstore import SuspicionStore
from kidp_gitops.kube import KubeClient
from kidp_gitops.kube.mapper import RestMapper
from kidp_gitops.kube.ssa import ResourceManager
from tests.integration.helm.test_helper import helper
from tests.integration.wait import until

NAME = LEASE + suspicionstore.SUFFIX
TOKEN = "token-of-the-tenant"


def _kubeconfig(server: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "k", "cluster": {"server": server}}],
        "users": [{"name": "k", "user": {"token": TOKEN}}],
        "contexts": [{"name": "k", "context": {"cluster": "k", "user": "k"}}],
        "current-context": "k",
    }


@contextlib.asynccontextmanager
async def _silent() -> AsyncIterator[dict[str, Any]]:
    """A kubeconfig of an API server that never answers: an action on it waits."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    try:
        yield _kubeconfig(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}")
    finally:
        for writer in held:
            writer.close()
        server.close()


def _serving(helper: runner.Helper) -> bool:
    """Whether the shared helper runs."""
    return helper.pid is not None


def _rollback(name: str) -> list[str]:
    return ["rollback", name, "1", "--namespace", "team-a"]


async def test_a_suspect_stays_one_in_the_next_engine_process(
    kube: KubeClient, namespace: str, tmp_path: Path
) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps/{NAME}"
    manager = ResourceManager(kube, RestMapper(kube), chart.POLICY)
    first = runner.Helper(tmp_path / "first", store=SuspicionStore(manager, namespace, NAME))
    try:
        async with _silent() as silent:
            # The same cluster for the next process, which answers nothing by then.
            gone = silent
            held = asyncio.create_task(first.run(_rollback("held"), kubeconfig=silent, timeout=300))

            async def started() -> int | None:
                return first.pid

            pid = await until(started, 30, "the shared helper to start")
            await asyncio.sleep(0.5)  # it read the request, and waits on the silent server
            os.kill(pid, signal.SIGQUIT)  # Go's runtime ends it (exit 2), as a crash does
            with pytest.raises(runner.HelperGone, match="exit code 2"):
                await held
        assert first.suspected("team-a", "held")
    finally:
        await first.close()  # what changed is written

    kept = await kube.get(path)
    assert list(json.loads(kept["data"][suspicionstore.KEY])["suspects"]) == [
        runner.identity("team-a/held", gone)
    ]
    assert TOKEN not in json.dumps(kept)  # names, nothing of the request
    assert {m["manager"] for m in kept["metadata"]["managedFields"]} == {"helm-controller"}
    version = kept["metadata"]["resourceVersion"]

    # The next process (a restart, or the next leader): its own helper and store.
    nowhere = gone
    second = runner.Helper(tmp_path / "second", store=SuspicionStore(manager, namespace, NAME))
    try:
        with pytest.raises(runner.HelmFailed) as failed:
            await second.run(_rollback("held"), kubeconfig=nowhere, timeout=30)
        assert not isinstance(failed.value, runner.HelperGone)
        assert not _serving(second)  # it ran in a helper of its own, not the shared one
        assert second.suspected("team-a", "held")
        with pytest.raises(runner.HelmFailed):
            await second.run(_rollback("other"), kubeconfig=nowhere, timeout=30)
        assert _serving(second)  # another release: the shared helper
    finally:
        await second.close()
    # Nothing changed: nothing written.
    assert (await kube.get(path))["metadata"]["resourceVersion"] == version


async def test_the_engine_keeps_its_suspects_beside_its_lease(engine: Engine) -> None:
    store = helper(engine)._store
    assert store is not None
    options = engine.options
    assert (store.namespace, store.name) == (options.lease_namespace, NAME)
