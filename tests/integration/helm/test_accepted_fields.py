"""Fields helm-controller 1.6 accepts with no effect, accepted the same way on the real
control plane with the real helm: `rollback.recreate` (deprecated since Flux 2.8: helm v4
has no pod restarts) says so in a Warning event when a rollback runs, and
`persistentClient` (nothing to choose with one helm process per action) releases as
usual."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from kidp_gitops.kube import KubeClient
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration.helm.helpers import (
    HR,
    NAME,
    condition,
    event_reasons,
    prd_release,
    release,
    wait_hr,
)

pytestmark = pytest.mark.usefixtures("engine")


async def test_rollback_recreate_is_deprecated_and_said_so_when_rolling_back(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    hr = prd_release(namespace)
    hr["spec"]["persistentClient"] = False
    hr["spec"]["rollback"] = {"recreate": True}
    hr["spec"]["upgrade"] = {"remediation": {"retries": 0, "remediateLastFailure": True}}
    obj = await release(kube, namespace, git_repos, http_git, unique_repo, hr=hr)
    assert not condition(obj, "Stalled")
    assert "DeprecatedField" not in await event_reasons(kube, namespace)  # no rollback yet

    await kube.patch(
        f"{HR.format(ns=namespace)}/{NAME}", {"spec": {"values": {"replicaCount": "many"}}}
    )
    await wait_hr(
        kube,
        namespace,
        NAME,
        "False",
        "UpgradeFailed",
        lambda o: condition(o, "Stalled").get("status") == "True",
    )
    reasons = await event_reasons(kube, namespace)
    assert "RollbackSucceeded" in reasons
    assert "DeprecatedField" in reasons
    events = await kube.list(
        f"/api/v1/namespaces/{namespace}/events",
        params={"fieldSelector": f"involvedObject.name={NAME},reason=DeprecatedField"},
    )
    assert "spec.rollback.recreate" in events["items"][0]["message"]
    assert events["items"][0]["type"] == "Warning"
