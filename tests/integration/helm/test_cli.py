"""`kidp get helmreleases` and `kidp reconcile helmrelease` over a real release."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from kidp_gitops.kube import KubeClient
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration.cli.conftest import Kidp
from tests.integration.helm.helpers import (
    HR,
    NAME,
    release,
)

pytestmark = pytest.mark.usefixtures("engine")


async def test_get_and_reconcile_a_helmrelease(
    kidp: Kidp,
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    await release(kube, namespace, git_repos, http_git, unique_repo)

    listed = await kidp("get", "helmreleases", "-n", namespace, "-o", "json")
    assert listed.exit_code == 0, listed.output
    (row,) = json.loads(listed.stdout)
    assert (row["name"], row["ready"]) == (NAME, "True")
    assert f"{namespace}/{NAME}.v1" in row["message"]
    table = await kidp("get", "hr", "-n", namespace)
    assert NAME in table.stdout
    assert "True" in table.stdout

    before = await kube.get(f"{HR.format(ns=namespace)}/{NAME}")
    result = await kidp("reconcile", "helmrelease", NAME, "-n", namespace, "--timeout", "90s")
    assert result.exit_code == 0, result.output
    after = await kube.get(f"{HR.format(ns=namespace)}/{NAME}")
    handled = after["status"].get("lastHandledReconcileAt")
    assert handled
    assert handled == after["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"]
    assert handled != before["status"].get("lastHandledReconcileAt")
    # Nothing changed: still the first revision.
    assert after["status"]["history"][0]["version"] == 1

    missing = await kidp("reconcile", "helmrelease", "nope", "-n", namespace)
    assert missing.exit_code != 0
    assert "nope" in missing.output
