"""A Secret changed by hand is put back like any object, and what the engine says about
it names the changed keys, never a value (the one in Git or the one someone wrote)."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable

import pytest
import yaml

from kidp_gitops.kube import KubeClient
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration.kustomize.helpers import (
    apply_apps,
)
from tests.integration.wait import until

pytestmark = pytest.mark.usefixtures("engine")


async def test_a_hand_edited_secret_is_restored_without_showing_its_values(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    # Short values: a long one would be cut in a message, and the test would prove less.
    in_git, by_hand = uuid.uuid4().hex[:8], uuid.uuid4().hex[:8]
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db", "namespace": namespace},
        "data": {"password": base64.b64encode(in_git.encode()).decode()},
    }
    files = {"apps/db.yaml": yaml.safe_dump(secret)}
    await apply_apps(kube, namespace, git_repos, http_git, unique_repo, files)

    path = f"/api/v1/namespaces/{namespace}/secrets/db"
    await kube.patch(path, {"stringData": {"password": by_hand}})

    async def restored() -> bool:
        data = (await kube.get(path))["data"]
        return bool(base64.b64decode(data["password"]).decode() == in_git)

    await until(restored, 30, "the Secret to be put back")

    async def corrected() -> list[str]:
        events = await kube.get(f"/api/v1/namespaces/{namespace}/events")
        return [e["message"] for e in events["items"] if e["reason"] == "DriftCorrected"]

    messages = await until(corrected, 30, "the DriftCorrected event")
    assert any("data.password" in m for m in messages), messages
    for value in (in_git, by_hand):
        for shown in (value, base64.b64encode(value.encode()).decode()):
            assert all(shown not in m for m in messages), messages
