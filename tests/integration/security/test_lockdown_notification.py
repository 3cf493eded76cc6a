"""--no-cross-namespace-refs in the notification controller, on engines started with and
without it (on the second control plane of conftest.py, where no other engine acts):

    Alert     an event source in another namespace (or `*`) is refused: Stalled,
              AccessDenied, a Warning event, and no event of another namespace is sent;
              the events of the Alert's own namespace still are
    Receiver  a resource in another namespace is refused: Stalled, AccessDenied, and the
              webhook server never annotates it (the Receiver's own resources it does)

Each refusal has its positive controls: the same object aimed at its own namespace works
under the lockdown, and the cross-namespace route works without it.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import aiohttp
import pytest

from kidp_gitops.api.wellknown import REQUESTED_AT
from kidp_gitops.engine.run import Engine
from kidp_gitops.kube import KubeClient
from kidp_gitops.runtime.tenancy import Lockdown
from tests.integration.engines import Engines
from tests.integration.notification.helpers import (
    Inbox,
    Received,
    create,
    inbox,
    record_event,
    served,
    wait_ready,
)
from tests.integration.security.helpers import assert_access_denied
from tests.integration.source.helpers import create_repo, create_secret, path

LOCKED = Lockdown(no_cross_namespace_refs=True)
BLOCKED = "cross-namespace references have been blocked"
# How long a notification that must not come is waited for, after one sent later came.
QUIET_SECONDS = 2.0


@pytest.fixture
def other(bare_other_namespace: str) -> str:
    """A second tenant's namespace."""
    return bare_other_namespace


def message_is(text: str) -> Any:
    def match(r: Received) -> bool:
        return bool(r.json().get("message") == text)

    return match


async def provider(kube: KubeClient, namespace: str, name: str, box: Inbox) -> str:
    """A generic Provider posting to `box` at a path of its own; the path."""
    at = f"/{namespace}/{name}"
    await create(
        kube, namespace, "Provider", name, {"type": "generic", "address": box.url + at}, "v1beta3"
    )
    return at


async def alert(kube: KubeClient, namespace: str, name: str, sources: list[dict[str, str]]) -> None:
    spec = {"providerRef": {"name": name}, "eventSources": sources}
    await create(kube, namespace, "Alert", name, spec, "v1beta3")


async def assert_refused(kube: KubeClient, namespace: str, kind: str, name: str, ref: str) -> None:
    """Stalled, AccessDenied naming `ref`, and a Warning event saying so."""
    refused = await wait_ready(kube, namespace, kind, name, "False", "AccessDenied")
    await assert_access_denied(kube, refused, ref)


async def test_an_alert_hears_no_other_namespace_under_lockdown(
    bare_kube: KubeClient, bare_namespace: str, other: str, engines: Engines
) -> None:
    kube, home = bare_kube, bare_namespace
    await engines.start(LOCKED)
    async with inbox() as box:
        named = await provider(kube, home, "named", box)
        wildcard = await provider(kube, home, "wildcard", box)
        local = await provider(kube, home, "local", box)
        own_source = {"kind": "GitRepository", "name": "repo"}
        await alert(kube, home, "named", [{**own_source, "namespace": other}, own_source])
        await alert(
            kube, home, "wildcard", [{"kind": "GitRepository", "name": "*", "namespace": "*"}]
        )
        await alert(kube, home, "local", [own_source])
        await assert_refused(kube, home, "Alert", "named", f"GitRepository/{other}/repo")
        await assert_refused(kube, home, "Alert", "wildcard", "GitRepository/*/*")
        # The same Alert aimed at its own namespace is fine: the lockdown is no blanket.
        await wait_ready(kube, home, "Alert", "local")

        await record_event(kube, other, "other tenant's news")
        await record_event(kube, home, "our news")
        # Every Alert hears its own namespace (also the refused ones: the sources of
        # their own namespace are still theirs)…
        for at in (named, wildcard, local):
            await box.wait(at, message_is("our news"), "our own event")
        # …and none hears the other's, sent before ours.
        await asyncio.sleep(QUIET_SECONDS)
        assert not [r for r in box.received if r.json().get("message") == "other tenant's news"]


