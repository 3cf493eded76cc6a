"""ArtifactGenerators and their ExternalArtifacts, for the integration tests: creating
one, waiting on it, reading what it generated."""

from __future__ import annotations

from typing import Any

from kidp_gitops.kube import KubeClient
from tests.integration.source.helpers import condition
from tests.integration.wait import until_object

AG = "/apis/source.extensions.fluxcd.io/v1beta1/namespaces/{ns}/artifactgenerators"
EA = "/apis/source.toolkit.fluxcd.io/v1/namespaces/{ns}/externalartifacts"
GENERATOR_LABEL = "source.extensions.fluxcd.io/generator"


def generator(name: str, artifacts: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    """A generator `name` of `artifacts` from the GitRepository `src` (alias `repo`)."""
    return {
        "apiVersion": "source.extensions.fluxcd.io/v1beta1",
        "kind": "ArtifactGenerator",
        "metadata": {"name": name},
        "spec": {
            "sources": [{"alias": "repo", "kind": "GitRepository", "name": "src"}],
            "artifacts": artifacts,
            **spec,
        },
    }


async def external_artifact(kube: KubeClient, namespace: str, name: str) -> dict[str, Any]:
    return await kube.get(f"{EA.format(ns=namespace)}/{name}")


async def wait_generator(
    kube: KubeClient, namespace: str, name: str, status: str = "True", reason: str | None = None
) -> dict[str, Any]:
    def check(obj: dict[str, Any] | None) -> dict[str, Any] | None:
        if obj is None:
            return None
        ready = condition(obj)
        current = ready.get("observedGeneration") == obj["metadata"]["generation"]
        wanted = ready.get("status") == status and reason in (None, ready.get("reason"))
        return obj if current and wanted else None

    what = f"ArtifactGenerator {name} Ready={status} {reason or ''}"
    return await until_object(kube, f"{AG.format(ns=namespace)}/{name}", check, 60, what)
