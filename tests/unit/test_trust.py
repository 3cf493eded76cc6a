"""The AuthenticationConfiguration a trusting control plane starts with: one JWT
authenticator for the other's issuer, its CA, the audience Flux sends by default (the
trusting API server's own URL) unless others are given, and usernames the trusting
cluster cannot mistake for its own service accounts. (An API server taking a token by it
is proven in tests/integration/remote/test_workload_identity.py.)"""

from __future__ import annotations

from pathlib import Path

import yaml

from kidp_gitops.devcluster import trust

ISSUER = trust.Issuer("https://127.0.0.1:20001", "-----BEGIN CERTIFICATE-----\n...\n")


def test_the_other_issuer_with_the_own_url_as_audience(tmp_path: Path) -> None:
    path = tmp_path / trust.FILE
    trust.write_config(path, trust.Trust(ISSUER), "https://127.0.0.1:20002")
    assert path.stat().st_mode & 0o077 == 0
    config = yaml.safe_load(path.read_text())
    assert config["apiVersion"] == "apiserver.config.k8s.io/v1"
    assert config["kind"] == "AuthenticationConfiguration"
    (jwt,) = config["jwt"]
    assert jwt["issuer"] == {
        "url": "https://127.0.0.1:20001",
        "audiences": ["https://127.0.0.1:20002"],
        "certificateAuthority": ISSUER.ca,
    }
    assert jwt["claimMappings"] == {"username": {"claim": "sub", "prefix": "management:"}}


def test_given_audiences_and_prefix(tmp_path: Path) -> None:
    path = tmp_path / trust.FILE
    given = trust.Trust(ISSUER, audiences=("fleet",), prefix="hub:")
    trust.write_config(path, given, "https://127.0.0.1:20002")
    (jwt,) = yaml.safe_load(path.read_text())["jwt"]
    assert jwt["issuer"]["audiences"] == ["fleet"]
    assert jwt["claimMappings"]["username"]["prefix"] == "hub:"
