"""A Receiver's CEL filters on the real control plane: `resourceFilter` (over `res`, the
object's metadata, and `req`, the webhook's JSON body) and a resource's own `filter`
decide which of the objects it names are asked to reconcile; a filter that does not
compile stalls the Receiver, and its webhook answers 503 and asks nothing."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from kidp_gitops.api.wellknown import REQUESTED_AT
from kidp_gitops.engine.run import Engine
from kidp_gitops.kube import KubeClient
from tests.integration.notification.helpers import create, events_of, served, wait_ready
from tests.integration.notification.test_receiver import post
from tests.integration.source.helpers import create_secret, path
from tests.integration.wait import until

pytestmark = pytest.mark.usefixtures("engine")

JSON_BODY = {"Content-Type": "application/json"}


async def _repositories(kube: KubeClient, namespace: str) -> None:
    for name, labels in (("a", {"team": "web"}), ("b", {"team": "web"}), ("c", {"team": "db"})):
        await kube.create(
            path(namespace),
            {
                "apiVersion": "source.toolkit.fluxcd.io/v1",
                "kind": "GitRepository",
                "metadata": {"name": name, "labels": labels},
                "spec": {"interval": "1h", "url": "http://127.0.0.1:9/none.git"},
            },
        )


async def _requested(kube: KubeClient, namespace: str) -> dict[str, str | None]:
    found = {}
    for name in "abc":
        obj = await kube.get(path(namespace, name))
        found[name] = (obj["metadata"].get("annotations") or {}).get(REQUESTED_AT)
    return found


async def test_only_the_objects_the_filters_accept_are_reconciled(
    kube: KubeClient, engine: Engine, namespace: str
) -> None:
    token = uuid.uuid4().hex
    await create_secret(kube, namespace, "token", {"token": token})
    await _repositories(kube, namespace)
    web: dict[str, Any] = {"kind": "GitRepository", "name": "*", "matchLabels": {"team": "web"}}
    db = {"kind": "GitRepository", "name": "c", "filter": "req.?tier.orValue('') == 'db'"}
    spec = {
        "type": "generic",
        "secretRef": {"name": "token"},
        "resources": [web, db],
        "resourceFilter": "req.repositories.exists(r, r == res.metadata.name)",
    }
    await create(kube, namespace, "Receiver", "filtered", spec, "v1")
    hook = await served(engine, await wait_ready(kube, namespace, "Receiver", "filtered"))

    # `b` is listed by matchLabels and named in the body: only it is asked.
    body = json.dumps({"repositories": ["b", "c"]}).encode()
    assert (await post(engine, hook, body, JSON_BODY))[0] == 200
    first = await _requested(kube, namespace)
    assert first["a"] is None
    assert first["b"]
    assert first["c"] is None  # named, but its own filter wants tier db

    # Both filters of `c` accept it now; `a` and `b` are not named.
    body = json.dumps({"repositories": ["c"], "tier": "db"}).encode()
    assert (await post(engine, hook, body, JSON_BODY))[0] == 200
    second = await _requested(kube, namespace)
    assert second["a"] is None
    assert second["b"] == first["b"]
    assert second["c"]

    # A body the filter cannot work with (no `repositories`): nothing is asked, and the
    # caller hears it.
    status, _ = await post(engine, hook, b'{"other": 1}', JSON_BODY)
    assert status == 500
    assert await _requested(kube, namespace) == second


async def test_a_filter_that_does_not_compile_stalls_the_receiver(
    kube: KubeClient, engine: Engine, namespace: str
) -> None:
    token = uuid.uuid4().hex
    await create_secret(kube, namespace, "token", {"token": token})
    await _repositories(kube, namespace)
    spec = {
        "type": "generic",
        "secretRef": {"name": "token"},
        "resources": [{"kind": "GitRepository", "name": "a"}],
        "resourceFilter": "res.metadata.name == 'a'",
    }
    await create(kube, namespace, "Receiver", "bad", spec, "v1")
    hook = await served(engine, await wait_ready(kube, namespace, "Receiver", "bad"))
    receiver = f"/apis/notification.toolkit.fluxcd.io/v1/namespaces/{namespace}/receivers/bad"
    await kube.patch(receiver, {"spec": {"resourceFilter": "res.metadata.name"}})  # not a bool
    obj = await wait_ready(kube, namespace, "Receiver", "bad", "False", "InvalidCELExpression")
    message = next(c for c in obj["status"]["conditions"] if c["type"] == "Ready")["message"]
    assert message == (
        "spec.resourceFilter: invalid CEL expression: the expression must return a bool, not DYN"
    )

    async def warned() -> bool:
        events = await events_of(kube, namespace, "Receiver", "bad")
        return any(e["reason"] == "InvalidCELExpression" for e in events)

    await until(warned, 30, "the InvalidCELExpression event")
    assert (await post(engine, hook, b"{}", JSON_BODY))[0] == 503
    assert (await _requested(kube, namespace))["a"] is None
