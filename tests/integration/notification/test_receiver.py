"""Receivers end to end: a push signed as GitHub signs it, posted to the engine's webhook
server, makes the GitRepository fetch the new commit and the Kustomization apply it; a
wrong signature is refused and requests nothing; a ping is answered; other sender types
authenticate their way."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from kidp_gitops.api.wellknown import REQUESTED_AT
from kidp_gitops.engine.run import Engine
from kidp_gitops.kube import KubeClient
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration.kustomize.helpers import KS, kustomization, setup_source
from tests.integration.kustomize.helpers import wait_ready as wait_ks
from tests.integration.notification.helpers import create, served, wait_ready
from tests.integration.source.helpers import create_secret, path, wait_revision

pytestmark = pytest.mark.usefixtures("engine")


async def post(engine: Engine, hook: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    url = f"http://127.0.0.1:{engine.receiver_port}{hook}"
    async with aiohttp.ClientSession() as http, http.post(url, data=body, headers=headers) as r:
        return r.status, await r.text()


def github_headers(token: str, body: bytes, event: str = "push") -> dict[str, str]:
    digest = hmac.new(token.encode(), body, hashlib.sha256).hexdigest()
    return {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": f"sha256={digest}",
        "Content-Type": "application/json",
    }


def configmap(value: str) -> str:
    return json.dumps(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app"}, "data": {"v": value}}
    )


async def test_a_signed_github_push_is_applied_and_a_forged_one_is_refused(
    kube: KubeClient,
    engine: Engine,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    token = uuid.uuid4().hex
    # Hourly polling: only the webhook can bring the new commit in within the test.
    repo = await setup_source(
        kube, namespace, git_repos, http_git, unique_repo, {"app/cm.yaml": configmap("1")},
        interval="1h",
    )  # fmt: skip
    await kube.create(
        KS.format(ns=namespace), kustomization("app", "app", targetNamespace=namespace)
    )
    first = await wait_ks(kube, namespace, "app")
    await create_secret(kube, namespace, "webhook-token", {"token": token})
    await create(
        kube,
        namespace,
        "Receiver",
        "github",
        {
            "type": "github",
            "events": ["ping", "push"],
            "secretRef": {"name": "webhook-token"},
            "resources": [{"kind": "GitRepository", "name": "kidp-infrastructure"}],
        },
        "v1",
    )
    receiver = await wait_ready(kube, namespace, "Receiver", "github", reason="Succeeded")
    hook = await served(engine, receiver)
    digest = hashlib.sha256(f"{token}github{namespace}".encode()).hexdigest()
    assert hook == f"/hook/{digest}"
    assert (
        hook in next(c for c in receiver["status"]["conditions"] if c["type"] == "Ready")["message"]
    )

    with git_repos.worktree(repo, "main") as wt:
        wt.write({"app/cm.yaml": configmap("2")})
        pushed = wt.commit("v2")
        wt.push()
    body = json.dumps({"ref": "refs/heads/main", "after": pushed}).encode()

    # Forged: signed with another key, or not signed at all. Refused; nothing requested.
    assert (await post(engine, hook, body, github_headers("not-the-token", body)))[0] == 401
    unsigned = {k: v for k, v in github_headers(token, body).items() if "Signature" not in k}
    assert (await post(engine, hook, body, unsigned))[0] == 401
    assert (await post(engine, hook + "0", body, github_headers(token, body)))[0] == 404
    # An event the Receiver does not take: refused too.
    assert (await post(engine, hook, body, github_headers(token, body, "issues")))[0] == 403
    repo_obj = await kube.get(path(namespace, "kidp-infrastructure"))
    assert REQUESTED_AT not in (repo_obj["metadata"].get("annotations") or {})
    assert repo_obj["status"]["artifact"]["revision"] == first["status"]["lastAppliedRevision"]

    # GitHub's ping when the webhook is created: answered, nothing requested.
    status, text = await post(engine, hook, b"{}", github_headers(token, b"{}", "ping"))
    assert (status, text.strip()) == (200, "pong")

    # The real push: the source fetches the commit, the Kustomization applies it.
    status, _ = await post(engine, hook, body, github_headers(token, body))
    assert status == 200
    repo_obj = await kube.get(path(namespace, "kidp-infrastructure"))
    assert REQUESTED_AT in repo_obj["metadata"]["annotations"]
    await wait_revision(kube, namespace, "kidp-infrastructure", pushed, timeout=60)
    await wait_ks(kube, namespace, "app", revision=pushed)
    cm = await kube.get(f"/api/v1/namespaces/{namespace}/configmaps/app")
    assert cm["data"] == {"v": "2"}


async def test_gitlab_and_generic_hmac_receivers_and_label_selection(
    kube: KubeClient, engine: Engine, namespace: str
) -> None:
    token = uuid.uuid4().hex
    await create_secret(kube, namespace, "token", {"token": token})
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
    web: dict[str, Any] = {"kind": "GitRepository", "name": "*", "matchLabels": {"team": "web"}}
    for type_ in ("gitlab", "generic-hmac"):
        spec = {"type": type_, "secretRef": {"name": "token"}, "resources": [web]}
        await create(kube, namespace, "Receiver", type_, spec, "v1")
    gitlab = await served(engine, await wait_ready(kube, namespace, "Receiver", "gitlab"))
    signed = await served(engine, await wait_ready(kube, namespace, "Receiver", "generic-hmac"))

    async def requested() -> dict[str, str | None]:
        found = {}
        for name in "abc":
            obj = await kube.get(path(namespace, name))
            found[name] = (obj["metadata"].get("annotations") or {}).get(REQUESTED_AT)
        return found

    assert (await post(engine, gitlab, b"{}", {"X-Gitlab-Token": "wrong"}))[0] == 401
    assert await requested() == {"a": None, "b": None, "c": None}
    headers = {"X-Gitlab-Token": token, "X-Gitlab-Event": "Push Hook"}
    assert (await post(engine, gitlab, b"{}", headers))[0] == 200
    after = await requested()
    assert after["a"]
    assert after["b"]
    assert after["c"] is None

    body = b'{"image": "web:2"}'
    digest = hmac.new(token.encode(), body, hashlib.sha256).hexdigest()
    assert (await post(engine, signed, body, {"X-Signature": "sha256=" + "0" * 64}))[0] == 401
    assert await requested() == after
    assert (await post(engine, signed, body, {"X-Signature": f"sha256={digest}"}))[0] == 200
    again = await requested()
    assert again["a"] != after["a"]
    assert again["c"] is None

    # As Flux: a wildcard without matchLabels names nothing; the call says so.
    spec = {
        "type": "generic",
        "secretRef": {"name": "token"},
        "resources": [{**web, "matchLabels": {}}],
    }
    await create(kube, namespace, "Receiver", "wild", spec, "v1")
    wild = await served(engine, await wait_ready(kube, namespace, "Receiver", "wild"))
    status, text = await post(engine, wild, b"{}", {})
    assert status == 500
    assert "matchLabels must be set with name '*'" in text
    assert await requested() == again
