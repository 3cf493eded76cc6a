"""The names people type for kinds, references, and what a row shows."""

from __future__ import annotations

import pytest

from kidp_gitops.views import kinds
from kidp_gitops.views.errors import ViewError


@pytest.mark.parametrize("name", ["ks", "Kustomization", "kustomizations", "KUSTOMIZATION"])
def test_lookup_accepts_kubectl_names(name: str) -> None:
    assert kinds.lookup(name) is kinds.KUSTOMIZATION


def test_lookup_names_the_known_kinds() -> None:
    with pytest.raises(ViewError, match="unknown kind 'widget': expected one of GitRepository"):
        kinds.lookup("widget")


def test_parse_ref() -> None:
    assert kinds.parse_ref("gitrepo/app") == kinds.Ref(kinds.GIT_REPOSITORY, "app")
    assert kinds.parse_ref("hr/apps/web") == kinds.Ref(kinds.HELM_RELEASE, "web", "apps")
    assert kinds.parse_ref("Kustomization", name_required=False).name == ""
    with pytest.raises(ViewError, match="write Kind/name"):
        kinds.parse_ref("Kustomization")


def test_paths() -> None:
    assert kinds.KUSTOMIZATION.path("team a", "x") == (
        "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/team%20a/kustomizations/x"
    )
    assert kinds.GIT_REPOSITORY.path(None) == "/apis/source.toolkit.fluxcd.io/v1/gitrepositories"


def test_revision_by_kind() -> None:
    assert kinds.revision({"status": {"artifact": {"revision": "main@sha1:1"}}}) == "main@sha1:1"
    assert kinds.revision({"status": {"lastAppliedRevision": "main@sha1:2"}}) == "main@sha1:2"
    assert kinds.revision({"status": {"history": [{"chartVersion": "6.0.0"}]}}) == "6.0.0"
    assert kinds.revision({"status": {"latestImage": "reg/app:1.2.0"}}) == "reg/app:1.2.0"
    assert kinds.revision({"status": {"lastPushCommit": "0a1b2c"}}) == "0a1b2c"
    assert kinds.revision({}) == ""


def test_the_table_is_the_api_types() -> None:
    """One table serves the API types and the faces: each model's RESOURCE is its row,
    and the faces show every kind at its storage version, in the same order."""
    from kidp_gitops.api import kinds as api_kinds
    from kidp_gitops.api import resources

    assert tuple(m.RESOURCE for m in api_kinds.ALL_KINDS) == resources.ALL
    expected = tuple(
        kinds.Kind(
            m.RESOURCE.kind,
            m.RESOURCE.group,
            m.RESOURCE.storage_version,
            m.RESOURCE.plural,
            m.RESOURCE.short_names,
        )
        for m in api_kinds.ALL_KINDS
    )
    assert expected == kinds.ALL
    for version in ("source.toolkit.fluxcd.io/v1beta2", "apps/v1", "image.toolkit.fluxcd.io/v1"):
        assert kinds.is_ours(version) == api_kinds.is_ours(version)


def test_the_flow_order_lists_every_kind_once() -> None:
    assert sorted(k.kind for k in kinds.IN_FLOW_ORDER) == sorted(k.kind for k in kinds.ALL)
