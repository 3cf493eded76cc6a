"""One hostile chart against the shared Helm helper: a release whose templates exhaust
the helper's memory, or render without end, fails itself with the reason (counted as
Flux counts a failed install), while another tenant's release in flight at the same
time ends Ready; the shared helper ends once, not on every retry of the hostile one."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest

from kidp_gitops.engine.run import Engine
from kidp_gitops.helm import bounds
from kidp_gitops.kube import KubeClient
from kidp_gitops.proc import sandbox
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration import namespaces
from tests.integration.helm.helpers import (
    DEPLOY,
    HR,
    NAME,
    condition,
    event_reasons,
    pending_install,
    prd_release,
    release,
    release_secrets,
    wait_hr,
)
from tests.integration.helm.test_helper import DEPLOYMENT, helper
from tests.integration.kustomize.helpers import example_files
from tests.integration.wait import until

HOSTILE = "charts/operators/templates/hostile.yaml"
# Doubles a string forty times: 16 TiB, far past any bound, in a second or two.
HOG = (
    '{{- if .Values.hog }}{{- $s := "xxxxxxxxxxxxxxxx" }}'
    "{{- range until 40 }}{{- $s = print $s $s }}{{- end }}{{ $s }}{{- end }}\n"
)
# Ten billion empty iterations: minutes of CPU, and Go's templates never look at a cancel.
SPIN = (
    "{{- if .Values.spin }}{{- range until 100000 }}{{- range until 100000 }}"
    "{{- end }}{{- end }}{{- end }}\n"
)


def _files(namespace: str, gate: str | None = None) -> dict[str, str]:
    files = example_files(namespace)
    files[HOSTILE] = HOG + SPIN
    if gate is not None:  # the pods fit only a node with the gate's label: helm waits
        files[DEPLOYMENT] = files[DEPLOYMENT].replace(
            "      containers:", f'      nodeSelector:\n        {gate}: "open"\n      containers:'
        )
    return files


async def _helper_ended_events(kube: KubeClient, namespace: str, name: str) -> int:
    """How many times the release was retried because the shared helper ended."""
    events = await kube.list(
        f"/api/v1/namespaces/{namespace}/events",
        params={"fieldSelector": f"involvedObject.name={name}"},
    )
    return sum(
        int(e.get("count") or 1)
        for e in events["items"]
        if "the helm helper ended" in (e.get("message") or "")
    )


def _hostile(namespace: str, value: str, timeout: str = "40s") -> dict[str, Any]:
    hr = prd_release(namespace)
    hr["metadata"]["name"] = "hostile"
    hr["spec"]["values"][value] = True
    hr["spec"]["timeout"] = timeout  # 40s: its templates may render for a quarter, 10 s
    # Retried twice: neither retry may reach the shared helper.
    hr["spec"]["install"] = {"remediation": {"retries": 2}}
    return hr


async def _release_hostile(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
    hostile: dict[str, Any],
) -> None:
    """The hostile chart's release in `namespace`, not waited for."""
    files = _files(namespace)
    await release(
        kube, namespace, git_repos, http_git, unique_repo, files=files, hr=hostile, ready=None
    )


async def _failed_by_itself(kube: KubeClient, namespace: str, why: str) -> dict[str, Any]:
    def spent(obj: dict[str, Any]) -> bool:
        return int(obj["status"].get("installFailures") or 0) >= 3

    failed = await wait_hr(
        kube, namespace, "hostile", "False", "InstallFailed", check=spent, timeout=300
    )
    assert why in condition(failed)["message"]
    assert "InstallFailed" in await event_reasons(kube, namespace, "hostile")
    assert not await release_secrets(kube, namespace, "hostile")
    return failed


