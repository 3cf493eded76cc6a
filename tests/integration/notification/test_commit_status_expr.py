"""A Provider's `commitStatusExpr` on the real control plane: the GitLab commit status
of an applied commit is named by the expression (over `event`, `alert`, `provider`); a
Provider whose expression is not a string sends nothing, and its Alert records why."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from kidp_gitops.kube import KubeClient
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration.kustomize.helpers import (
    KS,
    configmap,
    kustomization,
    manifests,
    setup_source,
)
from tests.integration.kustomize.helpers import wait_ready as wait_ks
from tests.integration.notification.helpers import create, events_of, inbox, wait_ready
from tests.integration.source.helpers import create_secret
from tests.integration.wait import until

pytestmark = pytest.mark.usefixtures("engine")


async def test_the_commit_status_is_named_by_the_expression(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    async with inbox() as box:
        await create_secret(kube, namespace, "gitlab-token", {"token": "glpat-test"})
        spec = {
            "type": "gitlab",
            "address": f"{box.url}/group/app",
            "secretRef": {"name": "gitlab-token"},
            "commitStatusExpr": "event.involvedObject.kind + '/' + event.involvedObject.name"
            " + '@' + alert.metadata.name + '/' + provider.spec.type",
        }
        await create(kube, namespace, "Provider", "gitlab", spec, "v1beta3")
        bad = {**spec, "commitStatusExpr": "event.involvedObject.name == 'apps'"}
        await create(kube, namespace, "Provider", "bad", bad, "v1beta3")
        sources = [{"kind": "Kustomization", "name": "apps"}]
        for name, provider in (("ci", "gitlab"), ("other", "bad")):
            alert = {"providerRef": {"name": provider}, "eventSources": sources}
            await create(kube, namespace, "Alert", name, alert, "v1beta3")
            await wait_ready(kube, namespace, "Alert", name)

        files = manifests(configmap("a", namespace))
        await setup_source(kube, namespace, git_repos, http_git, unique_repo, files)
        await kube.create(KS.format(ns=namespace), kustomization("apps", "apps"))
        applied = await wait_ks(kube, namespace, "apps")
        sha = applied["status"]["lastAppliedRevision"].rsplit(":", 1)[-1]

        # The project's path is one escaped segment; the server sees it unescaped.
        status = await box.wait(
            f"/api/v4/projects/group/app/statuses/{sha}", lambda r: True, "the commit status"
        )
        assert status.json()["name"] == "Kustomization/apps@ci/gitlab"

        async def failed() -> list[str]:
            events = await events_of(kube, namespace, "Alert", "other")
            return [e["message"] for e in events if e["reason"] == "NotificationFailed"]

        (message, *_) = await until(failed, 30, "the NotificationFailed event")
        assert message == (
            "failed to send notification to provider 'bad': spec.commitStatusExpr: the "
            "expression must return a string, not BOOL"
        )
        # Only the good Provider's statuses: the other sent none under another name.
        assert {r.json()["name"] for r in box.received} == {"Kustomization/apps@ci/gitlab"}
