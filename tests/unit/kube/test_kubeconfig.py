"""A remote cluster's kubeconfig (from a Secret) is read strictly: self-contained data
is used, anything that would run a program or read a file of the engine's disk is
refused by name, and no error quotes a credential."""

from __future__ import annotations

import base64
import ssl
from pathlib import Path
from typing import Any

import pytest
import yaml

from kidp_gitops.devcluster import pki
from kidp_gitops.kube import kubeconfig
from kidp_gitops.kube.errors import ConfigError

TOKEN = "remote-token-not-to-be-quoted"


def document(cluster: dict[str, Any], user: dict[str, Any]) -> bytes:
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "remote",
        "contexts": [
            {"name": "other", "context": {"cluster": "nowhere", "user": "nobody"}},
            {"name": "remote", "context": {"cluster": "c", "user": "u"}},
        ],
        "clusters": [{"name": "c", "cluster": cluster}],
        "users": [{"name": "u", "user": user}],
    }
    return yaml.safe_dump(doc).encode()


def b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> pki.Pki:
    return pki.create(tmp_path_factory.mktemp("pki"), {"alice": []})


async def test_a_token_user_sends_its_token() -> None:
    parsed = kubeconfig.parse(document({"server": "https://10.0.0.1:6443/"}, {"token": TOKEN}))
    assert parsed.server == "https://10.0.0.1:6443"
    config = parsed.config()
    assert await config.authorization() == f"Bearer {TOKEN}"
    assert isinstance(config.ssl_context, ssl.SSLContext)
    assert TOKEN not in repr(parsed)
    assert TOKEN not in repr(config)


async def test_a_client_certificate_given_as_data_is_loaded(certificates: pki.Pki) -> None:
    cluster = {
        "server": "https://10.0.0.1:6443",
        "certificate-authority-data": b64(certificates.ca_cert),
    }
    user = {
        "client-certificate-data": b64(certificates.client_cert("alice")),
        "client-key-data": b64(certificates.client_key("alice")),
    }
    config = kubeconfig.parse(document(cluster, user)).config()
    assert isinstance(config.ssl_context, ssl.SSLContext)
    assert config.ssl_context.get_ca_certs()[0]["subject"] == ((("commonName", "kidp-dev-ca"),),)
    assert await config.authorization() is None
    # helm gets the same material as data, never as a path of ours.
    assert config.inline is not None
    assert config.inline.key == certificates.client_key("alice").read_bytes()
    assert config.tls_files.key_file is None


async def test_basic_auth_is_sent_as_basic() -> None:
    user = {"username": "admin", "password": "pa55word"}
    config = kubeconfig.parse(document({"server": "https://10.0.0.1"}, user)).config()
    assert await config.authorization() == "Basic " + base64.b64encode(b"admin:pa55word").decode()


@pytest.mark.parametrize(
    ("where", "key", "value"),
    [
        ("user", "exec", {"command": "/bin/sh", "args": ["-c", "id"], "apiVersion": "v1"}),
        ("user", "auth-provider", {"name": "gcp"}),
        ("user", "tokenFile", "/var/run/secrets/kubernetes.io/serviceaccount/token"),
        ("user", "client-certificate", "/etc/kidp/admin.crt"),
        ("user", "client-key", "/etc/kidp/admin.key"),
        ("user", "as", "system:admin"),
        ("cluster", "certificate-authority", "/etc/kidp/ca.crt"),
        ("cluster", "insecure-skip-tls-verify", True),
        ("cluster", "proxy-url", "http://proxy:3128"),
    ],
)
def test_what_runs_a_program_or_reads_our_disk_is_refused(where: str, key: str, value: Any) -> None:
    cluster: dict[str, Any] = {"server": "https://10.0.0.1"}
    user: dict[str, Any] = {"token": TOKEN}
    (cluster if where == "cluster" else user)[key] = value
    with pytest.raises(ConfigError, match=f"'{key}'") as caught:
        kubeconfig.parse(document(cluster, user))
    assert TOKEN not in str(caught.value)
    assert str(value) not in str(caught.value)


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"- a\n- list\n", "not a YAML map"),
        (b"key: [unclosed\n", "not valid YAML"),
        (b"apiVersion: v1\nkind: Config\n", "no current-context"),
        (
            document({"server": "ftp://10.0.0.1"}, {"token": TOKEN}),
            "no https:// server",
        ),
        (
            document({"server": "https://10.0.0.1"}, {"client-key-data": "bm90IGEga2V5"}),
            "without the other",
        ),
        (
            document({"server": "https://10.0.0.1"}, {"token": TOKEN, "unheard-of": 1}),
            "'unheard-of', which is not supported",
        ),
        (b"x" * (kubeconfig.MAX_SIZE + 1), "larger than"),
    ],
)
def test_a_broken_kubeconfig_says_what_is_wrong(data: bytes, says: str) -> None:
    with pytest.raises(ConfigError, match=says) as caught:
        kubeconfig.parse(data)
    assert TOKEN not in str(caught.value)


def test_an_invalid_client_key_names_no_file(certificates: pki.Pki) -> None:
    user = {
        "client-certificate-data": b64(certificates.client_cert("alice")),
        "client-key-data": base64.b64encode(b"-----BEGIN EC PRIVATE KEY-----\nxx\n").decode(),
    }
    parsed = kubeconfig.parse(document({"server": "https://10.0.0.1"}, user))
    with pytest.raises(ConfigError, match="client certificate or key is invalid") as caught:
        parsed.config()
    assert "kidp-remote-" not in str(caught.value)
