"""A HelmRepository's credentials, as Flux's GetClientOpts reads them: basic auth from
secretRef; TLS from certSecretRef alone when it is set (it must hold something), else
from secretRef's TLS keys; Flux's older key names still read. A fake API server is
enough here: the TLS path against a real server is tests/integration/source."""

from __future__ import annotations

import base64
from typing import Any, cast

import pytest

from kidp_gitops.api import source as api
from kidp_gitops.kube.client import KubeClient
from kidp_gitops.runtime.reconcile import ReconcileError
from kidp_gitops.source import helmhttp
from tests.gitserver.keys import self_signed_certificate


class Secrets:
    def __init__(self, **secrets: dict[str, bytes]):
        self.secrets = secrets

    async def get(self, path: str) -> dict[str, Any]:
        data = self.secrets[path.rsplit("/", 1)[-1]]
        return {"data": {k: base64.b64encode(v).decode() for k, v in data.items()}}


def _spec(**refs: str) -> api.HelmRepositorySpec:
    return api.HelmRepositorySpec.model_validate(
        {"url": "https://charts.example", **{k: {"name": v} for k, v in refs.items()}}
    )


async def _auth(secrets: Secrets, spec: api.HelmRepositorySpec) -> helmhttp.RepoAuth:
    return await helmhttp.load_auth(cast(KubeClient, secrets), "team", spec)


async def test_basic_auth_and_the_older_tls_keys_of_secret_ref() -> None:
    cert = self_signed_certificate()
    secrets = Secrets(auth={"username": b"bot", "password": b"pw", "caFile": cert.cert})
    auth = await _auth(secrets, _spec(secretRef="auth"))
    assert auth.headers() == {"Authorization": "Basic Ym90OnB3"}
    assert auth.tls is not None
    assert "pw" not in repr(auth)


async def test_cert_secret_ref_is_the_only_tls_source_when_set() -> None:
    cert = self_signed_certificate()
    secrets = Secrets(
        auth={"username": b"bot", "password": b"pw", "tls.crt": cert.cert},  # half a pair
        tls={"ca.crt": cert.cert},
    )
    auth = await _auth(secrets, _spec(secretRef="auth", certSecretRef="tls"))
    assert auth.tls is not None  # secretRef's half pair is not even looked at
    with pytest.raises(ReconcileError, match=r"secret 'team/auth' holds 'tls\.crt' but no"):
        await _auth(secrets, _spec(secretRef="auth"))


async def test_an_empty_cert_secret_ref_is_an_error() -> None:
    secrets = Secrets(tls={"other": b"x"})
    with pytest.raises(ReconcileError, match=r"secret 'team/tls' must hold 'ca\.crt'"):
        await _auth(secrets, _spec(certSecretRef="tls"))
    assert (await _auth(Secrets(), _spec())) == helmhttp.RepoAuth()
