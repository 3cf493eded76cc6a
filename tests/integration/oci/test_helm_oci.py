"""Helm charts in a registry: a chart pushed with the real `helm push` is installed
through a HelmRepository of `type: oci` and through `chartRef` to an OCIRepository, and a
new version in the range upgrades the release."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kidp_gitops.kube import KubeClient
from kidp_gitops.source import helmoci
from tests.integration.helm.helpers import HC, HR, wait_hr
from tests.integration.image.registry import Registry
from tests.integration.oci.helpers import create_ocirepository, request_reconcile
from tests.integration.source.helmrepos import chart_files, create, helm, wait_ready, write_tree
from tests.integration.wait import until_object

pytestmark = pytest.mark.usefixtures("engine")


def publish(root: Path, repository: str, version: str, greeting: str) -> None:
    """`helm package` a small chart and `helm push` it to `repository` (plain HTTP)."""
    src = root / f"hello-{version}"
    write_tree(src, chart_files("hello", version, {"greeting": greeting}))
    helm("package", str(src), "--destination", str(root))
    helm("push", str(root / f"hello-{version}.tgz"), repository, "--plain-http")


async def greeting(kube: KubeClient, namespace: str, value: str) -> None:
    def check(cm: dict[str, Any] | None) -> bool:
        return bool(((cm or {}).get("data") or {}).get("greeting") == value)

    path = f"/api/v1/namespaces/{namespace}/configmaps/hello"
    await until_object(kube, path, check, 120, f"ConfigMap hello greeting={value}")


def at_version(version: str) -> Any:
    def check(obj: dict[str, Any]) -> bool:
        history = (obj.get("status") or {}).get("history") or [{}]
        return bool(history[0].get("chartVersion") == version)

    return check


async def test_a_chart_pushed_with_helm_installs_and_upgrades_through_an_oci_helmrepository(
    kube: KubeClient, namespace: str, registry: Registry, tmp_path: Path
) -> None:
    repository = f"oci://{registry.host}/{namespace}/charts"
    publish(tmp_path, repository, "1.0.0", "hello")
    await create(
        kube,
        "HelmRepository",
        namespace,
        "charts",
        {"interval": "1h", "url": repository, "type": "oci", "insecure": True},
    )
    await wait_ready(kube, "HelmRepository", namespace, "charts")
    release = {
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {"name": "hello"},
        "spec": {
            "interval": "1h",
            "chart": {
                "spec": {
                    "chart": "hello",
                    "version": ">=1.0.0 <2.0.0",
                    "sourceRef": {"kind": "HelmRepository", "name": "charts"},
                    "interval": "1h",
                }
            },
        },
    }
    await kube.create(HR.format(ns=namespace), release)
    await wait_hr(kube, namespace, "hello", check=at_version("1.0.0"))
    await greeting(kube, namespace, "hello")

    # A new version in the range, and one out of it: the release moves to the first.
    publish(tmp_path, repository, "1.1.0", "hola")
    publish(tmp_path, repository, "2.0.0", "out of range")
    await kube.patch(
        f"{HC.format(ns=namespace)}/{namespace}-hello",
        {"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": "now"}}},
    )
    await wait_hr(kube, namespace, "hello", check=at_version("1.1.0"))
    await greeting(kube, namespace, "hola")


async def test_a_chart_ref_to_an_ocirepository_installs_and_upgrades(
    kube: KubeClient, namespace: str, registry: Registry, tmp_path: Path
) -> None:
    repository = f"oci://{registry.host}/{namespace}/charts"
    publish(tmp_path, repository, "1.0.0", "hello")
    await create_ocirepository(
        kube,
        namespace,
        "hello",
        {
            "url": f"{repository}/hello",
            "ref": {"semver": "1.x"},
            "layerSelector": {"mediaType": helmoci.CHART_MEDIA_TYPE, "operation": "copy"},
        },
    )
    release = {
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {"name": "hello"},
        "spec": {"interval": "1h", "chartRef": {"kind": "OCIRepository", "name": "hello"}},
    }
    await kube.create(HR.format(ns=namespace), release)
    await wait_hr(kube, namespace, "hello", check=at_version("1.0.0"))
    await greeting(kube, namespace, "hello")

    publish(tmp_path, repository, "1.1.0", "hola")
    await request_reconcile(kube, namespace, "hello")
    await wait_hr(kube, namespace, "hello", check=at_version("1.1.0"))
    await greeting(kube, namespace, "hola")
