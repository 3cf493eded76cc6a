"""Engines a test starts and stops itself (a restart is a new Engine on the same data
directory), and the API server's own count of the requests it served."""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from kidp_gitops.dashboard import DashboardApp
from kidp_gitops.devcluster import DevCluster
from kidp_gitops.engine.run import Engine, EngineOptions
from kidp_gitops.proc import sandbox
from kidp_gitops.runtime.tenancy import Lockdown

SUITE_LIMITS = sandbox.Limits(memory=256 * sandbox.MiB)
"""The build limits of every engine the tests run, as an operator of a small cluster sets
them (`--build-memory-limit`): the tests' builds need a few tens of MiB, and a hostile
chart reaches the Helm helper's bound (twice this) in a quarter of the time and memory
that the default's 2 GiB takes, four times per test of it (tests/integration/helm/
test_helper_isolation.py)."""


class Engines:
    def __init__(self, cluster: DevCluster, data_dir: Path):
        self.cluster = cluster
        self.data_dir = data_dir
        self._running: tuple[Engine, asyncio.Task[None]] | None = None

    async def start(
        self,
        lockdown: Lockdown | None = None,
        *,
        build_limits: sandbox.Limits | None = None,
        watch_label_selector: str | None = None,
        namespace: str | None = None,
    ) -> Engine:
        """A new engine process, as after a restart: nothing in memory, the same disk.
        `build_limits` hold for the whole test process until `stop` (they are the
        process's, and the session's engine runs in it too). `namespace`: it watches that
        one only (`--watch-namespace`), for a test that counts the API server's requests
        while earlier tests' objects may still be there."""
        assert self._running is None, "stop the running engine first"
        engine = Engine(
            EngineOptions(
                data_dir=self.data_dir,
                kubeconfig=str(self.cluster.kubeconfig),
                metrics_port=0,
                artifact_port=0,
                lockdown=lockdown or Lockdown(),
                build_limits=build_limits or SUITE_LIMITS,
                watch_label_selector=watch_label_selector,
                namespace=namespace,
            ),
            apps=[DashboardApp()],
        )
        task = asyncio.create_task(engine.run())
        self._running = (engine, task)
        await engine.wait_ready(90)
        return engine

    async def stop(self) -> None:
        if self._running is None:
            return
        engine, task = self._running
        self._running = None
        sandbox.configure(SUITE_LIMITS)
        engine.stop()
        await asyncio.wait_for(task, 60)


Requests = Counter[tuple[str, str, str, str]]
"""(verb, group, resource, dry_run) → requests the API server served."""


async def served_requests(cluster: DevCluster) -> Requests:
    """`apiserver_request_total` of the API server, summed over codes and scopes."""
    kubectl = Path(sys.executable).parent / "kubectl"
    proc = await asyncio.create_subprocess_exec(
        str(kubectl),
        f"--kubeconfig={cluster.kubeconfig}",
        "get",
        "--raw",
        "/metrics",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    counts: Requests = Counter()
    for family in text_string_to_metric_families(out.decode()):
        for sample in family.samples:
            if sample.name != "apiserver_request_total":
                continue
            labels = sample.labels
            key = (
                labels.get("verb", ""),
                labels.get("group", ""),
                labels.get("resource", ""),
                labels.get("dry_run", ""),
            )
            counts[key] += int(sample.value)
    return counts


def delta(before: Requests, after: Requests) -> Requests:
    return Counter({k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)})
