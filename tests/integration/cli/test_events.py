"""`kidp events`: the events of GitOps objects, with `--for` narrowing to one object
and its source, `--types` to warnings, and rows for scripts."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from kidp_gitops.kube import KubeClient
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration.cli.conftest import Kidp
from tests.integration.cli.helpers import KS, infrastructure, one_line, synced_infrastructure
from tests.integration.wait import until

pytestmark = pytest.mark.usefixtures("engine")


async def test_events_of_gitops_objects(
    kidp: Kidp,
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    await synced_infrastructure(kube, namespace, git_repos, http_git, unique_repo)
    # An event about something else in the namespace is not shown.
    await kube.create(
        f"/api/v1/namespaces/{namespace}/events",
        {
            "metadata": {"name": "unrelated"},
            "involvedObject": {"kind": "Pod", "name": "x", "namespace": namespace},
            "reason": "Unrelated",
            "message": "not ours",
            "type": "Normal",
        },
    )

    table = await kidp("events", "-n", namespace)
    assert table.exit_code == 0, table.output
    assert table.stdout.splitlines()[0].split() == [
        "LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"
    ]  # fmt: skip
    assert "GitRepository/kidp-infrastructure" in table.stdout
    assert f"Deployment/{namespace}-sys/kidp-operator created" in table.stdout
    assert "Unrelated" not in table.stdout

    rows = json.loads((await kidp("events", "-n", namespace, "-o", "json")).stdout)
    reasons = {(r["object"], r["reason"]) for r in rows}
    assert ("GitRepository/kidp-infrastructure", "NewArtifact") in reasons
    assert ("Kustomization/infrastructure", "Progressing") in reasons
    assert all(r["namespace"] == namespace for r in rows)
    assert rows == sorted(rows, key=lambda r: r["lastSeen"])

    # --for an applier: its events and its source's, nothing else.
    broken = infrastructure(namespace, sourceRef={"kind": "Bucket", "name": "b"}, healthChecks=[])
    broken["metadata"]["name"] = "broken"
    await kube.create(KS.format(ns=namespace), broken)

    async def warned() -> list[dict[str, str]] | None:
        result = await kidp(
            "events", "--for", "Kustomization/broken", "--types", "Warning", "-n", namespace,
            "-o", "json",
        )  # fmt: skip
        return json.loads(result.stdout) or None

    warnings = await until(warned, 30, "a warning about the broken Kustomization")
    assert {w["object"] for w in warnings} == {"Kustomization/broken"}
    assert all(w["type"] == "Warning" for w in warnings)
    assert "Bucket is not supported" in warnings[0]["message"]

    related = json.loads(
        (
            await kidp("events", "--for", f"Kustomization/{namespace}/infrastructure", "-o", "json")
        ).stdout
    )
    assert {r["object"] for r in related} == {
        "Kustomization/infrastructure",
        "GitRepository/kidp-infrastructure",
    }


async def test_events_rejects_bad_filters(kidp: Kidp, namespace: str) -> None:
    bad_type = await kidp("events", "--types", "Error", "-n", namespace)
    assert bad_type.exit_code == 1
    assert one_line(bad_type) == "✗ --types 'error': expected Normal or Warning"
    bad_ref = await kidp("events", "--for", "Widget/x", "-n", namespace)
    assert bad_ref.exit_code == 1
    assert "unknown kind 'Widget'" in one_line(bad_ref)
    unknown = await kidp("events", "--for", "Kustomization/nope", "-n", namespace)
    assert one_line(unknown) == f"✗ Kustomization '{namespace}/nope' not found"
