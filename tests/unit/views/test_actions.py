"""The actions both faces take: the patches they send, the values they stamp, and the
source an applier reads from."""

from __future__ import annotations

import re
from typing import Any, cast

import pytest

from kidp_gitops.kube import KubeClient
from kidp_gitops.views import actions, kinds
from kidp_gitops.views.errors import ViewError

JSON = dict[str, Any]


class Recorder:
    """Stands in for KubeClient.patch: records (path, patch)."""

    def __init__(self) -> None:
        self.patches: list[tuple[str, JSON]] = []

    async def patch(self, path: str, body: JSON) -> JSON:
        self.patches.append((path, body))
        return {}


def test_stamp_is_rfc3339_with_nanoseconds() -> None:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", actions.stamp())


async def test_resume_unsuspends_then_requests_a_reconcile() -> None:
    client = Recorder()
    value = await actions.resume(
        cast(KubeClient, client), kinds.KUSTOMIZATION, "flux-system", "apps"
    )
    path = "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/flux-system/kustomizations/apps"
    assert client.patches == [
        (path, {"spec": {"suspend": False}}),
        (path, {"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": value}}}),
    ]


async def test_suspend_sets_spec_suspend() -> None:
    client = Recorder()
    await actions.set_suspended(cast(KubeClient, client), kinds.HELM_RELEASE, "apps", "web", True)
    assert client.patches == [
        (
            "/apis/helm.toolkit.fluxcd.io/v2/namespaces/apps/helmreleases/web",
            {"spec": {"suspend": True}},
        )
    ]


def test_source_of_an_applier() -> None:
    ks = {
        "kind": "Kustomization",
        "metadata": {"namespace": "apps", "name": "web"},
        "spec": {"sourceRef": {"kind": "GitRepository", "name": "repo", "namespace": "flux"}},
    }
    assert actions.source_of(ks) == (kinds.GIT_REPOSITORY, "flux", "repo")
    hr = {
        "kind": "HelmRelease",
        "metadata": {"namespace": "apps", "name": "web"},
        "spec": {"chart": {"spec": {"sourceRef": {"kind": "HelmRepository", "name": "charts"}}}},
    }
    assert actions.source_of(hr) == (kinds.HELM_REPOSITORY, "apps", "charts")
    with pytest.raises(ViewError, match="Kustomization/apps/web names no source"):
        actions.source_of({**ks, "spec": {}})
    with pytest.raises(ViewError, match="reads from a Nonesuch: not served yet"):
        actions.source_of({**ks, "spec": {"sourceRef": {"kind": "Nonesuch", "name": "b"}}})


def test_the_producer_of_an_external_artifact_is_its_generator() -> None:
    ea = {
        "kind": "ExternalArtifact",
        "metadata": {"namespace": "apps", "name": "backend"},
        "spec": {
            "sourceRef": {
                "apiVersion": "source.extensions.fluxcd.io/v1beta1",
                "kind": "ArtifactGenerator",
                "name": "monorepo",
            }
        },
    }
    assert actions.producer_of(ea) == (kinds.ARTIFACT_GENERATOR, "apps", "monorepo")
    foreign = {**ea, "spec": {"sourceRef": {"kind": "Source", "name": "x"}}}
    with pytest.raises(ViewError, match="no producer kidp can reconcile"):
        actions.producer_of(foreign)