async def test_without_lockdown_an_alert_hears_other_namespaces(
    bare_kube: KubeClient, bare_namespace: str, other: str, engines: Engines
) -> None:
    kube, home = bare_kube, bare_namespace
    await engines.start()
    async with inbox() as box:
        named = await provider(kube, home, "named", box)
        wildcard = await provider(kube, home, "wildcard", box)
        await alert(
            kube, home, "named", [{"kind": "GitRepository", "name": "repo", "namespace": other}]
        )
        await alert(
            kube, home, "wildcard", [{"kind": "GitRepository", "name": "*", "namespace": "*"}]
        )
        await wait_ready(kube, home, "Alert", "named")
        await wait_ready(kube, home, "Alert", "wildcard")

        await record_event(kube, other, "other tenant's news")
        for at in (named, wildcard):
            received = await box.wait(at, message_is("other tenant's news"), "the other's event")
            assert received.json()["involvedObject"]["namespace"] == other


def receiver_path(namespace: str, name: str) -> str:
    return f"/apis/notification.toolkit.fluxcd.io/v1/namespaces/{namespace}/receivers/{name}"


async def post_hook(engine: Engine, hook: str) -> tuple[int, str]:
    url = f"http://127.0.0.1:{engine.receiver_port}{hook}"
    async with aiohttp.ClientSession() as http, http.post(url, data=b"{}") as r:
        return r.status, await r.text()


async def git_repository(kube: KubeClient, namespace: str) -> None:
    """A GitRepository "repo" to annotate (suspended: no controller acts on it)."""
    await create_repo(
        kube, namespace, "repo", {"url": "http://127.0.0.1:9/none.git", "suspend": True}
    )


async def requested(kube: KubeClient, namespace: str) -> bool:
    obj = await kube.get(path(namespace, "repo"))
    return REQUESTED_AT in (obj["metadata"].get("annotations") or {})


async def receiver(
    kube: KubeClient, namespace: str, name: str, resources: list[dict[str, str]]
) -> None:
    spec = {"type": "generic", "secretRef": {"name": "token"}, "resources": resources}
    await create(kube, namespace, "Receiver", name, spec, "v1")


async def test_a_receiver_reaches_no_other_namespace_under_lockdown(
    bare_kube: KubeClient, bare_namespace: str, other: str, engines: Engines
) -> None:
    kube, home = bare_kube, bare_namespace
    for ns in (home, other):
        await git_repository(kube, ns)
    await create_secret(kube, home, "token", {"token": uuid.uuid4().hex})
    engine = await engines.start(LOCKED)
    own = {"kind": "GitRepository", "name": "repo"}
    theirs = {**own, "namespace": other}

    await receiver(kube, home, "cross", [theirs])
    await assert_refused(kube, home, "Receiver", "cross", f"GitRepository/{other}/repo")
    assert "webhookPath" not in (await kube.get(receiver_path(home, "cross")))["status"]

    # Aimed at its own namespace, the Receiver works under the lockdown.
    await receiver(kube, home, "hook", [own])
    ready = await wait_ready(kube, home, "Receiver", "hook", reason="Succeeded")
    hook = await served(engine, ready)
    status, text = await post_hook(engine, hook)
    assert status == 200, text
    assert await requested(kube, home)
    await kube.patch(path(home, "repo"), {"metadata": {"annotations": {REQUESTED_AT: None}}})

    # A tenant adds the other namespace to a Receiver that has a webhook path already:
    # refused by the reconciler, and by the webhook server, which annotates only ours.
    await kube.patch(receiver_path(home, "hook"), {"spec": {"resources": [own, theirs]}})
    await assert_refused(kube, home, "Receiver", "hook", f"GitRepository/{other}/repo")
    status, text = await post_hook(engine, hook)
    assert status == 500, text
    assert BLOCKED in text
    assert await requested(kube, home)
    assert not await requested(kube, other)


async def test_without_lockdown_a_receiver_reaches_other_namespaces(
    bare_kube: KubeClient, bare_namespace: str, other: str, engines: Engines
) -> None:
    kube, home = bare_kube, bare_namespace
    await git_repository(kube, other)
    await create_secret(kube, home, "token", {"token": uuid.uuid4().hex})
    engine = await engines.start()
    await receiver(
        kube, home, "cross", [{"kind": "GitRepository", "name": "repo", "namespace": other}]
    )
    ready = await wait_ready(kube, home, "Receiver", "cross", reason="Succeeded")
    status, text = await post_hook(engine, await served(engine, ready))
    assert status == 200, text
    assert await requested(kube, other)
