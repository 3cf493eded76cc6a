"""The requests each Provider type receives."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from kidp_gitops.notification import providers
from kidp_gitops.notification.event import FluxEvent, ObjectRef
from kidp_gitops.notification.providers import Destination, Post

EVENT = FluxEvent(
    ObjectRef("GitRepository", "flux-system", "infra"),
    "info",
    "NewArtifact",
    "stored artifact for revision 'main@sha1:abc'",
    "2026-01-01T00:00:00Z",
    {"revision": "main@sha1:abc"},
    "source-controller",
)


def build(dest: Destination, event: FluxEvent = EVENT) -> Post:
    post = providers.build(dest, event)
    assert post is not None
    return post


def test_slack_message() -> None:
    dest = Destination("slack", "https://hooks.slack.com/services/T/B/secret", channel="#ops")
    post = build(dest)
    body = json.loads(post.body)
    attachment = body["attachments"][0]
    assert body["channel"] == "#ops"
    assert attachment["color"] == "good"
    assert attachment["author_name"] == "gitrepository/infra.flux-system"
    assert attachment["text"] == EVENT.message
    assert attachment["fields"] == [{"title": "revision", "value": "main@sha1:abc", "short": False}]
    assert dest.redacted() == "https://hooks.slack.com"  # the path is the credential


def test_generic_hmac_signs_the_body() -> None:
    post = build(Destination("generic-hmac", "http://x/hook", token="s3cret"))
    expected = hmac.new(b"s3cret", post.body, hashlib.sha256).hexdigest()
    assert post.headers["X-Signature"] == f"sha256={expected}"
    assert post.headers["gotk-component"] == "source-controller"
    assert json.loads(post.body)["involvedObject"]["name"] == "infra"
    with pytest.raises(providers.Unsupported, match="token"):
        providers.build(Destination("generic-hmac", "http://x/hook"), EVENT)


def test_other_types() -> None:
    discord = build(Destination("discord", "https://discord.com/api/webhooks/1/t"))
    assert discord.url == "https://discord.com/api/webhooks/1/t/slack"
    teams = json.loads(build(Destination("msteams", "https://x")).body)
    assert teams["@type"] == "MessageCard"
    chat = json.loads(build(Destination("googlechat", "https://x")).body)
    assert chat["cards"][0]["header"]["title"] == "gitrepository/infra.flux-system"
    alerts = json.loads(build(Destination("alertmanager", "https://x")).body)
    assert alerts[0]["labels"]["alertname"] == "FluxGitRepositoryNewArtifact"
    with pytest.raises(providers.Unsupported, match="not supported"):
        providers.build(Destination("pagerduty", "https://x"), EVENT)
    with pytest.raises(providers.Unsupported, match="address"):
        providers.build(Destination("slack", ""), EVENT)


def test_alertmanager_authenticates_by_token_else_basic() -> None:
    basic = Destination("alertmanager", "https://x", username="flux", password="s3cret")
    assert build(basic).headers["Authorization"] == "Basic Zmx1eDpzM2NyZXQ="  # flux:s3cret
    both = Destination("alertmanager", "https://x", token="t", username="flux", password="s3cret")
    assert build(both).headers["Authorization"] == "Bearer t"
    assert "Authorization" not in build(Destination("alertmanager", "https://x")).headers
    assert "s3cret" not in repr(basic)


def test_commit_statuses() -> None:
    sha = "0123456789abcdef0123456789abcdef01234567"
    applied = FluxEvent(
        ObjectRef("Kustomization", "flux-system", "Apps"),
        "error",
        "HealthCheckFailed",
        "health check failed",
        "2026-01-01T00:00:00Z",
        {"revision": f"main@sha1:{sha}"},
    )
    uid = "6f3b8c2a-1111-2222-3333-444455556666"
    github = build(
        Destination("github", "https://github.com/org/app", "tok", provider_uid=uid), applied
    )
    assert github.url == f"https://api.github.com/repos/org/app/statuses/{sha}"
    assert github.headers["Authorization"] == "Bearer tok"
    assert json.loads(github.body) == {
        "state": "failure",
        "context": "kustomization/apps/6f3b8c2a",
        "description": "health check failed",
    }
    enterprise = build(Destination("github", "https://git.corp:8443/org/app.git", "tok"), applied)
    assert enterprise.url == f"https://git.corp:8443/api/v3/repos/org/app/statuses/{sha}"
    gitlab = build(Destination("gitlab", "https://gitlab.com/group/sub/app", "tok"), applied)
    assert gitlab.url == f"https://gitlab.com/api/v4/projects/group%2Fsub%2Fapp/statuses/{sha}"
    assert gitlab.headers["PRIVATE-TOKEN"] == "tok"
    assert json.loads(gitlab.body)["state"] == "failed"
    # No commit, no status.
    assert (
        providers.build(Destination("github", "https://github.com/org/app", "tok"), EVENT) is None
    )
