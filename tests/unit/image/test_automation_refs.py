"""What an ImageUpdateAutomation checks out and which ImagePolicies it selects."""

from __future__ import annotations

from typing import Any

import pytest

from kidp_gitops.api import image as api
from kidp_gitops.api import meta, source
from kidp_gitops.image import automation
from kidp_gitops.runtime.reconcile import StalledError


def _spec(checkout: dict[str, Any] | None) -> api.ImageUpdateAutomationSpec:
    git: dict[str, Any] = {"commit": {"author": {"email": "bot@example.com"}}}
    if checkout is not None:
        git["checkout"] = {"ref": checkout}
    return api.ImageUpdateAutomationSpec.model_validate(
        {"sourceRef": {"kind": "GitRepository", "name": "repo"}, "interval": "1m", "git": git}
    )


def _source(ref: dict[str, Any] | None) -> source.GitRepositorySpec:
    return source.GitRepositorySpec.model_validate(
        {"url": "https://git.example.com/r.git", "interval": "1m", "ref": ref}
    )


@pytest.mark.parametrize(
    ("checkout", "source_ref", "branch"),
    [
        ({"branch": "release"}, {"branch": "main"}, "release"),
        # A full reference name takes precedence over the branch, as in Flux.
        ({"name": "refs/heads/release", "branch": "other"}, {"branch": "main"}, "release"),
        (None, {"branch": "main"}, "main"),
        (None, {"name": "refs/heads/staging"}, "staging"),
        (None, None, None),  # the remote's default branch
    ],
)
def test_the_branch_checked_out(
    checkout: dict[str, Any] | None, source_ref: dict[str, Any] | None, branch: str | None
) -> None:
    assert automation._checkout_branch(_spec(checkout), _source(source_ref)) == branch


@pytest.mark.parametrize(
    "checkout", [{"tag": "v1"}, {"name": "refs/tags/v1"}, {"name": "refs/pull/4/head"}]
)
def test_a_checkout_of_anything_but_a_branch_is_refused(checkout: dict[str, Any]) -> None:
    with pytest.raises(StalledError, match="must name a branch"):
        automation._checkout_branch(_spec(checkout), _source({"branch": "main"}))


def _selector(**fields: Any) -> meta.LabelSelector:
    return meta.LabelSelector.model_validate(fields)


def test_a_policy_selector_becomes_a_label_selector() -> None:
    selector = _selector(
        matchLabels={"team": "a"},
        matchExpressions=[
            {"key": "tier", "operator": "In", "values": ["web", "api"]},
            {"key": "env", "operator": "NotIn", "values": ["dev"]},
            {"key": "owned", "operator": "Exists"},
            {"key": "frozen", "operator": "DoesNotExist"},
        ],
    )
    assert automation._selector(selector) == (
        "team=a,tier in (web,api),env notin (dev),owned,!frozen"
    )


@pytest.mark.parametrize(
    "expression",
    [
        {"key": "tier", "operator": "Gt", "values": ["1"]},
        {"key": "tier", "operator": "in", "values": ["web"]},
        {"key": "tier", "operator": "In"},
        {"key": "tier", "operator": "Exists", "values": ["web"]},
    ],
)
def test_an_expression_kubernetes_refuses_is_refused_not_dropped(
    expression: dict[str, Any],
) -> None:
    # Dropped, it would select more policies, and update more images, than asked.
    with pytest.raises(StalledError) as raised:
        automation._selector(_selector(matchExpressions=[expression]))
    assert raised.value.reason == "InvalidPolicySelector"
