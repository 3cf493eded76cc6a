"""Secrets and ConfigMaps named by `postBuild.substituteFrom` are inputs: a change to
one is built and applied within seconds, without a commit or a requested reconcile,
with an event that names the object and shows no value; labelled for Flux's watch
(`reconcile.fluxcd.io/watch: Enabled`) or not. A change to a Secret nobody names
reconciles nothing, and a reconcile after a change is applied builds nothing new."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client import REGISTRY

from kidp_gitops.kube import KubeClient
from kidp_gitops.kustomize import pipeline
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration.kustomize.helpers import (
    KS,
    kustomization,
    manifests,
    setup_source,
    wait_ready,
)
from tests.integration.source.helpers import create_secret
from tests.integration.wait import until

pytestmark = pytest.mark.usefixtures("engine")

WITHIN = 15  # seconds: "within seconds", with room for a busy shared machine


def reconciles(namespace: str, name: str) -> float:
    return (
        REGISTRY.get_sample_value(
            "gotk_reconcile_duration_seconds_count",
            {"kind": "Kustomization", "name": name, "namespace": namespace},
        )
        or 0.0
    )


def count_builds(monkeypatch: pytest.MonkeyPatch, namespace: str) -> list[str]:
    """The Kustomizations of `namespace` the engine builds from now on."""
    built: list[str] = []
    real = pipeline.render

    async def counting(client: KubeClient, obj: dict[str, Any], *a: Any, **kw: Any) -> Any:
        if obj["metadata"]["namespace"] == namespace:
            built.append(obj["metadata"]["name"])
        return await real(client, obj, *a, **kw)

    monkeypatch.setattr(pipeline, "render", counting)
    return built


async def request(kube: KubeClient, namespace: str, name: str = "apps") -> None:
    """A requested reconcile, and the wait until it was handled and counted."""
    count = reconciles(namespace, name)
    stamp = f"{time.time():.6f}"
    await kube.patch(
        f"{KS.format(ns=namespace)}/{name}",
        {"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": stamp}}},
    )

    async def handled() -> bool:
        obj = await kube.get(f"{KS.format(ns=namespace)}/{name}")
        done = (obj.get("status") or {}).get("lastHandledReconcileAt") == stamp
        return done and reconciles(namespace, name) > count

    await until(handled, 30, f"the requested reconcile {stamp}")


async def input_events(kube: KubeClient, namespace: str) -> list[str]:
    events = await kube.list(f"/api/v1/namespaces/{namespace}/events")
    return [e["message"] for e in events["items"] if e["reason"] == "InputChanged"]


async def applied(kube: KubeClient, namespace: str) -> dict[str, str]:
    cm = await kube.get(f"/api/v1/namespaces/{namespace}/configmaps/app")
    return dict(cm.get("data") or {})


async def setup(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
    password: str,
) -> None:
    """A ConfigMap `app` in Git with `${password}` from Secret `db` (not labelled) and
    `${color}` from ConfigMap `vars` (labelled as Flux wants), applied and Ready."""
    app = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "app", "namespace": namespace},
        "data": {"password": "${password}", "color": "${color}"},
    }
    await setup_source(kube, namespace, git_repos, http_git, unique_repo, manifests(app))
    await create_secret(kube, namespace, "db", {"password": password})
    await kube.create(
        f"/api/v1/namespaces/{namespace}/configmaps",
        {
            "metadata": {"name": "vars", "labels": {"reconcile.fluxcd.io/watch": "Enabled"}},
            "data": {"color": "blue"},
        },
    )
    post_build = {
        "substituteFrom": [{"kind": "ConfigMap", "name": "vars"}, {"kind": "Secret", "name": "db"}]
    }
    await kube.create(KS.format(ns=namespace), kustomization("apps", "apps", postBuild=post_build))
    await wait_ready(kube, namespace, "apps")
    assert await applied(kube, namespace) == {"password": password, "color": "blue"}


async def test_a_rotated_secret_and_a_changed_configmap_are_applied_within_seconds(
    monkeypatch: pytest.MonkeyPatch,
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    old, new = uuid.uuid4().hex, uuid.uuid4().hex
    await setup(kube, namespace, git_repos, http_git, unique_repo, old)
    built = count_builds(monkeypatch, namespace)

    db = f"/api/v1/namespaces/{namespace}/secrets/db"
    await kube.patch(db, {"stringData": {"password": new}})

    async def rotated() -> bool:
        return (await applied(kube, namespace)).get("password") == new

    await until(rotated, WITHIN, "the rotated Secret's value in the applied ConfigMap")
    assert built == ["apps"]
    messages = await until(lambda: input_events(kube, namespace), 10, "the InputChanged event")
    assert messages == [f"Secret/{namespace}/db changed: reconciling"]

    # Nothing changed since: a requested reconcile builds nothing.
    await request(kube, namespace)
    assert built == ["apps"]

    await kube.patch(f"/api/v1/namespaces/{namespace}/configmaps/vars", {"data": {"color": "red"}})

    async def recolored() -> bool:
        return (await applied(kube, namespace)).get("color") == "red"

    await until(recolored, WITHIN, "the changed ConfigMap's value in the applied ConfigMap")

    async def both_named() -> list[str] | None:
        found = await input_events(kube, namespace)
        return found if len(found) == 2 else None

    messages = await until(both_named, 10, "an InputChanged event naming the ConfigMap")
    assert f"ConfigMap/{namespace}/vars changed: reconciling" in messages

    # The Secret's values, old and new, are in no event and not in the status.
    events = json.dumps((await kube.list(f"/api/v1/namespaces/{namespace}/events"))["items"])
    status = json.dumps((await kube.get(f"{KS.format(ns=namespace)}/apps"))["status"])
    for value in (old, new):
        for shown in (value, base64.b64encode(value.encode()).decode()):
            assert shown not in events
            assert shown not in status


async def test_a_secret_nobody_names_reconciles_nothing(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    await setup(kube, namespace, git_repos, http_git, unique_repo, uuid.uuid4().hex)
    await create_secret(kube, namespace, "unrelated", {"password": "one"})
    await request(kube, namespace)  # settled: whatever was queued has run
    before = reconciles(namespace, "apps")
    secrets = f"/api/v1/namespaces/{namespace}/secrets"

    await kube.patch(f"{secrets}/unrelated", {"stringData": {"password": "two"}})
    # The engine sees Secret changes in order, on one watch: once it has seen the change
    # of `db` that follows, it has looked at `unrelated`. (A key no manifest uses: the
    # rebuild applies nothing, so no other watch reconciles `apps` meanwhile.)
    await kube.patch(f"{secrets}/db", {"stringData": {"unused": "x"}})
    messages = await until(lambda: input_events(kube, namespace), 10, "the InputChanged event")
    assert messages == [f"Secret/{namespace}/db changed: reconciling"]

    async def rebuilt() -> bool:
        return reconciles(namespace, "apps") > before

    await until(rebuilt, 10, "the reconcile for `db`")
    await request(kube, namespace)  # after anything `unrelated` could have queued
    assert reconciles(namespace, "apps") - before == 2  # db's and the requested one
    assert await input_events(kube, namespace) == messages
