"""The ArtifactGenerator's checks before it builds (Flux's validation, stalling with
ValidationFailed) and the hash of its sources that decides whether anything changed."""

from __future__ import annotations

from typing import Any

import pytest

from kidp_gitops.api import generator as api
from kidp_gitops.api import meta
from kidp_gitops.runtime.reconcile import StalledError
from kidp_gitops.source import artifactgenerator as ag


def spec(**changes: Any) -> api.ArtifactGeneratorSpec:
    base: dict[str, Any] = {
        "sources": [
            {"alias": "repo", "kind": "GitRepository", "name": "mono"},
            {"alias": "chart", "kind": "OCIRepository", "name": "podinfo"},
        ],
        "artifacts": [
            {
                "name": "app",
                "revision": "@chart",
                "originRevision": "@repo",
                "copy": [{"from": "@repo/deploy/**", "to": "@artifact/"}],
            }
        ],
    }
    base.update(changes)
    return api.ArtifactGeneratorSpec.model_validate(base)


def test_a_valid_spec_passes() -> None:
    ag.validate(spec())


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"sources": [{"alias": "a", "kind": "GitRepository", "name": n} for n in "xy"]},
            "duplicate source alias 'a'",
        ),
        (
            {"artifacts": [{"name": "x", "copy": [{"from": "@repo/a", "to": "@artifact/"}]}] * 2},
            "duplicate artifact name 'x'",
        ),
        (
            {"artifacts": [{"name": "Bad_Name", "copy": [{"from": "@repo/", "to": "@artifact/"}]}]},
            "not a valid Kubernetes object name",
        ),
        (
            {
                "artifacts": [
                    {
                        "name": "x",
                        "revision": "@nope",
                        "copy": [{"from": "@repo/", "to": "@artifact/"}],
                    }
                ]
            },
            "revision source alias 'nope' not found",
        ),
        (
            {"artifacts": [{"name": "x", "copy": [{"from": "@other/a", "to": "@artifact/"}]}]},
            "copies from source alias 'other'",
        ),
    ],
)
def test_invalid_specs_stall(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(StalledError, match=message) as err:
        ag.validate(spec(**changes))
    assert err.value.reason == "ValidationFailed"


def observed(digest: str, revision: str = "main@sha1:abc") -> ag.Observed:
    artifact = meta.Artifact.model_validate(
        {
            "path": "gitrepository/ns/mono/x.tar.gz",
            "url": "http://store/x.tar.gz",
            "revision": revision,
            "digest": digest,
            "lastUpdateTime": "2026-01-01T00:00:00Z",
        }
    )
    return ag.Observed("GitRepository", "ns", "mono", artifact)


def test_the_sources_digest_follows_every_artifact_but_not_their_order() -> None:
    one = {"a": observed("sha256:1"), "b": observed("sha256:2")}
    assert ag.sources_digest(one) == ag.sources_digest(dict(reversed(list(one.items()))))
    assert ag.sources_digest(one) != ag.sources_digest({**one, "b": observed("sha256:3")})
    assert ag.sources_digest(one) != ag.sources_digest(
        {**one, "a": observed("sha256:1", "main@sha1:def")}
    )


def test_the_origin_revision_prefers_the_sources_own() -> None:
    plain = observed("sha256:1")
    assert plain.origin_revision == "main@sha1:abc"
    artifact = plain.artifact.model_copy(
        update={"metadata": {api.ORIGIN_REVISION: "main@sha1:feed"}}
    )
    assert ag.Observed("OCIRepository", "ns", "x", artifact).origin_revision == "main@sha1:feed"
