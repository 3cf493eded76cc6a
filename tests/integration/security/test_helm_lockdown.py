"""A tenant's HelmRelease under Flux's lockdown flags (issue 11), on engines started with
and without them on the second control plane, where no other engine acts:

    --default-service-account   a release without serviceAccountName runs helm (and every
                                storage read) as that account of its namespace: RBAC
                                refuses a ClusterRoleBinding, or another namespace
    --no-cross-namespace-refs   a chart source or chartRef in another namespace is
                                refused before any HelmChart is written there

Each refusal has its positive control: the same release aimed at its own namespace is
Ready under lockdown, and without lockdown the refused route works.
"""

from __future__ import annotations

from collections.abc import Callable

from kidp_gitops.kube import ApiError, KubeClient
from kidp_gitops.runtime.tenancy import Lockdown
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration import namespaces
from tests.integration.engines import Engines
from tests.integration.helm.helpers import HC, HR, condition, release_secrets, wait_hr
from tests.integration.kustomize.helpers import exists, setup_source
from tests.integration.security.helpers import (
    CRB,
    grant_admin,
    helmrelease,
    tenant_charts,
    warned,
)

LOCKDOWN = Lockdown(no_cross_namespace_refs=True, default_service_account="default")


async def test_a_release_without_an_account_acts_as_the_default_one(
    bare_kube: KubeClient,
    bare_namespace: str,
    engines: Engines,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    kube, tenant = bare_kube, bare_namespace
    async with namespaces.temporary(kube, f"{tenant}-other") as other:
        await setup_source(kube, tenant, git_repos, http_git, unique_repo, tenant_charts())
        await grant_admin(kube, tenant, "default")
        await engines.start(LOCKDOWN)
        await kube.create(HR.format(ns=tenant), helmrelease("own", "plain"))
        await kube.create(HR.format(ns=tenant), helmrelease("escalate", "escalate"))
        await kube.create(
            HR.format(ns=tenant), helmrelease("elsewhere", "plain", targetNamespace=other)
        )

        # Its own namespace: the lockdown is not a blanket refusal.
        await wait_hr(kube, tenant, "own", "True", "InstallSucceeded")
        assert await exists(kube, f"/api/v1/namespaces/{tenant}/configmaps/own-cm")

        # Cluster scope: the chart's ClusterRoleBinding is refused by RBAC.
        refused = await wait_hr(kube, tenant, "escalate", "False", "InstallFailed")
        message = condition(refused)["message"]
        assert "forbidden" in message
        assert f"system:serviceaccount:{tenant}:default" in message
        assert not await exists(kube, f"{CRB}/{tenant}-escape")
        await warned(kube, tenant, "HelmRelease", "escalate", "InstallFailed")

        # Another namespace: not even Helm's storage there may be read; nothing installed.
        away = await wait_hr(kube, tenant, "elsewhere", "False", "GetLastReleaseFailed")
        message = condition(away)["message"]
        assert message.startswith(f"could not read release {other}/{other}-elsewhere from")
        assert f'User "system:serviceaccount:{tenant}:default" cannot list' in message
        cms = await kube.list(f"/api/v1/namespaces/{other}/configmaps")
        assert [c["metadata"]["name"] for c in cms["items"]] == ["kube-root-ca.crt"]
        assert not await release_secrets(kube, other, f"{other}-elsewhere")


async def test_a_chart_source_in_another_namespace_is_refused(
    bare_kube: KubeClient,
    bare_namespace: str,
    engines: Engines,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    kube, tenant = bare_kube, bare_namespace
    async with namespaces.temporary(kube, f"{tenant}-home") as home:
        await setup_source(kube, home, git_repos, http_git, unique_repo, tenant_charts())
        await engines.start(Lockdown(no_cross_namespace_refs=True))
        await kube.create(
            HR.format(ns=tenant), helmrelease("borrowed", "plain", source_namespace=home)
        )
        by_ref = helmrelease("by-ref", "plain")
        del by_ref["spec"]["chart"]
        by_ref["spec"]["chartRef"] = {"kind": "HelmChart", "name": "any", "namespace": home}
        await kube.create(HR.format(ns=tenant), by_ref)

        for name, target in (
            ("borrowed", f"GitRepository/{home}/kidp-infrastructure"),
            ("by-ref", f"HelmChart/{home}/any"),
        ):
            refused = await wait_hr(kube, tenant, name, "False", "AccessDenied")
            assert condition(refused, "Stalled")["status"] == "True"
            assert condition(refused)["message"] == (
                f"can't access '{target}', cross-namespace references have been blocked"
            )
            await warned(kube, tenant, "HelmRelease", name, "AccessDenied")
        charts = await kube.list(HC.format(ns=home))
        assert charts["items"] == []  # no HelmChart written where the tenant cannot reach
        assert not await release_secrets(kube, tenant, "borrowed")


async def test_without_lockdown_the_same_routes_work(
    bare_kube: KubeClient,
    bare_namespace: str,
    engines: Engines,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    """Flux's defaults: the routes refused above are real, so those tests can fail."""
    kube, tenant = bare_kube, bare_namespace
    async with namespaces.temporary(kube, f"{tenant}-home") as home:
        await setup_source(kube, home, git_repos, http_git, unique_repo, tenant_charts())
        await engines.start(Lockdown())
        await kube.create(
            HR.format(ns=tenant), helmrelease("borrowed", "plain", source_namespace=home)
        )
        await kube.create(
            HR.format(ns=tenant), helmrelease("escalate", "escalate", source_namespace=home)
        )
        try:
            await wait_hr(kube, tenant, "borrowed", "True", "InstallSucceeded")
            assert await exists(kube, f"{HC.format(ns=home)}/{tenant}-borrowed")
            await wait_hr(kube, tenant, "escalate", "True", "InstallSucceeded")
            assert await exists(kube, f"{CRB}/{tenant}-escape")
        finally:
            try:
                await kube.delete(f"{CRB}/{tenant}-escape")
            except ApiError as err:
                if not err.not_found:
                    raise
