"""`kidp install` on the real control plane: CRDs served with printer columns, every
PRD manifest of our kinds accepted by the API server as written, bad input rejected."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
from typer.testing import CliRunner

from kidp_gitops.api import resources
from kidp_gitops.cli.main import app
from kidp_gitops.devcluster import DevCluster
from kidp_gitops.install import manifests
from kidp_gitops.kube import ApiError, KubeClient, RestMapper
from tests.integration.conftest import repo_root
from tests.unit.api import prd


def kubectl(cluster: DevCluster, *args: str) -> str:
    out = subprocess.run(
        [str(repo_root() / ".venv/bin/kubectl"), f"--kubeconfig={cluster.kubeconfig}", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_install_is_idempotent(installed: DevCluster) -> None:
    again = CliRunner().invoke(
        app, ["install", "--without-controllers", f"--kubeconfig={installed.kubeconfig}"]
    )
    assert again.exit_code == 0, again.output
    total = len(manifests.manifests(controllers=False))
    assert f"(0 changed, {total} unchanged)" in again.output


def test_export_prints_every_manifest_and_applies_nothing() -> None:
    result = CliRunner().invoke(app, ["install", "--export", "--kubeconfig=/nonexistent"])
    assert result.exit_code == 0
    kinds = [line for line in result.output.splitlines() if line.startswith("kind: ")]
    assert kinds.count("kind: CustomResourceDefinition") == len(resources.ALL)
    assert "kind: Deployment" in kinds


def prd_objects() -> list[prd.PrdDocument]:
    return [d for d in prd.documents() if d.role == "object"]


async def test_every_prd_manifest_of_our_kinds_applies(
    installed: DevCluster, kube: KubeClient
) -> None:
    docs = prd_objects()
    assert len(docs) >= 8, "the PRD's manifests were not found"
    mapper = RestMapper(kube)
    await mapper.refresh()
    namespaces = {d.data.get("metadata", {}).get("namespace") or "flux-system" for d in docs}
    for ns in namespaces:
        await kube.apply(
            f"/api/v1/namespaces/{ns}",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
            field_manager="kidp-tests",
        )
    for doc in docs:
        obj: dict[str, Any] = json.loads(json.dumps(doc.data))
        obj["metadata"].setdefault("namespace", "flux-system")
        obj["metadata"]["name"] = f"prd-{doc.block}-{doc.index}-{obj['metadata']['name']}"
        path = await mapper.path_for(obj)
        # Strict field validation: an unknown field would be an error, not dropped.
        applied = await kube.request(
            "PATCH",
            path,
            params={"fieldManager": "kidp-tests", "fieldValidation": "Strict"},
            body=obj,
            content_type="application/apply-patch+yaml",
        )
        assert applied["kind"] == obj["kind"], doc.id


@pytest.mark.parametrize(
    ("field", "value", "complaint"),
    [
        ("prune", "yes please", "spec.prune"),
        ("interval", "5 minutes", "spec.interval"),
    ],
)
async def test_a_wrong_field_type_is_rejected_clearly(
    installed: DevCluster, kube: KubeClient, field: str, value: str, complaint: str
) -> None:
    spec: dict[str, Any] = {
        "interval": "5m",
        "path": "./x",
        "prune": True,
        "sourceRef": {"kind": "GitRepository", "name": "r"},
    }
    spec[field] = value
    obj = {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": "bad", "namespace": "flux-system"},
        "spec": spec,
    }
    # Created as `kubectl create` does: a 422 naming the field and the expected type.
    with pytest.raises(ApiError) as rejected:
        await kube.create(
            "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/flux-system/kustomizations", obj
        )
    assert rejected.value.status == 422
    assert complaint in rejected.value.message
    # Server-side apply refuses it too (the API server answers 500 there, its message
    # still names the field).
    with pytest.raises(ApiError) as applied:
        await kube.apply(
            "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/flux-system/kustomizations/bad",
            obj,
            field_manager="kidp-tests",
        )
    assert complaint in applied.value.message


async def test_kubectl_shows_the_printer_columns(
    installed: DevCluster, kube: KubeClient, namespace: str
) -> None:
    # One object of each kind of its own: the other tests' objects may be gone, or on
    # the other worker's control plane, when this test runs.
    source = {"kind": "GitRepository", "name": "columns"}
    objects: list[tuple[str, str, str, dict[str, Any]]] = [
        (
            "source.toolkit.fluxcd.io/v1",
            "GitRepository",
            "gitrepositories",
            {"interval": "1h", "url": "https://example.invalid/columns.git"},
        ),
        (
            "kustomize.toolkit.fluxcd.io/v1",
            "Kustomization",
            "kustomizations",
            {"interval": "1h", "path": "./", "prune": True, "sourceRef": source, "suspend": True},
        ),
        (
            "helm.toolkit.fluxcd.io/v2",
            "HelmRelease",
            "helmreleases",
            {
                "interval": "1h",
                "suspend": True,
                "chart": {
                    "spec": {"chart": "c", "sourceRef": {**source, "kind": "HelmRepository"}}
                },
            },
        ),
    ]
    for group_version, kind, plural, spec in objects:
        await kube.create(
            f"/apis/{group_version}/namespaces/{namespace}/{plural}",
            {
                "apiVersion": group_version,
                "kind": kind,
                "metadata": {"name": "columns", "namespace": namespace},
                "spec": spec,
            },
        )
    out = kubectl(installed, "get", "gitrepositories,kustomizations,helmreleases", "-A")
    header_lines = [line for line in out.splitlines() if line.startswith("NAMESPACE")]
    assert header_lines, out
    for header in header_lines:
        for column in ("AGE", "READY", "STATUS"):
            assert column in header.split(), header
    short = kubectl(installed, "get", "gitrepo,ks,hr", "-A", "-o", "name")
    assert "gitrepository" in short
