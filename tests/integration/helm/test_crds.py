"""The chart's crds/ directory by the HelmRelease's policy, as helm-controller applies
it (Helm alone creates missing CRDs on install only, and never replaces one): install
and upgrade create the CRDs that are missing (`Create`, the default of both in
helm-controller 1.6's code), `CreateReplace` also replaces the existing ones, and the
release's templates may hold custom resources of a CRD the same action created."""

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

    # A new chart version changes one CRD and adds another; upgrade.crds omitted.
    with git_repos.worktree(repo, "main") as wt:
        wt.write(
            {
                f"{CHART}/Chart.yaml": files[f"{CHART}/Chart.yaml"].replace(
                    "version: 0.1.0", "version: 0.1.1"
                ),
                f"{CHART}/crds/widgets.yaml": _crd(group, "Widget", "second"),
                f"{CHART}/crds/gadgets.yaml": _crd(group, "Gadget", "first"),
            }
        )
        wt.commit("chart 0.1.1: a changed CRD and a new one")
        wt.push()
    await request_reconcile(kube, namespace, "kidp-infrastructure")
    await wait_hr(
        kube, namespace, NAME, "True", "UpgradeSucceeded",
        lambda o: o["status"].get("lastAttemptedRevision") == "0.1.1",
    )  # fmt: skip
    gadgets = await kube.get(f"{CRDS}/gadgets.{group}")
    assert gadgets["metadata"]["labels"]["helm.toolkit.fluxcd.io/name"] == NAME
    assert _said(await kube.get(f"{CRDS}/widgets.{group}")) == "first"  # Create: left alone

    # CreateReplace: the next upgrade (new values) replaces the existing CRD.
    await kube.patch(
        f"{HR.format(ns=namespace)}/{NAME}",
        {"spec": {"upgrade": {"crds": "CreateReplace"}, "values": {"replicaCount": 2}}},
    )
    await wait_hr(
        kube, namespace, NAME, "True", "UpgradeSucceeded",
        lambda o: o["status"]["history"][0]["version"] == 3,
    )  # fmt: skip
    assert _said(await kube.get(f"{CRDS}/widgets.{group}")) == "second"
