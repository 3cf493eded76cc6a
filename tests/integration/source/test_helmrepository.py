"""HelmRepository against a real chart repository (charts packaged and indexed by the real
helm, served over HTTP on loopback) and the real control plane: the index becomes an
artifact, credentials are used and refused ones say so, unchanged indexes write nothing."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from kidp_gitops.kube import KubeClient
from tests.integration.source.helmrepos import (
    ChartRepo,
    create,
    path,
    request_reconcile,
    serve,
    wait_ready,
)
from tests.integration.source.helpers import artifact_files, condition, create_secret
from tests.integration.wait import until

pytestmark = pytest.mark.usefixtures("engine")
KIND = "HelmRepository"


@pytest.fixture
async def open_repo(tmp_path: Path) -> AsyncIterator[ChartRepo]:
    async for repo in serve(tmp_path / "open"):
        yield repo


@pytest.fixture
async def private_repo(tmp_path: Path) -> AsyncIterator[ChartRepo]:
    async for repo in serve(tmp_path / "private", username="reader", password="s3cret-pw"):
        yield repo


async def test_index_becomes_an_artifact_and_an_unchanged_index_writes_nothing(
    kube: KubeClient, namespace: str, open_repo: ChartRepo
) -> None:
    open_repo.publish("hello", "1.0.0")
    await create(kube, KIND, namespace, "charts", {"interval": "10m", "url": open_repo.url})

    obj = await wait_ready(kube, KIND, namespace, "charts", "True", "Succeeded")
    index = (open_repo.charts / "index.yaml").read_bytes()
    revision = "sha256:" + hashlib.sha256(index).hexdigest()
    artifact = obj["status"]["artifact"]
    assert artifact["revision"] == revision
    assert condition(obj)["message"] == f"stored artifact: revision '{revision}'"
    assert obj["status"]["url"] == artifact["url"]
    assert (await artifact_files(obj)) == {"index.yaml": index}

    # Asked again with the same index: fetched, but the artifact is left as it was.
    fetched = len(open_repo.requests)
    await request_reconcile(kube, KIND, namespace, "charts")

    async def handled() -> dict[str, Any] | None:
        again = await kube.get(path(KIND, namespace, "charts"))
        requested = again["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"]
        return again if again["status"].get("lastHandledReconcileAt") == requested else None

    again = await until(handled, 60, "the requested reconcile")
    assert len(open_repo.requests) > fetched
    assert again["status"]["artifact"] == artifact

    # A new chart version changes the index: a new revision.
    open_repo.publish("hello", "1.1.0")
    await request_reconcile(kube, KIND, namespace, "charts")
    newer = "sha256:" + hashlib.sha256((open_repo.charts / "index.yaml").read_bytes()).hexdigest()

    async def moved() -> dict[str, Any] | None:
        obj = await kube.get(path(KIND, namespace, "charts"))
        return obj if obj["status"]["artifact"]["revision"] == newer else None

    await until(moved, 60, "the new index revision")


async def test_basic_auth_is_sent_and_a_wrong_password_says_authentication_failed(
    kube: KubeClient, namespace: str, private_repo: ChartRepo
) -> None:
    private_repo.publish("hello", "1.0.0")
    await create_secret(kube, namespace, "good", {"username": "reader", "password": "s3cret-pw"})
    await create_secret(kube, namespace, "bad", {"username": "reader", "password": "wrong-pw"})
    await create(
        kube,
        KIND,
        namespace,
        "good",
        {"interval": "10m", "url": private_repo.url, "secretRef": {"name": "good"}},
    )
    await create(
        kube,
        KIND,
        namespace,
        "bad",
        {"interval": "10m", "url": private_repo.url, "secretRef": {"name": "bad"}},
    )
    await create(kube, KIND, namespace, "none", {"interval": "10m", "url": private_repo.url})

    await wait_ready(kube, KIND, namespace, "good", "True", "Succeeded")
    bad = await wait_ready(kube, KIND, namespace, "bad", "False", "AuthenticationFailed")
    message = condition(bad)["message"]
    assert "401" in message
    assert private_repo.url in message
    assert "wrong-pw" not in str(bad["status"])
    assert "artifact" not in bad["status"]
    none = await wait_ready(kube, KIND, namespace, "none", "False", "AuthenticationFailed")
    assert "none were sent" in condition(none)["message"]

    async def warned() -> list[dict[str, Any]]:
        # The event is recorded after the status is written: wait for it, not race it.
        events = await kube.get(f"/api/v1/namespaces/{namespace}/events")
        return [
            e
            for e in events["items"]
            if e["involvedObject"]["name"] == "bad" and e["reason"] == "AuthenticationFailed"
        ]

    warnings = await until(warned, 30, "the AuthenticationFailed event of bad")
    assert warnings
    assert all("wrong-pw" not in e["message"] for e in warnings)


async def test_unreachable_server_and_non_index_say_indexation_failed(
    kube: KubeClient, namespace: str, open_repo: ChartRepo
) -> None:
    (open_repo.charts / "index.yaml").write_text("just: a map\n")
    await create(kube, KIND, namespace, "not-index", {"interval": "10m", "url": open_repo.url})
    await create(
        kube, KIND, namespace, "gone", {"interval": "10m", "url": "http://127.0.0.1:9/charts"}
    )

    not_index = await wait_ready(kube, KIND, namespace, "not-index", "False", "IndexationFailed")
    assert "not a Helm repository index" in condition(not_index)["message"]
    gone = await wait_ready(kube, KIND, namespace, "gone", "False", "IndexationFailed")
    assert "http://127.0.0.1:9/charts/index.yaml" in condition(gone)["message"]


async def test_an_oci_repository_is_ready_without_an_index(
    kube: KubeClient, namespace: str
) -> None:
    # Its HelmCharts read the registry (tests/integration/oci/test_helm_oci.py); the
    # repository itself holds no artifact, as Flux's.
    await create(
        kube,
        KIND,
        namespace,
        "oci",
        {"interval": "10m", "url": "oci://ghcr.io/stefanprodan/charts", "type": "oci"},
    )
    obj = await wait_ready(kube, KIND, namespace, "oci", "True", "Succeeded")
    assert condition(obj)["message"] == "Helm repository is ready"
    assert "artifact" not in obj["status"]


@pytest.fixture
async def tls_repo(tmp_path: Path) -> AsyncIterator[ChartRepo]:
    async for repo in serve(tmp_path / "tls", tls=True, client_cert=True):
        yield repo


async def test_https_with_a_private_ca_and_a_client_certificate(
    kube: KubeClient, namespace: str, tls_repo: ChartRepo
) -> None:
    assert tls_repo.certificate is not None
    assert tls_repo.client is not None
    tls_repo.publish("hello", "1.0.0")
    await create_secret(
        kube,
        namespace,
        "tls",
        {
            "ca.crt": tls_repo.certificate.cert,
            "tls.crt": tls_repo.client.cert,
            "tls.key": tls_repo.client.key,
        },
    )
    await create_secret(kube, namespace, "ca-only", {"ca.crt": tls_repo.certificate.cert})
    await create(
        kube,
        KIND,
        namespace,
        "trusted",
        {"interval": "10m", "url": tls_repo.url, "certSecretRef": {"name": "tls"}},
    )
    await create(kube, KIND, namespace, "untrusted", {"interval": "10m", "url": tls_repo.url})
    await create(
        kube,
        KIND,
        namespace,
        "no-client-cert",
        {"interval": "10m", "url": tls_repo.url, "certSecretRef": {"name": "ca-only"}},
    )

    await wait_ready(kube, KIND, namespace, "trusted", "True", "Succeeded")
    untrusted = await wait_ready(kube, KIND, namespace, "untrusted", "False", "IndexationFailed")
    assert "ca.crt" in condition(untrusted)["message"]
    await wait_ready(kube, KIND, namespace, "no-client-cert", "False", "IndexationFailed")

    # A HelmChart pulls from the same repository with the same TLS settings.
    await create(
        kube,
        "HelmChart",
        namespace,
        "hello",
        {
            "interval": "10m",
            "chart": "hello",
            "sourceRef": {"kind": KIND, "name": "trusted"},
        },
    )
    chart = await wait_ready(kube, "HelmChart", namespace, "hello", "True", "ChartPullSucceeded")
    assert chart["status"]["artifact"]["revision"] == "1.0.0"
