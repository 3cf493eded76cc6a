"""Provider settings against real endpoints: a CA from `certSecretRef` makes an HTTPS
endpoint with a private certificate reachable (without it the post fails and the Alert
says so); `headers` from the Secret are sent; a suspended Provider sends nothing."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import pytest

from kidp_gitops.kube import KubeClient
from tests.gitserver.keys import self_signed_certificate
from tests.integration.notification.helpers import (
    create,
    events_of,
    inbox,
    record_event,
    wait_ready,
)
from tests.integration.source.helpers import create_secret
from tests.integration.wait import until

pytestmark = pytest.mark.usefixtures("engine")


@pytest.mark.usefixtures("quick_retries")
async def test_private_ca_headers_and_suspend(kube: KubeClient, namespace: str) -> None:
    certificate = self_signed_certificate()
    async with inbox(tls=certificate) as box:
        await create_secret(kube, namespace, "ca", {"ca.crt": certificate.cert})
        await create_secret(kube, namespace, "headers", {"headers": "X-Team: web\nX-Env: dev\n"})
        providers: dict[str, dict[str, Any]] = {
            "trusted": {"certSecretRef": {"name": "ca"}, "secretRef": {"name": "headers"}},
            "untrusted": {},
            "paused": {"certSecretRef": {"name": "ca"}, "suspend": True},
        }
        for name, extra in providers.items():
            spec = {"type": "generic", "address": f"{box.url}/{name}", **extra}
            await create(kube, namespace, "Provider", name, spec, "v1beta3")
            alert = {
                "providerRef": {"name": name},
                "eventSources": [{"kind": "GitRepository", "name": "*"}],
            }
            await create(kube, namespace, "Alert", name, alert, "v1beta3")
            await wait_ready(kube, namespace, "Alert", name)

        message = f"stored artifact {uuid.uuid4().hex}"
        await record_event(kube, namespace, message)
        got = await box.wait("/trusted", lambda r: r.json()["message"] == message, "the event")
        assert got.headers["X-Team"] == "web"
        assert got.headers["X-Env"] == "dev"

        async def failed() -> list[dict[str, Any]]:
            found = await events_of(kube, namespace, "Alert", "untrusted")
            return [e for e in found if e["reason"] == "NotificationFailed"]

        event = (await until(failed, 60, "the TLS failure on the Alert"))[0]
        assert box.url in event["message"]  # scheme, host and port: no path
        assert not box.at("/untrusted")  # the TLS handshake failed: no request arrived
        assert not box.at("/paused")


async def test_the_secrets_username_and_password_authenticate_to_alertmanager(
    kube: KubeClient, namespace: str
) -> None:
    # As Flux: `username` in the Secret overrides spec.username, `password` goes with it.
    async with inbox() as box:
        await create_secret(kube, namespace, "basic", {"username": "flux", "password": "s3cret"})
        spec = {
            "type": "alertmanager",
            "address": f"{box.url}/api/v2/alerts",
            "username": "overridden",
            "secretRef": {"name": "basic"},
        }
        await create(kube, namespace, "Provider", "am", spec, "v1beta3")
        alert = {
            "providerRef": {"name": "am"},
            "eventSources": [{"kind": "GitRepository", "name": "*"}],
        }
        await create(kube, namespace, "Alert", "am", alert, "v1beta3")
        await wait_ready(kube, namespace, "Alert", "am")

        message = f"stored artifact {uuid.uuid4().hex}"
        await record_event(kube, namespace, message)
        got = await box.wait(
            "/api/v2/alerts",
            lambda r: r.json()[0]["annotations"]["message"] == message,
            "the alert",
        )
        expected = base64.b64encode(b"flux:s3cret").decode()
        assert got.headers["Authorization"] == f"Basic {expected}"
