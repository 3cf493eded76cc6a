"""`kidp get`: the table a Flux user knows, rows for scripts, every namespace, watching,
and one clear line for an unknown object, a missing kubeconfig or a dead server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from kidp_gitops.cli.main import app
from kidp_gitops.devcluster import DevCluster
from kidp_gitops.kube import KubeClient
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration.cli.conftest import Kidp
from tests.integration.cli.helpers import (
    HR,
    ctrl_c,
    dead_kubeconfig,
    helmrelease,
    next_line,
    one_line,
    run_kidp,
    synced_infrastructure,
)
from tests.integration.kustomize.helpers import KS, kustomization

pytestmark = pytest.mark.usefixtures("engine")


async def test_get_shows_sources_and_kustomizations(
    kidp: Kidp,
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    await synced_infrastructure(kube, namespace, git_repos, http_git, unique_repo)

    table = await kidp("get", "sources", "git", "-n", namespace)
    assert table.exit_code == 0, table.output
    header, row = table.stdout.splitlines()[:2]
    assert header.split() == ["NAME", "REVISION", "SUSPENDED", "READY", "MESSAGE", "AGE"]
    assert row.split()[:4][0] == "kidp-infrastructure"
    assert "main@sha1:" in row
    assert " True " in row
    assert "\x1b[" not in table.stdout

    rows = json.loads((await kidp("get", "ks", "-n", namespace, "-o", "json")).stdout)
    assert [(r["name"], r["ready"], r["suspended"]) for r in rows] == [
        ("infrastructure", "True", False)
    ]
    assert rows[0]["revision"].startswith("main@sha1:")
    assert rows[0]["message"].startswith("Applied revision: main@sha1:")
    assert rows[0]["namespace"] == namespace
    assert rows[0]["kind"] == "Kustomization"

    one = yaml.safe_load(
        (await kidp("get", "ks", "infrastructure", "-n", namespace, "-o", "yaml")).stdout
    )
    assert one[0]["name"] == "infrastructure"

    everywhere = await kidp("get", "kustomizations", "-A")
    assert everywhere.exit_code == 0
    assert everywhere.stdout.splitlines()[0].split()[0] == "NAMESPACE"
    assert any(
        line.split()[:2] == [namespace, "infrastructure"] for line in everywhere.stdout.splitlines()
    )

    both = await kidp("get", "all", "-n", namespace)
    assert both.exit_code == 0
    assert "gitrepository/kidp-infrastructure" in both.stdout
    assert "kustomization/infrastructure" in both.stdout

    failing = await kidp("get", "ks", "-n", namespace, "--status-selector", "ready=false")
    assert failing.exit_code == 0
    assert "infrastructure" not in failing.stdout
    assert "no objects found" in failing.output


async def test_get_helmreleases_before_they_are_reconciled(
    kidp: Kidp, kube: KubeClient, namespace: str
) -> None:
    # Suspended, so the Helm controller leaves it without a status.
    await kube.create(HR.format(ns=namespace), helmrelease("podinfo", suspend=True))
    result = await kidp("get", "helmreleases", "-n", namespace, "-o", "json")
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)
    assert (row["name"], row["ready"], row["message"]) == (
        "podinfo",
        "Unknown",
        "waiting to be reconciled",
    )
    table = await kidp("get", "hr", "-n", namespace)
    assert "podinfo" in table.stdout
    assert "Unknown" in table.stdout


async def test_get_watch_prints_changes(
    installed: DevCluster,
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    await synced_infrastructure(kube, namespace, git_repos, http_git, unique_repo)
    watching = await run_kidp(installed, "get", "ks", "-n", namespace, "-w", "-o", "json")
    assert watching.stdout is not None
    try:
        # The listing's row is out: the command watches from the listing's version on,
        # so the change below cannot fall between the two.
        await next_line(watching.stdout, '"infrastructure"')
        await kube.patch(f"{KS.format(ns=namespace)}/infrastructure", {"spec": {"suspend": True}})
        changed = json.loads(await next_line(watching.stdout, '"MODIFIED"', '"suspended": true'))
    finally:
        code, _, err = await ctrl_c(watching)
    assert changed["name"] == "infrastructure"
    assert code == 130, err


async def test_get_watch_ends_by_itself_after_its_timeout(kidp: Kidp, namespace: str) -> None:
    ended = await kidp("get", "ks", "-n", namespace, "-w", "--watch-timeout", "1s")
    assert ended.exit_code == 0, ended.output


async def test_get_watch_ends_on_ctrl_c_with_130(
    installed: DevCluster, kube: KubeClient, namespace: str
) -> None:
    # Suspended: the row is there to see, and nothing changes it while the test runs.
    await kube.create(KS.format(ns=namespace), kustomization("watched", "apps", suspend=True))
    watching = await run_kidp(installed, "get", "kustomizations", "-A", "--watch")
    assert watching.stdout is not None
    try:
        # The listing is printed: the command is watching now.
        await next_line(watching.stdout, namespace, "watched")
    finally:
        code, _, err = await ctrl_c(watching)
    assert code == 130, err
    assert "Traceback" not in err
    assert len([line for line in err.splitlines() if line.strip()]) <= 1, err
    assert "aborted" not in err


async def test_get_errors_are_one_line(kidp: Kidp, namespace: str, tmp_path: Path) -> None:
    missing = await kidp("get", "ks", "nope", "-n", namespace)
    assert missing.exit_code == 1
    assert one_line(missing) == f"✗ Kustomization '{namespace}/nope' not found"

    no_config = await kidp("get", "ks", env={"KUBECONFIG": str(tmp_path / "absent")})
    assert no_config.exit_code == 1
    assert "no kubeconfig at" in one_line(no_config)

    unreachable = await kidp("get", "ks", "--kubeconfig", str(dead_kubeconfig(tmp_path)))
    assert unreachable.exit_code == 1
    assert one_line(unreachable).startswith("✗ cannot reach the Kubernetes API server")

    bad_flag = await kidp("get", "ks", "--colour")
    assert bad_flag.exit_code == 2
    assert one_line(bad_flag) == "✗ No such option: --colour (see 'kidp get ks --help')"

    bad_output = await kidp("get", "ks", "-o", "xml")
    assert bad_output.exit_code == 2
    assert "'xml' is not one of" in one_line(bad_output)


async def test_object_names_complete_from_the_cluster(
    installed: DevCluster,
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    await synced_infrastructure(kube, namespace, git_repos, http_git, unique_repo)

    def complete(words: str) -> list[str]:
        result = CliRunner().invoke(
            app,
            [],
            prog_name="kidp",
            env={
                "_KIDP_COMPLETE": "complete_bash",
                "COMP_WORDS": words,
                "COMP_CWORD": str(len(words.split(" ")) - 1),
                "KUBECONFIG": str(installed.kubeconfig),
            },
        )
        return result.stdout.split()

    assert await asyncio.to_thread(complete, f"kidp reconcile ks -n {namespace} in") == [
        "infrastructure"
    ]
    assert await asyncio.to_thread(complete, f"kidp get sources git -n {namespace} ") == [
        "kidp-infrastructure"
    ]

    # Helm sources: `source helm` names HelmRepositories, `source chart` HelmCharts.
    repo = {"interval": "10m", "url": "http://127.0.0.1:1/charts"}
    chart = {
        "interval": "10m",
        "chart": "podinfo",
        "sourceRef": {"kind": "HelmRepository", "name": "stable"},
    }
    for plural, kind, name, spec in (
        ("helmrepositories", "HelmRepository", "stable", repo),
        ("helmcharts", "HelmChart", "podinfo", chart),
    ):
        await kube.create(
            f"/apis/source.toolkit.fluxcd.io/v1/namespaces/{namespace}/{plural}",
            {
                "apiVersion": "source.toolkit.fluxcd.io/v1",
                "kind": kind,
                "metadata": {"name": name},
                "spec": spec,
            },
        )
    assert await asyncio.to_thread(complete, f"kidp get sources helm -n {namespace} ") == ["stable"]
    assert await asyncio.to_thread(complete, f"kidp reconcile source chart -n {namespace} ") == [
        "podinfo"
    ]
