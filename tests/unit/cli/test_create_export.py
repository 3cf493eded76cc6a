"""`kidp create … --export` and `kidp build … --dry-run` need no cluster."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from kidp_gitops.cli.main import app

NO_CLUSTER = {"KUBECONFIG": "/nonexistent/kubeconfig"}


def test_create_source_git_export_with_credentials() -> None:
    result = CliRunner().invoke(
        app,
        [
            "create", "source", "git", "podinfo", "--url", "https://example.test/podinfo",
            "--tag-semver", ">=6.0.0", "--username", "git", "--password", "s3cret",
            "--ignore-paths", "/docs", "--ignore-paths", "*.md", "--export",
        ],
        env=NO_CLUSTER,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    secret, repo = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert secret["kind"] == "Secret"
    assert secret["metadata"] == {"name": "podinfo", "namespace": "flux-system"}
    assert repo["spec"] == {
        "url": "https://example.test/podinfo",
        "interval": "1m",
        "ref": {"semver": ">=6.0.0"},
        "secretRef": {"name": "podinfo"},
        "ignore": "/docs\n*.md",
    }


def test_create_source_oci_export() -> None:
    result = CliRunner().invoke(
        app,
        [
            "create", "source", "oci", "podinfo",
            "--url", "oci://ghcr.io/stefanprodan/manifests/podinfo", "--tag-semver", "6.x",
            "--secret-ref", "ghcr", "--insecure", "--interval", "5m", "--cert-ref", "ca",
            "--ignore-paths", "/docs", "--export",
        ],
        env=NO_CLUSTER,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (repo,) = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert (repo["apiVersion"], repo["kind"]) == ("source.toolkit.fluxcd.io/v1", "OCIRepository")
    assert repo["spec"] == {
        "url": "oci://ghcr.io/stefanprodan/manifests/podinfo",
        "interval": "5m",
        "ref": {"semver": "6.x"},
        "secretRef": {"name": "ghcr"},
        "certSecretRef": {"name": "ca"},
        "ignore": "/docs",
        "insecure": True,
    }


def test_create_source_bucket_export_with_keys() -> None:
    result = CliRunner().invoke(
        app,
        [
            "create", "source", "bucket", "manifests", "--bucket-name", "apps",
            "--endpoint", "minio.example:9000", "--insecure", "--region", "eu-1",
            "--access-key", "AKIA1", "--secret-key", "s3cret", "--cert-ref", "minio-ca",
            "--ignore-paths", "*.md", "--export",
        ],
        env=NO_CLUSTER,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    secret, bucket = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert secret["kind"] == "Secret"
    assert set(secret["data"]) == {"accesskey", "secretkey"}
    assert (bucket["apiVersion"], bucket["kind"]) == ("source.toolkit.fluxcd.io/v1", "Bucket")
    assert bucket["spec"] == {
        "provider": "generic",
        "bucketName": "apps",
        "endpoint": "minio.example:9000",
        "interval": "1m",
        "region": "eu-1",
        "secretRef": {"name": "manifests"},
        "certSecretRef": {"name": "minio-ca"},
        "ignore": "*.md",
        "insecure": True,
    }
    both = CliRunner().invoke(
        app,
        [
            "create", "source", "bucket", "m", "--bucket-name", "b", "--endpoint", "h",
            "--secret-ref", "keys", "--access-key", "a", "--export",
        ],
        env=NO_CLUSTER,
    )  # fmt: skip
    assert both.exit_code != 0
    assert "pass --secret-ref or --access-key and --secret-key, not both" in both.output


def test_create_source_helm_with_an_oci_url_is_of_type_oci() -> None:
    result = CliRunner().invoke(
        app,
        ["create", "source", "helm", "charts", "--url", "oci://ghcr.io/org/charts", "--export"],
        env=NO_CLUSTER,
    )
    assert result.exit_code == 0, result.output
    (repo,) = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert repo["spec"]["type"] == "oci"


def test_create_kustomization_export() -> None:
    result = CliRunner().invoke(
        app,
        [
            "create", "ks", "apps", "--source", "GitRepository/infra/repo", "--path", "./apps",
            "--prune", "--depends-on", "infra", "--depends-on", "ops/db", "--health-wait",
            "--service-account", "deployer", "-n", "team", "--export",
        ],
        env=NO_CLUSTER,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (ks,) = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert ks["spec"]["sourceRef"] == {
        "kind": "GitRepository",
        "namespace": "infra",
        "name": "repo",
    }
    assert ks["spec"]["dependsOn"] == [{"name": "infra"}, {"name": "db", "namespace": "ops"}]
    assert ks["spec"]["wait"] is True
    assert ks["spec"]["serviceAccountName"] == "deployer"
    assert ks["metadata"]["namespace"] == "team"


def test_build_offline_from_a_kustomization_file(tmp_path: Path) -> None:
    (tmp_path / "apps").mkdir()
    (tmp_path / "apps" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n  namespace: shop\n"
        "data:\n  color: ${color:=blue}\n  size: ${size}\n"
    )
    ks = tmp_path / "apps.yaml"
    ks.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
                "kind": "Kustomization",
                "metadata": {"name": "apps", "namespace": "flux-system"},
                "spec": {
                    "interval": "5m",
                    "path": "./somewhere-else",
                    "prune": True,
                    "sourceRef": {"kind": "GitRepository", "name": "repo"},
                    "postBuild": {"substitute": {"size": "large"}},
                },
            }
        )
    )
    result = CliRunner().invoke(
        app,
        [
            "build", "ks", "apps", "--path", str(tmp_path / "apps"),
            "--kustomization-file", str(ks), "--dry-run",
        ],
        env=NO_CLUSTER,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (cm,) = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert cm["data"] == {"color": "blue", "size": "large"}
    assert cm["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"] == "apps"

    missing = CliRunner().invoke(
        app,
        [
            "build", "ks", "other", "--path", str(tmp_path / "apps"),
            "--kustomization-file", str(ks), "--dry-run",
        ],
        env=NO_CLUSTER,
    )  # fmt: skip
    assert missing.exit_code == 1
    assert missing.output.strip() == f"✗ {ks} holds no Kustomization named 'other'"
