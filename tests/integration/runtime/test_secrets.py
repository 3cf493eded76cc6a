"""Reading what an object refers to, against the real API server: a Secret's data and a
ConfigMap's data as bytes, a missing one as None (the caller says what that means), and
the credentials' case, where a missing Secret is retried."""

from __future__ import annotations

import base64

import pytest

from kidp_gitops.kube import KubeClient
from kidp_gitops.runtime import secrets
from kidp_gitops.runtime.reconcile import RetryError


async def test_secret_and_configmap_data_as_bytes(kube: KubeClient, namespace: str) -> None:
    raw = b"\x00\xffbinary"
    await kube.create(
        f"/api/v1/namespaces/{namespace}/secrets",
        {
            "metadata": {"name": "creds"},
            "data": {"password": base64.b64encode(raw).decode()},
            "stringData": {"username": "bot"},
        },
    )
    await kube.create(
        f"/api/v1/namespaces/{namespace}/configmaps",
        {
            "metadata": {"name": "vars"},
            "data": {"cluster": "prod-ü"},
            "binaryData": {"blob": base64.b64encode(b"x").decode()},
        },
    )
    assert await secrets.read(kube, namespace, "creds") == {"password": raw, "username": b"bot"}
    assert await secrets.read(kube, namespace, "vars", "ConfigMap") == {
        "cluster": "prod-ü".encode()
    }
    assert await secrets.read(kube, namespace, "vars") is None  # no Secret of that name
    assert await secrets.data(kube, namespace, "creds", "unused") == {
        "password": raw,
        "username": b"bot",
    }
    with pytest.raises(RetryError) as missing:
        await secrets.data(kube, namespace, "absent", f"secret '{namespace}/absent' not found")
    assert missing.value.reason == "AuthenticationFailed"
    assert str(missing.value) == f"secret '{namespace}/absent' not found"
