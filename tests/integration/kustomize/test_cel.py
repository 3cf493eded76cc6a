"""CEL in a Kustomization, on the real control plane: `healthCheckExprs` decide the
health of a custom resource from its status (waiting, failed, then healthy); an
expression that does not compile stalls the Kustomization with an event; a dependency's
`readyExpr` replaces the Ready condition as the test of readiness."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import yaml

from kidp_gitops.kube import KubeClient
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration.kustomize.helpers import (
    KS,
    configmap,
    ks_status,
    kustomization,
    manifests,
    ready,
    setup_source,
    wait_ready,
)
from tests.integration.kustomize.test_kustomization import event_types
from tests.integration.wait import until

pytestmark = pytest.mark.usefixtures("engine")

READY_TRUE = "status.conditions.exists(c, c.type == 'Ready' && c.status == 'True')"
BROKEN = "status.conditions.exists(c, c.type == 'Ready' && c.reason == 'Broken')"


def _widget_crd(group: str) -> dict[str, Any]:
    """A CRD of kind Widget, with a status subresource that only the test writes."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                        }
                    },
                }
            ],
        },
    }


async def test_health_check_exprs_judge_a_custom_resource_by_its_status(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    group = f"{namespace}.cel.kidp.test"
    widget = {
        "apiVersion": f"{group}/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "namespace": namespace},
        "spec": {"size": 1},
    }
    files = {
        "apps/crd.yaml": yaml.safe_dump(_widget_crd(group)),
        "apps/widget.yaml": yaml.safe_dump(widget),
    }
    await setup_source(kube, namespace, git_repos, http_git, unique_repo, files)
    check = {"apiVersion": f"{group}/v1", "kind": "Widget", "current": READY_TRUE}
    await kube.create(
        KS.format(ns=namespace),
        kustomization(
            "apps",
            "apps",
            wait=True,
            timeout="5m",
            retryInterval="2s",
            healthCheckExprs=[{**check, "failed": BROKEN}],
        ),
    )
    status_path = f"/apis/{group}/v1/namespaces/{namespace}/widgets/w/status"

    # Without a status, kstatus would call the Widget Current; the expression waits.
    async def checking_health() -> bool:
        obj = await ks_status(kube, namespace, "apps")
        return "Running health checks" in ready(obj).get("message", "")

    await until(checking_health, 60, "the health check to start")

    async def set_ready(status: str, reason: str) -> None:
        live = await kube.get(status_path)
        condition = {
            "type": "Ready",
            "status": status,
            "reason": reason,
            "message": reason,
            "lastTransitionTime": "2026-01-01T00:00:00Z",
        }
        await kube.patch(status_path, {"status": {"conditions": [condition]}})
        assert live["metadata"]["name"] == "w"

    await set_ready("False", "Broken")
    failed = await wait_ready(kube, namespace, "apps", "False", "HealthCheckFailed")
    assert f"Widget/{namespace}/w" in ready(failed)["message"]
    assert "'failed' is true" in ready(failed)["message"]

    await set_ready("True", "Working")
    healthy = await wait_ready(kube, namespace, "apps", "True", timeout=60)
    assert ready(healthy)["reason"] == "ReconciliationSucceeded"


async def test_an_expression_that_does_not_compile_stalls_with_an_event(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    files = manifests(configmap("a", namespace))
    await setup_source(kube, namespace, git_repos, http_git, unique_repo, files)
    bad = {"apiVersion": "example.com/v1", "kind": "Thing", "current": "status.phase =="}
    await kube.create(
        KS.format(ns=namespace), kustomization("apps", "apps", healthCheckExprs=[bad])
    )
    obj = await wait_ready(kube, namespace, "apps", "False", "InvalidCELExpression")
    assert ready(obj)["message"].startswith(
        "spec.healthCheckExprs[0].current: invalid CEL expression:"
    )
    stalled = [c for c in obj["status"]["conditions"] if c["type"] == "Stalled"]
    assert stalled[0]["status"] == "True"
    types = await until(
        lambda: event_types(kube, namespace, "apps", "InvalidCELExpression"), 30, "the event"
    )
    assert types == {"Warning"}
    # Nothing was applied.
    listed = await kube.get(f"/api/v1/namespaces/{namespace}/configmaps")
    assert "a" not in {c["metadata"]["name"] for c in listed["items"]}


async def test_ready_expr_decides_instead_of_the_ready_condition(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    files = {
        **manifests(configmap("b", namespace), directory="b"),
        **manifests(configmap("c", namespace), directory="c"),
    }
    await setup_source(kube, namespace, git_repos, http_git, unique_repo, files)
    # The dependency never becomes Ready (its path does not exist), but carries the
    # label the dependents' expressions look at.
    broken = kustomization("a", "missing")
    broken["metadata"]["labels"] = {"app/version": "2"}
    await kube.create(KS.format(ns=namespace), broken)
    await wait_ready(kube, namespace, "a", "False")

    same_version = "dep.metadata.labels['app/version'] == self.metadata.labels['app/version']"
    for name, version in (("b", "2"), ("c", "3")):
        dependent = kustomization(name, name, dependsOn=[{"name": "a", "readyExpr": same_version}])
        dependent["metadata"]["labels"] = {"app/version": version}
        await kube.create(KS.format(ns=namespace), dependent)

    await wait_ready(kube, namespace, "b", "True")
    waiting = await wait_ready(kube, namespace, "c", "False", "DependencyNotReady")
    assert ready(waiting)["message"].endswith("is not ready according to its readyExpr")
