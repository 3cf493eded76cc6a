from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from kidp_gitops.api import image


def test_image_repository_defaults() -> None:
    spec = image.ImageRepositorySpec.model_validate({"image": "ghcr.io/org/app", "interval": "5m"})
    assert spec.exclusion_list == ["^.*\\.sig$"]
    assert spec.provider == "generic"
    assert spec.effective_timeout() == "5m"
    spec = image.ImageRepositorySpec.model_validate(
        {"image": "x", "interval": "5m", "timeout": "30s"}
    )
    assert spec.effective_timeout() == "30s"
    with pytest.raises(ValidationError, match="exclusionList"):
        image.ImageRepositorySpec.model_validate(
            {"image": "x", "interval": "1m", "exclusionList": ["a"] * 26}
        )


def test_image_repository_defaults_are_not_shared() -> None:
    first = image.ImageRepositorySpec.model_validate({"image": "x", "interval": "5m"})
    first.exclusion_list.append("changed")
    second = image.ImageRepositorySpec.model_validate({"image": "y", "interval": "5m"})
    assert second.exclusion_list == ["^.*\\.sig$"]


def _policy(policy: dict[str, Any]) -> image.ImagePolicySpec:
    return image.ImagePolicySpec.model_validate(
        {"imageRepositoryRef": {"name": "app"}, "policy": policy}
    )


def test_image_policy_choices() -> None:
    assert _policy({"semver": {"range": ">=1.0.0"}}).digest_reflection_policy == "Never"
    numerical = _policy({"numerical": {}}).policy.numerical
    assert numerical is not None
    assert numerical.order == "asc"
    with pytest.raises(ValidationError, match="exactly one"):
        _policy({})
    with pytest.raises(ValidationError, match="exactly one"):
        _policy({"semver": {"range": "*"}, "alphabetical": {"order": "desc"}})
    with pytest.raises(ValidationError, match="order"):
        _policy({"alphabetical": {"order": "up"}})


def test_image_update_automation_v1beta2_fields() -> None:
    spec = image.ImageUpdateAutomationSpec.model_validate(
        {
            "sourceRef": {"name": "repo"},
            "interval": "30m",
            "git": {
                "checkout": {"ref": {"branch": "main"}},
                "commit": {
                    "author": {"email": "bot@example.com"},
                    "messageTemplate": "Update {{ .Changed }}",
                    "messageTemplateValues": {"env": "prod"},
                    "signingKey": {"secretRef": {"name": "gpg"}},
                },
                "push": {
                    "branch": "auto",
                    "refspec": "refs/heads/auto:refs/heads/main",
                    "options": {"ci.skip": ""},
                },
            },
            "policySelector": {"matchLabels": {"team": "a"}},
        }
    )
    assert spec.source_ref.kind == "GitRepository"
    assert spec.update.strategy == "Setters"
    assert spec.update.path is None
    assert spec.git is not None
    assert spec.git.commit.author.name is None
    with pytest.raises(ValidationError, match="strategy"):
        image.UpdateStrategy.model_validate({"strategy": "Regex"})
    with pytest.raises(ValidationError, match="email"):
        image.CommitUser.model_validate({"name": "only a name"})
