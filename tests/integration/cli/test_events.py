"""`kidp events`: the events of GitOps objects, with `--for` narrowing to one object
and its source, `--types` to warnings, rows for scripts, and `--watch` streaming new
events from a running `kidp` process until Ctrl-C."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from kidp_gitops.devcluster import DevCluster
from kidp_gitops.kube import KubeClient
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration.cli.conftest import Kidp
from tests.integration.cli.helpers import (
    SOURCE_INTERVAL,
    ctrl_c,
    dead_kubeconfig,
    next_line,
    one_line,
    run_kidp,
    synced_infrastructure,
)
from tests.integration.kustomize.helpers import KS, prd_infrastructure, setup_source
from tests.integration.wait import until

pytestmark = pytest.mark.usefixtures("engine")


async def unrelated_event(kube: KubeClient, namespace: str) -> None:
    """An event about a Pod: not one kidp shows."""
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
    await unrelated_event(kube, namespace)

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
    broken = prd_infrastructure(
        namespace,
        sourceRef={"kind": "GitRepository", "name": "b"},
        buildMetadata=["originAnnotations"],  # refused: Stalled, a Warning
        healthChecks=[],
    )
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
    assert "spec.buildMetadata is set" in warnings[0]["message"]

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


async def test_events_watch_streams_new_events_until_ctrl_c(
    installed: DevCluster,
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    table = await run_kidp(installed, "events", "--watch", "-n", namespace)
    # Every namespace, one object, JSON lines for scripts.
    rows = await run_kidp(
        installed, "events", "-w", "-A", "--for", "GitRepository/kidp-infrastructure", "-o", "json"
    )
    assert table.stdout is not None
    assert rows.stdout is not None
    try:
        # Nothing yet: the listing is its header alone, and the watch goes on from there.
        header = await next_line(table.stdout, "LAST SEEN")
        assert header.split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
        await unrelated_event(kube, namespace)
        # A new source: the controller fetches it, and its event appears as it happens.
        files = {"a.yaml": "{}\n"}
        await setup_source(
            kube, namespace, git_repos, http_git, unique_repo, files, interval=SOURCE_INTERVAL
        )
        line = await next_line(table.stdout, "GitRepository/kidp-infrastructure")
        assert line.split()[1:4] == ["Normal", "NewArtifact", "GitRepository/kidp-infrastructure"]
        ours = f'"namespace": "{namespace}"'
        row = json.loads(await next_line(rows.stdout, ours, '"reason": "NewArtifact"'))
        assert row["object"] == "GitRepository/kidp-infrastructure"
    finally:
        outputs = [await ctrl_c(process) for process in (table, rows)]
    for code, out, err in outputs:
        assert code == 0, err
        assert "Unrelated" not in out
        assert "Traceback" not in err


async def test_events_watch_without_a_cluster_is_one_line(kidp: Kidp, tmp_path: Path) -> None:
    unreachable = await kidp("events", "--watch", "--kubeconfig", str(dead_kubeconfig(tmp_path)))
    assert unreachable.exit_code == 1
    assert one_line(unreachable).startswith("✗ cannot reach the Kubernetes API server")
