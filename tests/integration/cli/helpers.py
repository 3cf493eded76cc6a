"""Reading what a user of `kidp` sees, and the synced example the CLI tests act on
(built from the Kustomize controller tests' helpers)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner, Result

from kidp_gitops.cli.main import app
from kidp_gitops.devcluster import DevCluster
from kidp_gitops.kube import KubeClient
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration.kustomize.helpers import (
    KS,
    example_files,
    prd_infrastructure,
    setup_source,
    wait_ready,
)

# The CLI tests' sources fetch only when a test asks (`kidp reconcile source git`).
SOURCE_INTERVAL = "10m"


def one_line(result: Result) -> str:
    """The error line of a failed command: exactly one non-empty line on the output."""
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    return lines[0]


async def kidp_on(cluster: DevCluster, *args: str) -> Result:
    """`kidp ARGS` in-process against `cluster` (for the tests' own control planes; the
    `kidp` fixture serves the shared one)."""
    return await asyncio.to_thread(
        CliRunner().invoke,
        app,
        [*args, "--kubeconfig", str(cluster.kubeconfig)],
        catch_exceptions=False,
    )


def dead_kubeconfig(directory: Path) -> Path:
    """A kubeconfig whose API server address nothing listens on."""
    path = directory / "dead-kubeconfig.yaml"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:1"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }
    path.write_text(yaml.safe_dump(config))
    return path


HR = "/apis/helm.toolkit.fluxcd.io/v2/namespaces/{ns}/helmreleases"


def helmrelease(name: str, **spec: Any) -> dict[str, Any]:
    """A HelmRelease of the chart `podinfo` from HelmRepository `podinfo` (which the
    tests do not create); `spec` adds or replaces fields."""
    chart = {
        "spec": {"chart": "podinfo", "sourceRef": {"kind": "HelmRepository", "name": "podinfo"}}
    }
    return {
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {"name": name},
        "spec": {"interval": "5m", "chart": chart, **spec},
    }


async def synced_infrastructure(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> str:
    """The example repository synced by the `infrastructure` Kustomization, Ready."""
    files = example_files(namespace)
    repo = await setup_source(
        kube, namespace, git_repos, http_git, unique_repo, files, interval=SOURCE_INTERVAL
    )
    await kube.create(KS.format(ns=namespace), prd_infrastructure(namespace))
    await wait_ready(kube, namespace, "infrastructure", timeout=90)
    return repo


def _as_in_a_terminal() -> None:
    """A command typed in a terminal hears Ctrl-C. A suite started in the background (`cmd
    &` in a script, as a CI runner may) ignores SIGINT, and every child inherits that, so
    the Ctrl-C tests would wait for a command that never heard them."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


async def run_kidp(cluster: DevCluster, *args: str) -> asyncio.subprocess.Process:
    """`kidp` as a user runs it, in a process of its own, its input and output piped."""
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig), "NO_COLOR": "1"}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "kidp_gitops", *args,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=env, preexec_fn=_as_in_a_terminal,
    )  # fmt: skip


async def ctrl_c(process: asyncio.subprocess.Process) -> tuple[int | None, str, str]:
    """Interrupt a running command as Ctrl-C does; its exit code and the rest of its
    output and errors."""
    if process.returncode is None:
        process.send_signal(signal.SIGINT)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode, out.decode(), err.decode()


async def next_line(stream: asyncio.StreamReader, *texts: str, timeout: float = 60) -> str:
    """The first line of a running command's output that holds each of `texts`."""

    async def read() -> str:
        while line := (await stream.readline()).decode():
            if all(text in line for text in texts):
                return line
        raise AssertionError(f"the output ended without {texts!r}")

    return await asyncio.wait_for(read(), timeout)


async def read_until(stream: asyncio.StreamReader, text: str, timeout: float = 60) -> str:
    """What a running command wrote until `text` (a prompt: no line end to wait for)."""

    async def read() -> str:
        seen = b""
        while text.encode() not in seen:
            chunk = await stream.read(4096)
            if not chunk:
                raise AssertionError(f"the output ended without {text!r}: {seen.decode()}")
            seen += chunk
        return seen.decode()

    return await asyncio.wait_for(read(), timeout)
