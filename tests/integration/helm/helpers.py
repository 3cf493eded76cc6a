"""HelmReleases for the Helm controller's tests, and waiting on them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml

from kidp_gitops.kube import KubeClient
from tests.integration.kustomize.helpers import EXAMPLE
from tests.integration.wait import until

HR = "/apis/helm.toolkit.fluxcd.io/v2/namespaces/{ns}/helmreleases"
HC = "/apis/source.toolkit.fluxcd.io/v1/namespaces/{ns}/helmcharts"
DEPLOY = "/apis/apps/v1/namespaces/{ns}/deployments/{name}"


def prd_release(namespace: str) -> dict[str, Any]:
    """The PRD's HelmRelease from the example repository, in the test's namespace."""
    hr = yaml.safe_load((EXAMPLE / "releases" / "operators.yaml").read_text())
    hr["metadata"]["namespace"] = namespace
    return dict(hr)


def condition(obj: dict[str, Any], kind: str = "Ready") -> dict[str, Any]:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c["type"] == kind:
            return dict(c)
    return {}


async def wait_hr(
    kube: KubeClient,
    namespace: str,
    name: str,
    status: str = "True",
    reason: str | None = None,
    check: Callable[[dict[str, Any]], bool] | None = None,
    timeout: float = 120,
) -> dict[str, Any]:
    seen: list[dict[str, Any]] = []

    async def probe() -> dict[str, Any] | None:
        obj = await kube.get(f"{HR.format(ns=namespace)}/{name}")
        seen[:] = [obj]
        c = condition(obj)
        current = (obj.get("status") or {}).get("observedGeneration") == obj["metadata"].get(
            "generation"
        )
        ok = current and c.get("status") == status and reason in (None, c.get("reason"))
        return obj if ok and (check is None or check(obj)) else None

    try:
        return await until(probe, timeout, f"HelmRelease {name} Ready={status} {reason or ''}")
    except AssertionError as err:
        last = (seen[0].get("status") if seen else None) or {}
        raise AssertionError(f"{err}; status: {last}") from None


async def release_secrets(kube: KubeClient, namespace: str, name: str) -> list[dict[str, Any]]:
    listed = await kube.list(
        f"/api/v1/namespaces/{namespace}/secrets",
        params={"labelSelector": f"owner=helm,name={name}"},
    )
    return list(listed.get("items") or [])
