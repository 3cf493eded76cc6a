"""The chart's crds/ directory by the HelmRelease's policy, as helm-controller applies it
over Helm v4 (Helm alone creates missing CRDs on install only): server-side (install's
default), every CRD of the chart is applied; client-side, `Create` (the default of both
actions in helm-controller 1.6's code) creates the missing ones only and `CreateReplace`
also replaces the existing ones. The release's templates may hold custom resources of a
CRD the same action created."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import yaml

from kidp_gitops.kube import ApiError, KubeClient
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration.helm.helpers import HR, NAME, prd_release, wait_hr
from tests.integration.kustomize.helpers import example_files, setup_source
from tests.integration.source.helpers import request_reconcile

pytestmark = pytest.mark.usefixtures("engine")

CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
CHART = "charts/operators"


def _crd(group: str, kind: str, said: str) -> str:
    """A namespaced CRD of `kind` in `group`, its schema's description `said` (what a
    replace changes)."""
    plural = kind.lower() + "s"
    return yaml.safe_dump(
        {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.{group}"},
            "spec": {
                "group": group,
                "names": {"kind": kind, "plural": plural, "singular": kind.lower()},
                "scope": "Namespaced",
                "versions": [
                    {
                        "name": "v1",
                        "served": True,
                        "storage": True,
                        "schema": {
                            "openAPIV3Schema": {
                                "type": "object",
                                "description": said,
                                "x-kubernetes-preserve-unknown-fields": True,
                            }
                        },
                    }
                ],
            },
        }
    )


def _said(crd: dict[str, Any]) -> str:
    return str(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["description"])


@pytest.fixture
async def group(kube: KubeClient, namespace: str) -> AsyncIterator[str]:
    """An API group of the test's own (CRDs are cluster-wide); its CRDs removed after."""
    name = f"{namespace}.kidp.test"
    yield name
    for kind in ("widgets", "gadgets"):
        try:
            await kube.delete(f"{CRDS}/{kind}.{name}")
        except ApiError as err:
            if not err.not_found:
                raise


async def test_crds_are_created_by_install_and_upgrade_and_replaced_when_asked(
    kube: KubeClient,
    namespace: str,
    group: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    files = example_files(namespace)
    files[f"{CHART}/crds/widgets.yaml"] = _crd(group, "Widget", "first")
    # A custom resource of the CRD the same install creates: its kind must be known by
    # the time the templates are applied.
    files[f"{CHART}/templates/widget.yaml"] = yaml.safe_dump(
        {"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": "one"}}
    )
    repo = await setup_source(kube, namespace, git_repos, http_git, unique_repo, files)
    await kube.create(HR.format(ns=namespace), prd_release(namespace))
    await wait_hr(kube, namespace, NAME, "True", "InstallSucceeded")

    widgets = await kube.get(f"{CRDS}/widgets.{group}")
    assert _said(widgets) == "first"
    assert widgets["metadata"]["labels"]["helm.toolkit.fluxcd.io/name"] == NAME
    assert widgets["metadata"]["labels"]["helm.toolkit.fluxcd.io/namespace"] == namespace
    await kube.get(f"/apis/{group}/v1/namespaces/{namespace}/widgets/one")

    # Client-side, a new chart version that changes one CRD and adds another, with
    # upgrade.crds omitted (Create): the new one is created, the other left alone.
    hr = f"{HR.format(ns=namespace)}/{NAME}"
    await kube.patch(hr, {"spec": {"upgrade": {"serverSideApply": "disabled"}}})
    await _push(git_repos, repo, files, "0.1.1", {"widgets": "second", "gadgets": "first"}, group)
    await request_reconcile(kube, namespace, "kidp-infrastructure")
    await wait_hr(kube, namespace, NAME, "True", "UpgradeSucceeded", _revision("0.1.1"))
    gadgets = await kube.get(f"{CRDS}/gadgets.{group}")
    assert gadgets["metadata"]["labels"]["helm.toolkit.fluxcd.io/name"] == NAME
    assert _said(await kube.get(f"{CRDS}/widgets.{group}")) == "first"

    # CreateReplace: the next upgrade (new values) replaces the existing CRD.
    await kube.patch(
        hr, {"spec": {"upgrade": {"crds": "CreateReplace"}, "values": {"replicaCount": 2}}}
    )
    await wait_hr(
        kube, namespace, NAME, "True", "UpgradeSucceeded",
        lambda o: o["status"]["history"][0]["version"] == 3,
    )  # fmt: skip
    assert _said(await kube.get(f"{CRDS}/widgets.{group}")) == "second"

    # Server-side, Create applies the existing CRDs too (Helm v4's create is an apply).
    await kube.patch(hr, {"spec": {"upgrade": {"crds": None, "serverSideApply": "enabled"}}})
    await _push(git_repos, repo, files, "0.1.2", {"widgets": "third", "gadgets": "first"}, group)
    await request_reconcile(kube, namespace, "kidp-infrastructure")
    await wait_hr(kube, namespace, NAME, "True", "UpgradeSucceeded", _revision("0.1.2"))
    assert _said(await kube.get(f"{CRDS}/widgets.{group}")) == "third"


def _revision(version: str) -> Callable[[dict[str, Any]], bool]:
    return lambda o: o["status"].get("lastAttemptedRevision") == version


async def _push(
    git_repos: GitRepos,
    repo: str,
    files: dict[str, str],
    version: str,
    crds: dict[str, str],
    group: str,
) -> None:
    """Chart `version`, its crds/ holding the CRDs `crds` names (plural → description)."""
    changed = {
        f"{CHART}/Chart.yaml": files[f"{CHART}/Chart.yaml"].replace(
            "version: 0.1.0", f"version: {version}"
        )
    }
    for plural, said in crds.items():
        changed[f"{CHART}/crds/{plural}.yaml"] = _crd(group, plural[:-1].capitalize(), said)
    with git_repos.worktree(repo, "main") as wt:
        wt.write(changed)
        wt.commit(f"chart {version}")
        wt.push()
