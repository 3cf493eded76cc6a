"""Kubeconfigs with a client certificate or a static token are read without
kubernetes_asyncio (a CLI command starts without its client); anything else goes to it."""

from __future__ import annotations

import base64
import ssl
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import certifi
import pytest
import yaml

from kidp_gitops.kube import config
from kidp_gitops.kube.errors import ConfigError


def kubeconfig(path: Path, cluster: Mapping[str, object], user: Mapping[str, object]) -> Path:
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "main",
        "contexts": [
            {"name": "other", "context": {"cluster": "x", "user": "x"}},
            {"name": "main", "context": {"cluster": "c", "user": "u"}},
        ],
        "clusters": [{"name": "c", "cluster": cluster}],
        "users": [{"name": "u", "user": user}],
    }
    path.write_text(yaml.safe_dump(doc))
    return path


async def test_a_token_user_is_read_here(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("from-a-file\n")
    path = kubeconfig(
        tmp_path / "config", {"server": "http://127.0.0.1:8080/"}, {"tokenFile": "token"}
    )
    loaded = await config.load_config(path)
    assert loaded.server == "http://127.0.0.1:8080"
    assert loaded.ssl_context is False
    assert await loaded.authorization() == "Bearer from-a-file"


def test_certificate_data_goes_to_private_files(tmp_path: Path) -> None:
    pem = Path(certifi.where()).read_bytes()
    cluster = {
        "server": "https://127.0.0.1:6443",
        "certificate-authority-data": base64.b64encode(pem).decode(),
    }
    path = kubeconfig(tmp_path / "config", cluster, {"token": "t0k"})
    loaded = config._simple(str(path), None)
    assert loaded is not None
    assert isinstance(loaded.ssl_context, ssl.SSLContext)
    assert loaded.tls_files.ca_file is not None
    written = Path(loaded.tls_files.ca_file)
    assert written.read_bytes() == pem
    assert written.stat().st_mode & 0o077 == 0


def test_plugins_and_other_users_are_left_to_kubernetes_asyncio(tmp_path: Path) -> None:
    server = {"server": "https://127.0.0.1:6443"}
    exec_user = {"exec": {"command": "aws", "apiVersion": "client.authentication.k8s.io/v1"}}
    cases: list[tuple[Mapping[str, object], Mapping[str, object]]] = [
        (server, exec_user),
        (server, {"username": "a", "password": "b"}),
        ({**server, "proxy-url": "http://proxy:3128"}, {"token": "t"}),
    ]
    for cluster, user in cases:
        path = kubeconfig(tmp_path / "config", cluster, user)
        assert config._simple(str(path), None) is None
    # An unknown context too: kubernetes_asyncio's error names it.
    assert (
        config._simple(str(kubeconfig(tmp_path / "config", server, {"token": "t"})), "nope") is None
    )


def test_reading_a_simple_kubeconfig_does_not_load_kubernetes_asyncio(tmp_path: Path) -> None:
    path = kubeconfig(tmp_path / "config", {"server": "http://127.0.0.1:1"}, {"token": "t"})
    probe = (
        "import asyncio, sys; from kidp_gitops.kube.config import load_config; "
        f"asyncio.run(load_config({str(path)!r})); "
        "print(any(m.startswith('kubernetes_asyncio') for m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def service_account(directory: Path, token: str) -> Path:
    directory.mkdir()
    (directory / "ca.crt").write_bytes(Path(certifi.where()).read_bytes())
    (directory / "token").write_text(token)
    return directory


async def test_in_cluster_reads_the_pod_files(tmp_path: Path) -> None:
    mounted = service_account(tmp_path / "sa", "first")
    env = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    loaded = config.in_cluster(mounted, env)
    assert loaded.server == "https://10.96.0.1:443"
    assert isinstance(loaded.ssl_context, ssl.SSLContext)
    assert loaded.tls_files.ca_file == str(mounted / "ca.crt")
    assert await loaded.authorization() == "Bearer first"


async def test_in_cluster_token_is_read_again_when_rotated(tmp_path: Path) -> None:
    """As the kubelet rotates a projected token: a new file swapped into place."""
    mounted = service_account(tmp_path / "sa", "first")
    env = {"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "6443"}
    loaded = config.in_cluster(mounted, env)
    assert loaded.server == "https://[fd00::1]:6443"
    assert await loaded.authorization() == "Bearer first"
    (mounted / "token.new").write_text("second\n")
    (mounted / "token.new").rename(mounted / "token")
    assert await loaded.authorization() == "Bearer second"
    (mounted / "token").unlink()  # mid-swap: the last token read, not none
    assert await loaded.authorization() == "Bearer second"


def test_in_cluster_says_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="KUBERNETES_SERVICE_HOST"):
        config.in_cluster(tmp_path, {})
    env = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    with pytest.raises(ConfigError, match=r"ca\.crt"):
        config.in_cluster(tmp_path, env)


def test_api_server_tls_is_not_stricter_than_kubectl() -> None:
    """Python 3.13 (the image's) defaults to X.509 strict mode, which refuses CAs that
    Go's verifier accepts (no Authority Key Identifier): not for the API server."""
    tls = config.api_server_tls(certifi.where())
    assert not tls.verify_flags & ssl.VERIFY_X509_STRICT
    assert tls.verify_mode == ssl.CERT_REQUIRED
    assert tls.check_hostname
