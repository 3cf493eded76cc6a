"""Running `kidp` in-process against the session's control plane.

`kidp("get", "ks", "-n", ns)` runs the command with typer's runner in a worker thread
(the command runs its own event loop; the engine keeps running in the test loop) with
KUBECONFIG pointing at the test cluster, and returns what a user sees: exit code,
stdout, and stdout+stderr as `output`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Protocol

import pytest
from typer.testing import CliRunner, Result

from kidp_gitops.cli.main import app
from kidp_gitops.devcluster import DevCluster


class Kidp(Protocol):
    def __call__(
        self, *args: str, env: dict[str, str] | None = None, input: str | None = None
    ) -> Awaitable[Result]: ...


@pytest.fixture
def kidp(installed: DevCluster) -> Kidp:
    def invoke(
        *args: str, env: dict[str, str] | None = None, input: str | None = None
    ) -> Awaitable[Result]:
        environment: dict[str, str | None] = {
            "KUBECONFIG": str(installed.kubeconfig),
            "KIDP_NAMESPACE": None,
        }
        environment.update(env or {})
        return asyncio.to_thread(
            CliRunner().invoke,
            app,
            list(args),
            input=input,
            env=environment,
            catch_exceptions=False,
        )

    return invoke


@pytest.fixture
async def own_cluster(tmp_path: Path) -> AsyncIterator[DevCluster]:
    """A control plane of the test's own, for commands that change the whole cluster
    (uninstall, bootstrap): the session's is shared by every test."""
    dev = DevCluster(tmp_path / "own-cluster")
    await asyncio.to_thread(asyncio.run, dev.up())
    try:
        yield dev
    finally:
        await asyncio.to_thread(dev.down)