async def test_a_chart_exhausting_memory_fails_itself_and_spares_the_tenant_in_flight(
    engine: Engine,
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    shared = helper(engine)
    gate = f"kidp.test/gate-{namespace}"
    node = (await kube.list("/api/v1/nodes"))["items"][0]["metadata"]["name"]
    async with namespaces.temporary(kube) as other:
        # The other tenant's install is in flight in the shared helper (waiting for its
        # pods) when the hostile release renders.
        tenant = prd_release(other)
        tenant["spec"]["timeout"] = "5m"
        files = _files(other, gate)
        await release(
            kube, other, git_repos, http_git, unique_repo, files=files, hr=tenant, ready=None
        )

        await until(
            lambda: pending_install(kube, other), 120, "helm to be waiting for the tenant's pods"
        )
        ended = shared.ended

        # The most render time a release may have (60 s), so that the memory bound ends it
        # and not the render's CPU-time bound alone: on a machine short of memory the
        # kernel charges its page reclaim to the process as CPU time (seen in CI under
        # load: "took more than 10s of CPU time" before the heap reached the bound).
        hostile = _hostile(namespace, "hog", timeout="4m")
        await _release_hostile(kube, namespace, git_repos, http_git, unique_repo, hostile)
        failed = await _failed_by_itself(kube, namespace, "exhausted the memory bound")
        said = condition(failed)["message"]
        assert "the chart's templates exhausted the memory bound of the helm helper" in said
        assert shared.suspected(namespace, "hostile")

        await kube.patch(f"/api/v1/nodes/{node}", {"metadata": {"labels": {gate: "open"}}})
        try:
            done = await wait_hr(kube, other, NAME, "True", "InstallSucceeded", timeout=180)
        finally:
            await kube.patch(f"/api/v1/nodes/{node}", {"metadata": {"labels": {gate: None}}})
        # The tenant was retried once for the helper's end, never counted as failing.
        assert not done["status"].get("installFailures")
        assert "InstallFailed" not in await event_reasons(kube, other)
        assert await _helper_ended_events(kube, other, NAME) == 1
        assert not shared.suspected(other, NAME)

        # Three failed installs of the hostile release, one end of the shared helper.
        assert shared.ended == ended + 1
        await kube.patch(f"{HR.format(ns=other)}/{NAME}", {"spec": {"values": {"replicaCount": 1}}})
        await wait_hr(kube, other, NAME, "True", "UpgradeSucceeded", timeout=180)
        serving = shared.pid
        assert serving is not None  # the tenant is back in the shared helper
        dep = await kube.get(DEPLOY.format(ns=other, name=NAME))
        assert dep["spec"]["replicas"] == 1
        assert shared.ended == ended + 1


@pytest.fixture
def render_limit_3s(engine: Engine) -> Iterator[None]:
    """The operator's render limit at 3 s, under the floor of 10 s a tenant's short
    spec.timeout gets: an endless chart spins through the same four bounds (the shared
    helper's, then three alone) for a third of the CPU time. Set once the engine runs:
    its start sets the limits it was given."""
    del engine
    previous = sandbox.configure(replace(sandbox.LIMITS, render=3))
    yield
    sandbox.configure(previous)


@pytest.mark.usefixtures("render_limit_3s")
async def test_a_chart_rendering_without_end_fails_itself_within_its_render_bound(
    engine: Engine,
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    shared = helper(engine)
    ended = shared.ended
    async with namespaces.temporary(kube) as other:
        hostile = _hostile(namespace, "spin")
        await _release_hostile(kube, namespace, git_repos, http_git, unique_repo, hostile)
        await release(
            kube, other, git_repos, http_git, unique_repo, files=_files(other), ready=None
        )
        failed = await _failed_by_itself(kube, namespace, "of CPU time")
        said = condition(failed)["message"]
        # Alone, its bound is CPU time: a loaded machine convicts no chart.
        bound = bounds.render(40)
        assert bound == 3
        assert f"rendering the chart's templates took more than {bound:g}s of CPU time" in said
        await wait_hr(kube, other, NAME, "True", "InstallSucceeded", timeout=180)
        assert await _helper_ended_events(kube, other, NAME) <= 1
        # The retries rendered in helpers of their own: the shared one ended once.
        assert shared.ended == ended + 1
        await kube.patch(f"{HR.format(ns=other)}/{NAME}", {"spec": {"values": {"replicaCount": 1}}})
        await wait_hr(kube, other, NAME, "True", "UpgradeSucceeded", timeout=180)
        assert shared.ended == ended + 1
