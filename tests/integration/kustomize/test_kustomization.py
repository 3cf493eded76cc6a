"""The Kustomization controller end to end, on the real control plane with a real git
server: the PRD's `infrastructure` Kustomization goes Ready from the example
repository; removed manifests are pruned; a broken commit keeps the last good state;
manual edits are reverted within seconds, protected objects keep theirs and are
reported; dependencies wait; a tenant cannot escape its namespace."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from kidp_gitops.kube import KubeClient
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration.kustomize.helpers import (
    KS,
    example_files,
    exists,
    ks_status,
    kustomization,
    prd_infrastructure,
    ready,
    setup_source,
    wait_ready,
)
from tests.integration.source.helpers import create_secret, request_reconcile
from tests.integration.wait import until

pytestmark = pytest.mark.usefixtures("engine")


async def test_prd_infrastructure_end_to_end(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    sys_ns = f"{namespace}-sys"
    files = example_files(namespace)
    repo = await setup_source(kube, namespace, git_repos, http_git, unique_repo, files)
    await kube.create(KS.format(ns=namespace), prd_infrastructure(namespace))

    obj = await wait_ready(kube, namespace, "infrastructure", "True", "ReconciliationSucceeded")
    assert obj["status"]["lastAppliedRevision"].startswith("main@sha1:")
    ids = {e["id"] for e in obj["status"]["inventory"]["entries"]}
    assert f"{sys_ns}_kidp-operator_apps_Deployment" in ids
    assert "_brokers.kidp.dev_apiextensions.k8s.io_CustomResourceDefinition" in ids
    assert f"_{sys_ns}__Namespace" in ids
    deploy_path = f"/apis/apps/v1/namespaces/{sys_ns}/deployments/kidp-operator"
    deploy = await kube.get(deploy_path)
    labels = deploy["metadata"]["labels"]
    assert labels["kustomize.toolkit.fluxcd.io/name"] == "infrastructure"
    assert labels["kustomize.toolkit.fluxcd.io/namespace"] == namespace
    healthy = [c for c in obj["status"]["conditions"] if c["type"] == "Healthy"]
    assert healthy
    assert healthy[0]["status"] == "True"

    # A commit that removes a manifest prunes its object.
    broker = f"/apis/kidp.dev/v1/namespaces/{sys_ns}/brokers/events"
    assert await exists(kube, broker)
    with git_repos.worktree(repo, "main") as wt:
        wt.write(
            {
                "infrastructure/kustomization.yaml": files[
                    "infrastructure/kustomization.yaml"
                ].replace("  - base/brokers\n", "")
            }
        )
        removed = wt.commit("drop the broker")
        wt.push()
    await request_reconcile(kube, namespace, "kidp-infrastructure")
    await wait_ready(kube, namespace, "infrastructure", "True", revision=removed)
    await until(lambda: _not(exists(kube, broker)), 30, "the broker to be pruned")

    # A broken commit: Ready=False with the reason; the last good state stays applied.
    with git_repos.worktree(repo, "main") as wt:
        wt.write({"infrastructure/base/operators/deployment.yaml": "kind: [broken\n"})
        broken = wt.commit("break it")
        wt.push()
    await request_reconcile(kube, namespace, "kidp-infrastructure")
    failed = await wait_ready(
        kube, namespace, "infrastructure", "False", "BuildFailed", revision=broken
    )
    assert "deployment.yaml" in ready(failed)["message"]
    assert failed["status"]["lastAppliedRevision"].endswith(removed)
    assert await exists(kube, deploy_path)
    # A failure is a Warning (what an Alert of eventSeverity error receives).
    types = await until(
        lambda: event_types(kube, namespace, "infrastructure", "BuildFailed"), 30, "the event"
    )
    assert types == {"Warning"}


async def event_types(kube: KubeClient, namespace: str, name: str, reason: str) -> set[str]:
    """The types of the events with `reason` about Kustomization `name`."""
    events = await kube.get(f"/api/v1/namespaces/{namespace}/events")
    return {
        e["type"]
        for e in events["items"]
        if e["involvedObject"].get("kind") == "Kustomization"
        and e["involvedObject"].get("name") == name
        and e.get("reason") == reason
    }


async def _not(value: Any) -> bool:
    return not await value


async def test_manual_edit_is_reverted_and_protected_drift_is_reported(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    files = {
        "apps/web.yaml": _deployment("web", namespace, 2),
        "apps/guarded.yaml": _deployment(
            "guarded", namespace, 1, annotations={"flux.weave.works/ignore": "true"}
        ),
    }
    await setup_source(kube, namespace, git_repos, http_git, unique_repo, files)
    await kube.create(KS.format(ns=namespace), kustomization("apps", "apps"))
    await wait_ready(kube, namespace, "apps")
    web = f"/apis/apps/v1/namespaces/{namespace}/deployments/web"
    guarded = f"/apis/apps/v1/namespaces/{namespace}/deployments/guarded"

    # kubectl scale/edit of a managed object: put back within seconds.
    await kube.patch(web, {"spec": {"replicas": 5}})

    async def reverted() -> bool:
        return bool((await kube.get(web))["spec"]["replicas"] == 2)

    await until(reverted, 15, "the manual edit to be reverted")

    # The event is recorded after the correction (the write that reverted it comes first).
    async def corrected() -> list[dict[str, Any]]:
        events = await kube.get(f"/api/v1/namespaces/{namespace}/events")
        return [e for e in events["items"] if e["reason"] == "DriftCorrected"]

    found = await until(corrected, 15, "the DriftCorrected event")
    assert "spec.replicas" in found[-1]["message"]

    # The same edit on a protected object: kept, and reported.
    await kube.patch(guarded, {"spec": {"replicas": 4}})

    async def reported() -> dict[str, Any] | None:
        obj = await ks_status(kube, namespace, "apps")
        drifted = [c for c in obj["status"].get("conditions", []) if c["type"] == "Drifted"]
        return obj if drifted and drifted[0]["status"] == "True" else None

    obj = await until(reported, 15, "the Drifted condition")
    drifted = next(c for c in obj["status"]["conditions"] if c["type"] == "Drifted")
    assert "guarded" in drifted["message"]
    assert "spec.replicas" in drifted["message"]
    assert (await kube.get(guarded))["spec"]["replicas"] == 4


def _deployment(
    name: str, namespace: str, replicas: int, annotations: dict[str, str] | None = None
) -> str:
    obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": namespace,
            **({"annotations": annotations} if annotations else {}),
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": name, "image": "nginx:1.27"}]},
            },
        },
    }
    return yaml.safe_dump(obj)


async def test_depends_on_waits_then_proceeds(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    files = {"a/cm.yaml": _configmap("a", namespace), "b/cm.yaml": _configmap("b", namespace)}
    await setup_source(kube, namespace, git_repos, http_git, unique_repo, files)
    await kube.create(KS.format(ns=namespace), kustomization("b", "b", dependsOn=[{"name": "a"}]))
    waiting = await wait_ready(kube, namespace, "b", "False", "DependencyNotReady")
    assert "'Kustomization/" in ready(waiting)["message"]
    # Waiting is expected, not a failure: a Normal event.
    types = await until(
        lambda: event_types(kube, namespace, "b", "DependencyNotReady"), 30, "the wait's event"
    )
    assert types == {"Normal"}
    await kube.create(KS.format(ns=namespace), kustomization("a", "a"))
    await wait_ready(kube, namespace, "a")
    await wait_ready(kube, namespace, "b", timeout=30)


def _configmap(name: str, namespace: str) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace},
            "data": {"k": "v"},
        }
    )


async def test_a_tenant_cannot_leave_its_namespace(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    files = {
        "tenant/cm.yaml": _configmap("mine", namespace),
        "tenant/ns.yaml": yaml.safe_dump(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"{namespace}-escape"}}
        ),
    }
    await setup_source(kube, namespace, git_repos, http_git, unique_repo, files)
    await kube.create(
        f"/api/v1/namespaces/{namespace}/serviceaccounts", {"metadata": {"name": "tenant"}}
    )
    rbac = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}"
    await kube.create(
        f"{rbac}/rolebindings",
        {
            "metadata": {"name": "tenant-admin"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "admin",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "tenant", "namespace": namespace}],
        },
    )
    await kube.create(
        KS.format(ns=namespace), kustomization("tenant", "tenant", serviceAccountName="tenant")
    )
    failed = await wait_ready(kube, namespace, "tenant", "False", "ReconciliationFailed")
    message = ready(failed)["message"]
    assert f"system:serviceaccount:{namespace}:tenant" in message
    assert "namespaces" in message
    assert not await exists(kube, f"/api/v1/namespaces/{namespace}-escape")
    assert not await exists(kube, f"/api/v1/namespaces/{namespace}/configmaps/mine")


async def test_a_sops_encrypted_secret_is_applied_decrypted(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
    tmp_path: Path,
) -> None:
    import pyrage  # type: ignore[import-untyped]

    from tests.unit.sops.conftest import Sops

    identity = pyrage.x25519.Identity.generate()
    secret = yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "db", "namespace": namespace},
            "stringData": {"password": "s3cr3t-value"},
        }
    )
    # The PRD's .sops.yaml rule: only data and stringData are encrypted.
    encrypted = Sops(tmp_path, None).encrypt(
        secret,
        "secret.yaml",
        age=[str(identity.to_public())],
        args=["--encrypted-regex", "^(data|stringData)$"],
    )
    assert b"s3cr3t-value" not in encrypted
    repo = await setup_source(
        kube, namespace, git_repos, http_git, unique_repo, {"secrets/db.yaml": encrypted.decode()}
    )
    await create_secret(kube, namespace, "sops-age", {"age.agekey": f"{identity}\n"})
    decryption = {"provider": "sops", "secretRef": {"name": "sops-age"}}
    await kube.create(
        KS.format(ns=namespace), kustomization("secrets", "secrets", decryption=decryption)
    )
    await wait_ready(kube, namespace, "secrets")
    applied = await kube.get(f"/api/v1/namespaces/{namespace}/secrets/db")
    assert base64.b64decode(applied["data"]["password"]) == b"s3cr3t-value"
    assert "sops" not in applied.get("metadata", {}).get("annotations", {})

    # A commit encrypted for another key: nothing is applied, the file is named (never
    # the value), and the last good Secret stays.
    other = pyrage.x25519.Identity.generate()
    changed = Sops(tmp_path, None).encrypt(
        secret.replace("s3cr3t-value", "n3w-value"),
        "secret2.yaml",
        age=[str(other.to_public())],
        args=["--encrypted-regex", "^(data|stringData)$"],
    )
    with git_repos.worktree(repo, "main") as wt:
        wt.write({"secrets/db.yaml": changed.decode()})
        new = wt.commit("rotate")
        wt.push()
    await request_reconcile(kube, namespace, "kidp-infrastructure")
    failed = await wait_ready(kube, namespace, "secrets", "False", "DecryptionFailed", revision=new)
    assert "Secret" in ready(failed)["message"]
    assert "value" not in ready(failed)["message"]
    kept = await kube.get(f"/api/v1/namespaces/{namespace}/secrets/db")
    assert base64.b64decode(kept["data"]["password"]) == b"s3cr3t-value"


async def test_a_new_revision_is_not_blocked_behind_a_health_check(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    stuck = yaml.safe_load(_deployment("app", namespace, 1))
    # No node matches: the pods stay Pending and the Deployment never becomes Available.
    stuck["spec"]["template"]["spec"]["nodeSelector"] = {"kidp.dev/nowhere": "true"}
    repo = await setup_source(
        kube, namespace, git_repos, http_git, unique_repo, {"apps/app.yaml": yaml.safe_dump(stuck)}
    )
    await kube.create(
        KS.format(ns=namespace), kustomization("apps", "apps", wait=True, timeout="10m")
    )

    async def checking_health() -> bool:
        obj = await ks_status(kube, namespace, "apps")
        return "health checks" in ready(obj).get("message", "")

    await until(checking_health, 30, "the health check to start")
    with git_repos.worktree(repo, "main") as wt:
        wt.write({"apps/app.yaml": _deployment("app", namespace, 1)})
        fixed = wt.commit("schedule anywhere")
        wt.push()
    began = time.monotonic()
    await request_reconcile(kube, namespace, "kidp-infrastructure")
    obj = await wait_ready(kube, namespace, "apps", "True", revision=fixed, timeout=60)
    assert obj["status"]["lastAppliedRevision"].endswith(fixed)
    assert time.monotonic() - began < 60  # far less than the 10m health-check timeout
