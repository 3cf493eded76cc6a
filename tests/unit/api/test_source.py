from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from kidp_gitops.api import source


def _git(**spec: Any) -> source.GitRepositorySpec:
    return source.GitRepositorySpec.model_validate({"url": "https://github.com/org/repo", **spec})


def test_git_repository_defaults() -> None:
    spec = _git()
    assert spec.interval == "1m"
    assert spec.timeout == "60s"
    assert spec.ref is None
    assert not spec.suspend
    assert not spec.recurse_submodules


def test_git_repository_full_spec() -> None:
    spec = _git(
        interval="10m",
        timeout="2m",
        ref={
            "branch": "main",
            "tag": "v1",
            "semver": ">=1.0.0",
            "name": "refs/heads/x",
            "commit": "abc",
        },
        verify={"mode": "TagAndHEAD", "secretRef": {"name": "keys"}},
        proxySecretRef={"name": "proxy"},
        ignore="/*\n!/deploy",
        include=[{"repository": {"name": "other"}, "fromPath": "a"}],
        sparseCheckout=["deploy"],
        provider="github",
        recurseSubmodules=True,
    )
    assert spec.ref is not None
    assert spec.ref.semver == ">=1.0.0"
    assert spec.include[0].effective_to_path() == "other"
    assert spec.verify is not None
    assert spec.verify.mode == "TagAndHEAD"
    assert (
        source.GitRepositoryVerification.model_validate({"secretRef": {"name": "k"}}).mode == "HEAD"
    )


@pytest.mark.parametrize(
    "url", ["git@github.com:org/repo.git", "ftp://host/repo", "github.com/org/repo"]
)
def test_git_repository_url_scheme(url: str) -> None:
    with pytest.raises(ValidationError, match="url"):
        source.GitRepositorySpec.model_validate({"url": url})


def test_git_timeout_has_no_hours() -> None:
    with pytest.raises(ValidationError, match="timeout"):
        _git(timeout="1h")


def test_git_repository_status_reads_flux_status() -> None:
    status = source.GitRepositoryStatus.model_validate(
        {
            "observedGeneration": 2,
            "artifact": {
                "path": "gitrepository/flux-system/repo/abc.tar.gz",
                "url": "http://source/gitrepository/flux-system/repo/abc.tar.gz",
                "revision": "main@sha1:abc",
                "digest": "sha256:def",
                "lastUpdateTime": "2024-05-01T10:00:00Z",
                "size": 10,
            },
            "includedArtifacts": [],
            "observedIgnore": "/*",
            "observedRecurseSubmodules": True,
            "observedInclude": [{"repository": {"name": "other"}}],
            "observedSparseCheckout": ["deploy"],
            "sourceVerificationMode": "HEAD",
            "lastHandledReconcileAt": "2024-05-01T10:00:00Z",
        }
    )
    assert status.artifact is not None
    assert status.artifact.revision == "main@sha1:abc"
    assert status.last_handled_reconcile_at == "2024-05-01T10:00:00Z"


def test_helm_repository_defaults_and_oci() -> None:
    spec = source.HelmRepositorySpec.model_validate({"url": "https://charts.example.com"})
    assert spec.effective_interval() == "1m"
    assert spec.effective_timeout() == "60s"
    assert spec.provider == "generic"
    assert not spec.is_oci
    oci = source.HelmRepositorySpec.model_validate(
        {
            "url": "oci://ghcr.io/org/charts",
            "type": "oci",
            "provider": "aws",
            "insecure": True,
            "certSecretRef": {"name": "tls"},
            "accessFrom": {"namespaceSelectors": [{"matchLabels": {"team": "a"}}]},
            "passCredentials": True,
        }
    )
    assert oci.is_oci
    with pytest.raises(ValidationError, match="oci://"):
        source.HelmRepositorySpec.model_validate({"url": "https://x", "type": "oci"})
    with pytest.raises(ValidationError, match="type"):
        source.HelmRepositorySpec.model_validate({"url": "https://x", "type": "git"})


def test_helm_chart_defaults_and_source_kinds() -> None:
    spec = source.HelmChartSpec.model_validate(
        {"chart": "podinfo", "sourceRef": {"kind": "HelmRepository", "name": "r"}, "interval": "5m"}
    )
    assert spec.version == "*"
    assert spec.reconcile_strategy == "ChartVersion"
    assert spec.all_values_files() == []
    with pytest.raises(ValidationError, match=r"sourceRef\.kind"):
        source.HelmChartSpec.model_validate(
            {"chart": "c", "sourceRef": {"kind": "OCIRepository", "name": "r"}, "interval": "5m"}
        )


def test_helm_chart_values_files_and_verify() -> None:
    spec = source.HelmChartSpec.model_validate(
        {
            "chart": "./charts/app",
            "sourceRef": {"kind": "GitRepository", "name": "r"},
            "interval": "5m",
            "reconcileStrategy": "Revision",
            "valuesFile": "base.yaml",
            "valuesFiles": ["prod.yaml"],
            "ignoreMissingValuesFiles": True,
            "verify": {"secretRef": {"name": "cosign-pub"}},
        }
    )
    assert spec.all_values_files() == ["base.yaml", "prod.yaml"]
    assert spec.verify is not None
    assert spec.verify.provider == "cosign"
