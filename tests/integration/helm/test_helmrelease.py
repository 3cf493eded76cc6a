"""The Helm controller end to end, on the real control plane with a real git server,
the source controller's real HelmChart reconciler and the real helm: the PRD's
HelmRelease installs its chart from the GitRepository and goes Ready; a values change
upgrades the release; an unchanged release is left alone; a broken chart keeps the last
release and says why; valuesFrom feeds values; deleting the HelmRelease uninstalls; a
Kustomization that depends on the HelmRelease waits for it."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Callable
from typing import Any

import pytest

from kidp_gitops.kube import KubeClient
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration.helm.helpers import (
    DEPLOY,
    HC,
    HR,
    NAME,
    HelmRuns,
    condition,
    event_reasons,
    handled,
    prd_release,
    release,
    release_secrets,
    request,
    wait_hr,
)
from tests.integration.kustomize.helpers import KS, example_files, exists, setup_source
from tests.integration.kustomize.helpers import wait_ready as wait_ks
from tests.integration.source.helpers import request_reconcile
from tests.integration.wait import until

pytestmark = pytest.mark.usefixtures("engine")


def latest_version(obj: dict[str, Any]) -> int:
    history = (obj.get("status") or {}).get("history") or []
    return int(history[0]["version"]) if history else 0


async def available(kube: KubeClient, namespace: str, replicas: int) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        dep = await kube.get(DEPLOY.format(ns=namespace, name=NAME))
        st = dep.get("status") or {}
        ok = dep["spec"]["replicas"] == replicas and st.get("availableReplicas") == replicas
        return dep if ok else None

    return await until(probe, 60, f"Deployment {NAME} with {replicas} available replicas")


async def test_prd_helmrelease_installs_upgrades_and_stays_put(
    helm_runs: HelmRuns,
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    obj = await release(kube, namespace, git_repos, http_git, unique_repo)
    st = obj["status"]
    assert st["helmChart"] == f"{namespace}/{namespace}-{NAME}"
    assert st["lastAttemptedRevision"] == "0.1.0"
    assert st["lastAttemptedConfigDigest"].startswith("sha256:")
    assert st["storageNamespace"] == namespace
    (snapshot,) = st["history"]
    assert (snapshot["name"], snapshot["version"], snapshot["status"]) == (NAME, 1, "deployed")
    assert (snapshot["chartName"], snapshot["chartVersion"]) == ("operators", "0.1.0")
    assert f"{namespace}/{NAME}.v1" in condition(obj)["message"]
    dep = await available(kube, namespace, 3)
    container = dep["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "ghcr.io/kidp/operators:v1.0.0"

    chart = await kube.get(f"{HC.format(ns=namespace)}/{namespace}-{NAME}")
    assert chart["spec"]["chart"] == "./charts/operators"
    assert chart["spec"]["sourceRef"] == {"kind": "GitRepository", "name": "kidp-infrastructure"}
    assert chart["metadata"]["labels"]["helm.toolkit.fluxcd.io/name"] == NAME

    # A values change upgrades the release: a new revision, the Deployment follows.
    await kube.patch(
        f"{HR.format(ns=namespace)}/{NAME}",
        {"spec": {"values": {"replicaCount": 2, "image": {"tag": "v1.1.0"}}}},
    )
    obj = await wait_hr(
        kube, namespace, NAME, "True", "UpgradeSucceeded", lambda o: latest_version(o) == 2
    )
    assert [h["version"] for h in obj["status"]["history"]] == [2, 1]
    dep = await available(kube, namespace, 2)
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":v1.1.0")

    # Nothing changed: a requested reconcile is handled without a new revision, and
    # without starting helm at all.
    started = helm_runs(namespace)
    stamp = await request(kube, namespace)
    obj = await wait_hr(kube, namespace, NAME, check=handled(stamp))
    assert latest_version(obj) == 2
    assert len(await release_secrets(kube, namespace, NAME)) == 2
    assert started == []


async def test_broken_chart_keeps_the_last_release_and_says_why(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    files = example_files(namespace)
    repo = await setup_source(kube, namespace, git_repos, http_git, unique_repo, files)
    await kube.create(HR.format(ns=namespace), prd_release(namespace))
    await wait_hr(kube, namespace, NAME, "True", "InstallSucceeded")
    await available(kube, namespace, 3)

    template = files["charts/operators/templates/deployment.yaml"]
    with git_repos.worktree(repo, "main") as wt:
        wt.write(
            {
                "charts/operators/Chart.yaml": files["charts/operators/Chart.yaml"].replace(
                    "version: 0.1.0", "version: 0.1.1"
                ),
                "charts/operators/templates/deployment.yaml": template.replace(
                    "{{ .Values.replicaCount }}", "{{ .Values.scaling.replicas.count }}"
                ),
            }
        )
        wt.commit("a chart that does not render")
        wt.push()
    await request_reconcile(kube, namespace, "kidp-infrastructure")

    obj = await wait_hr(kube, namespace, NAME, "False", "UpgradeFailed")
    message = condition(obj)["message"]
    assert f"Helm upgrade failed for release {namespace}/{NAME}" in message
    assert "replicas" in message  # helm's own words about the template
    assert obj["status"]["lastAttemptedRevision"] == "0.1.1"
    assert condition(obj, "Stalled").get("status") == "True"  # no retries configured
    # The last release stays deployed and its Deployment untouched.
    deployed = [
        s
        for s in await release_secrets(kube, namespace, NAME)
        if s["metadata"]["labels"]["status"] == "deployed"
    ]
    assert [s["metadata"]["labels"]["version"] for s in deployed] == ["1"]
    await available(kube, namespace, 3)
    assert "UpgradeFailed" in await event_reasons(kube, namespace)


async def test_failed_upgrade_is_retried_then_rolled_back(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    hr = prd_release(namespace)
    hr["spec"]["upgrade"] = {"remediation": {"retries": 1}}
    await release(kube, namespace, git_repos, http_git, unique_repo, hr=hr)

    # Values the API server refuses: the upgrade fails, is rolled back, retried once,
    # rolled back again, and then the release is Stalled.
    await kube.patch(
        f"{HR.format(ns=namespace)}/{NAME}", {"spec": {"values": {"replicaCount": "many"}}}
    )
    obj = await wait_hr(
        kube, namespace, NAME, "False", "UpgradeFailed",
        lambda o: condition(o, "Stalled").get("status") == "True",
        timeout=180,
    )  # fmt: skip
    assert obj["status"]["upgradeFailures"] == 2
    assert "many" in condition(obj)["message"] or "replicas" in condition(obj)["message"]
    stored = await release_secrets(kube, namespace, NAME)
    newest = max(stored, key=lambda s: int(s["metadata"]["labels"]["version"]))
    assert newest["metadata"]["labels"]["status"] == "deployed"  # the rollback
    await available(kube, namespace, 3)
    assert "RollbackSucceeded" in await event_reasons(kube, namespace)

    # Fixing the values is a new attempt: upgraded and Ready again.
    await kube.patch(f"{HR.format(ns=namespace)}/{NAME}", {"spec": {"values": {"replicaCount": 2}}})
    obj = await wait_hr(kube, namespace, NAME, "True", "UpgradeSucceeded")
    assert "upgradeFailures" not in obj["status"]
    await available(kube, namespace, 2)


async def test_values_from_configmap_and_secret(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    hr = prd_release(namespace)
    hr["spec"]["values"] = {"image": {"tag": "v1.0.0"}}
    hr["spec"]["valuesFrom"] = [
        {"kind": "ConfigMap", "name": "operator-values"},
        {
            "kind": "Secret",
            "name": "operator-scale",
            "valuesKey": "n",
            "targetPath": "replicaCount",
        },
        {"kind": "ConfigMap", "name": "not-there", "optional": True},
    ]
    await release(kube, namespace, git_repos, http_git, unique_repo, hr=hr, ready=None)
    waiting = await wait_hr(kube, namespace, NAME, "False", "ValuesError")
    assert f"ConfigMap '{namespace}/operator-values'" in condition(waiting)["message"]

    await kube.create(
        f"/api/v1/namespaces/{namespace}/configmaps",
        {
            "metadata": {"name": "operator-values"},
            "data": {"values.yaml": "replicaCount: 5\nimage:\n  tag: v0.9.0\n"},
        },
    )
    await kube.create(
        f"/api/v1/namespaces/{namespace}/secrets",
        {"metadata": {"name": "operator-scale"}, "stringData": {"n": "4"}},
    )
    await request(kube, namespace)
    await wait_hr(kube, namespace, NAME, "True", "InstallSucceeded", timeout=180)
    dep = await available(kube, namespace, 4)  # the Secret's targetPath wins over the map
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":v1.0.0")


async def test_deleting_the_helmrelease_uninstalls_the_release(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    await release(kube, namespace, git_repos, http_git, unique_repo)
    assert await release_secrets(kube, namespace, NAME)

    await kube.delete(f"{HR.format(ns=namespace)}/{NAME}")

    async def gone() -> bool:
        return not await exists(kube, f"{HR.format(ns=namespace)}/{NAME}")

    await until(gone, 90, "the HelmRelease to be deleted")
    assert not await release_secrets(kube, namespace, NAME)
    assert not await exists(kube, f"{HC.format(ns=namespace)}/{namespace}-{NAME}")

    async def deployment_gone() -> bool:
        return not await exists(kube, DEPLOY.format(ns=namespace, name=NAME))

    await until(deployment_gone, 60, "the release's Deployment to be deleted")


async def test_kustomization_waits_for_the_helmrelease(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    files = example_files(namespace)
    files["apps/settings.yaml"] = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-settings\ndata:\n  a: b\n"
    )
    await setup_source(kube, namespace, git_repos, http_git, unique_repo, files)
    await kube.create(
        KS.format(ns=namespace),
        {
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": "apps"},
            "spec": {
                "interval": "5m",
                "path": "./apps",
                "prune": True,
                "targetNamespace": namespace,
                "dependsOn": [{"kind": "HelmRelease", "name": NAME}],
                "sourceRef": {"kind": "GitRepository", "name": "kidp-infrastructure"},
            },
        },
    )
    waiting = await wait_ks(kube, namespace, "apps", "False", "DependencyNotReady")
    assert f"HelmRelease/{namespace}/{NAME}" in condition(waiting)["message"]
    cm = f"/api/v1/namespaces/{namespace}/configmaps/app-settings"
    assert not await exists(kube, cm)

    await kube.create(HR.format(ns=namespace), prd_release(namespace))
    await wait_hr(kube, namespace, NAME, "True", "InstallSucceeded")
    await wait_ks(kube, namespace, "apps", "True", timeout=90)
    assert await exists(kube, cm)


async def test_helmrelease_waits_for_the_helmrelease_it_depends_on(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    later = prd_release(namespace)
    later["metadata"]["name"] = "later"
    later["spec"]["dependsOn"] = [{"name": NAME}]
    await release(kube, namespace, git_repos, http_git, unique_repo, hr=later, ready=None)
    waiting = await wait_hr(kube, namespace, "later", "False", "DependencyNotReady")
    assert f"'{namespace}/{NAME}'" in condition(waiting)["message"]
    assert not await release_secrets(kube, namespace, "later")

    await kube.create(HR.format(ns=namespace), prd_release(namespace))
    await wait_hr(kube, namespace, NAME, "True", "InstallSucceeded")
    await wait_hr(kube, namespace, "later", "True", "InstallSucceeded")


async def test_revision_left_pending_by_a_crash_is_unlocked(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    await release(kube, namespace, git_repos, http_git, unique_repo)

    # What a helm process killed mid-upgrade leaves: a newest revision pending-upgrade.
    (first,) = await release_secrets(kube, namespace, NAME)
    body = json.loads(gzip.decompress(base64.b64decode(base64.b64decode(first["data"]["release"]))))
    body["version"] = 2
    body["info"]["status"] = "pending-upgrade"
    packed = base64.b64encode(gzip.compress(json.dumps(body).encode()))
    labels = {**first["metadata"]["labels"], "version": "2", "status": "pending-upgrade"}
    await kube.create(
        f"/api/v1/namespaces/{namespace}/secrets",
        {
            "metadata": {"name": f"sh.helm.release.v1.{NAME}.v2", "labels": labels},
            "type": first["type"],
            "data": {"release": base64.b64encode(packed).decode()},
        },
    )

    await kube.patch(f"{HR.format(ns=namespace)}/{NAME}", {"spec": {"values": {"replicaCount": 1}}})
    obj = await wait_hr(kube, namespace, NAME, "True", "UpgradeSucceeded")
    assert obj["status"]["history"][0]["status"] == "deployed"
    await available(kube, namespace, 1)
    assert "ReleaseUnlocked" in await event_reasons(kube, namespace)
