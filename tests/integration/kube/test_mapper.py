"""Kinds resolve to API paths from discovery, including kinds that appear later."""

from __future__ import annotations

import pytest

from kidp_gitops.kube import KubeClient, RestMapper, UnknownKind
from tests.integration.wait import until


async def test_builtin_kinds_resolve(kube: KubeClient) -> None:
    mapper = RestMapper(kube)
    deploy = await mapper.resource("apps/v1", "Deployment")
    assert deploy.path("ns", "web") == "/apis/apps/v1/namespaces/ns/deployments/web"
    cm = await mapper.resource("v1", "ConfigMap")
    assert cm.path("ns") == "/api/v1/namespaces/ns/configmaps"
    ns = await mapper.resource("v1", "Namespace")
    assert not ns.namespaced
    assert ns.path("ignored", "x") == "/api/v1/namespaces/x"


async def test_a_new_crd_becomes_known_without_restart(kube: KubeClient) -> None:
    mapper = RestMapper(kube, min_refresh=0.0)
    with pytest.raises(UnknownKind, match="CustomResourceDefinition installed"):
        await mapper.resource("example.kidp.dev/v1", "Widget")
    await kube.create(
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        {
            "metadata": {"name": "widgets.example.kidp.dev"},
            "spec": {
                "group": "example.kidp.dev",
                "scope": "Namespaced",
                "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                "versions": [
                    {
                        "name": "v1",
                        "served": True,
                        "storage": True,
                        "schema": {
                            "openAPIV3Schema": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                            }
                        },
                    }
                ],
            },
        },
    )

    async def known() -> bool:
        try:
            await mapper.resource("example.kidp.dev/v1", "Widget")
        except UnknownKind:
            return False
        return True

    await until(known, 30, "Widget to appear in discovery")
    widget = await mapper.resource("example.kidp.dev/v1", "Widget")
    assert widget.path("a", "b") == "/apis/example.kidp.dev/v1/namespaces/a/widgets/b"
