"""The engine's side of the Helm helper (`runner.Helper`) against the real
kidp-helm-server, without a cluster: what it refuses comes back as `HelmFailed` in one
line, it serves requests side by side, a deadline or a cancellation is passed on, a
helper that dies fails what waits on it (never hangs) and the next request starts
another, and closing it ends the process."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from kidp_gitops.helm import runner


def kubeconfig(server: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "k", "cluster": {"server": server}}],
        "users": [{"name": "k", "user": {"token": "not-a-secret"}}],
        "contexts": [{"name": "k", "context": {"cluster": "k", "user": "k"}}],
        "current-context": "k",
    }


# A cluster nothing listens on: requests that reach Kubernetes fail fast.
KUBECONFIG = kubeconfig("https://127.0.0.1:1")


@pytest.fixture
async def silent() -> AsyncIterator[dict[str, Any]]:
    """A kubeconfig of an API server that accepts connections and never answers: an
    action on it waits until it is cancelled."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield kubeconfig(f"http://127.0.0.1:{port}")
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_refusals_come_back_as_helms_one_line_errors(tmp_path: Path) -> None:
    helper = runner.Helper(tmp_path)
    try:
        with pytest.raises(runner.HelmFailed, match="unknown flag: --frobnicate"):
            await helper.run(["install", "web", "--frobnicate"], kubeconfig=KUBECONFIG, timeout=5)
        with pytest.raises(runner.HelmFailed, match="invalid cascade value \\(sideways\\)"):
            await helper.run(
                ["uninstall", "web", "--cascade", "sideways"], kubeconfig=KUBECONFIG, timeout=5
            )
        with pytest.raises(runner.HelmFailed, match=r"^INSTALLATION FAILED: "):
            await helper.run(
                ["install", "web", str(tmp_path / "no-chart")], kubeconfig=KUBECONFIG, timeout=5
            )
        # Several at once, each answered by its id.
        said = await asyncio.gather(
            *(helper.run([f"frob{i}", "web"], kubeconfig=KUBECONFIG, timeout=5) for i in range(5)),
            return_exceptions=True,
        )
        assert [str(e) for e in said] == [f'unknown command "frob{i}"' for i in range(5)]
    finally:
        await helper.close()


async def test_a_dead_helper_fails_what_waits_and_is_started_again(
    tmp_path: Path, silent: dict[str, Any]
) -> None:
    helper = runner.Helper(tmp_path)
    try:
        with pytest.raises(runner.HelmFailed, match="unknown command"):
            await helper.run(["frob", "web"], kubeconfig=KUBECONFIG, timeout=5)
        first = helper.pid
        assert first is not None
        waiting = asyncio.create_task(
            helper.run(["rollback", "web", "1"], kubeconfig=silent, timeout=300)
        )
        await asyncio.sleep(0.5)
        assert not waiting.done()
        os.kill(first, signal.SIGKILL)
        with pytest.raises(runner.HelmFailed, match="the helm helper ended"):
            await asyncio.wait_for(waiting, 30)
        with pytest.raises(runner.HelmFailed, match="unknown command"):
            await helper.run(["frob", "web"], kubeconfig=KUBECONFIG, timeout=5)
        assert helper.pid not in (None, first)
    finally:
        await helper.close()
    assert helper.pid is None


async def test_a_cancelled_caller_leaves_the_helper_serving(
    tmp_path: Path, silent: dict[str, Any]
) -> None:
    helper = runner.Helper(tmp_path)
    try:
        slow = asyncio.create_task(
            helper.run(["rollback", "web", "1"], kubeconfig=silent, timeout=300)
        )
        await asyncio.sleep(0.5)
        assert not slow.done()
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        pid = helper.pid
        with pytest.raises(runner.HelmFailed, match="unknown command"):
            await helper.run(["frob", "web"], kubeconfig=KUBECONFIG, timeout=5)
        assert helper.pid == pid
    finally:
        await helper.close()


async def test_closing_ends_the_process(tmp_path: Path) -> None:
    helper = runner.Helper(tmp_path)
    with pytest.raises(runner.HelmFailed):
        await helper.run(["frob", "web"], kubeconfig=KUBECONFIG, timeout=5)
    pid = helper.pid
    assert pid is not None
    await helper.close()
    assert helper.pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
