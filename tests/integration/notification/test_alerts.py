"""Alerts end to end: events the controllers record reach real HTTP endpoints (loopback
servers standing in for Slack and webhooks) through the PRD's Alert, filtered by
severity and exclusion patterns; manual changes of managed objects (corrected or, for
`flux.weave.works/ignore`, only reported) raise notifications; a generic-hmac post is
signed with the Provider's token; a Provider that fails is reported on its Alert without
leaking its address."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from kidp_gitops.kube import KubeClient
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration.kustomize.helpers import KS, kustomization, setup_source
from tests.integration.kustomize.helpers import wait_ready as wait_ks
from tests.integration.notification.helpers import (
    Received,
    create,
    events_of,
    inbox,
    slack_text,
    wait_ready,
)
from tests.integration.source.helpers import create_repo, create_secret
from tests.integration.wait import until

pytestmark = pytest.mark.usefixtures("engine")

# The PRD's Alert, verbatim.
PRD_ALERT = """
apiVersion: notification.toolkit.fluxcd.io/v1beta1
kind: Alert
metadata:
  name: slack-notifications
spec:
  eventSeverity: info
  eventSources:
    - kind: GitRepository
      name: '*'
    - kind: Kustomization
      name: '*'
  providerRef:
    name: slack
"""


def deployment(name: str, namespace: str, annotations: dict[str, str] | None = None) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": name,
                "namespace": namespace,
                **({"annotations": annotations} if annotations else {}),
            },
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": name, "image": "nginx:1.27"}]},
                },
            },
        }
    )


async def prd_alert(kube: KubeClient, namespace: str) -> None:
    alert = yaml.safe_load(PRD_ALERT)
    await kube.create(
        f"/apis/notification.toolkit.fluxcd.io/v1beta1/namespaces/{namespace}/alerts", alert
    )


def attachment(r: Received) -> dict[str, Any]:
    return dict(r.json()["attachments"][0])


async def test_the_prd_alert_sends_new_artifacts_and_applies_to_slack(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    async with inbox() as box:
        hook = f"/services/T0/B0/{uuid.uuid4().hex}"
        # The webhook URL is a credential: it lives in the Secret's `address`.
        await create_secret(kube, namespace, "slack-url", {"address": box.url + hook})
        await create(
            kube,
            namespace,
            "Provider",
            "slack",
            {"type": "slack", "channel": "#gitops", "secretRef": {"name": "slack-url"}},
            "v1beta1",  # the PRD's era, next to its v1beta1 Alert
        )
        await prd_alert(kube, namespace)
        await wait_ready(kube, namespace, "Alert", "slack-notifications", reason="Succeeded")

        files = {"apps/web.yaml": deployment("web", namespace)}
        await setup_source(kube, namespace, git_repos, http_git, unique_repo, files)
        await kube.create(KS.format(ns=namespace), kustomization("apps", "apps"))

        git = await box.wait(
            hook,
            lambda r: (
                slack_text(r).startswith(f"gitrepository/kidp-infrastructure.{namespace}")
                and "stored artifact" in slack_text(r)
            ),
            "the GitRepository's new artifact",
        )
        applied = await box.wait(
            hook,
            lambda r: (
                slack_text(r).startswith(f"kustomization/apps.{namespace}")
                and f"Deployment/{namespace}/web created" in slack_text(r)
            ),
            "the Kustomization's apply",
        )
        for message in (git, applied):
            body = message.json()
            assert body["channel"] == "#gitops"
            assert attachment(message)["color"] == "good"
            fields = {f["title"]: f["value"] for f in attachment(message).get("fields", [])}
            assert fields["revision"].startswith("main@sha1:")


async def test_severity_and_exclusion_filters(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    async with inbox() as box:
        for name, type_ in (("errors", "generic"), ("quiet", "slack")):
            spec = {"type": type_, "address": f"{box.url}/{name}"}
            await create(kube, namespace, "Provider", name, spec, "v1beta3")
        sources = [{"kind": "GitRepository", "name": "*"}, {"kind": "Kustomization", "name": "*"}]
        await create(
            kube,
            namespace,
            "Alert",
            "errors-only",
            {"providerRef": {"name": "errors"}, "eventSeverity": "error", "eventSources": sources},
            "v1beta3",
        )
        await create(
            kube,
            namespace,
            "Alert",
            "no-artifacts",
            {
                "providerRef": {"name": "quiet"},
                "eventSources": sources,
                "exclusionList": ["^stored artifact"],
            },
            "v1beta2",
        )
        await wait_ready(kube, namespace, "Alert", "errors-only")
        await wait_ready(kube, namespace, "Alert", "no-artifacts")

        files = {"apps/web.yaml": deployment("web", namespace)}
        await setup_source(kube, namespace, git_repos, http_git, unique_repo, files)
        await kube.create(KS.format(ns=namespace), kustomization("apps", "apps"))
        # A repository that does not exist: a fetch error (a Warning event).
        missing = {
            "interval": "1m",
            "url": http_git.url(unique_repo("missing")),
            "ref": {"branch": "main"},
            "secretRef": {"name": "creds"},
        }
        await create_repo(kube, namespace, "missing", missing)
        await wait_ks(kube, namespace, "apps")

        failure = await box.wait(
            "/errors",
            lambda r: r.json()["involvedObject"]["name"] == "missing",
            "the missing repository's error",
        )
        event = failure.json()
        assert event["severity"] == "error"
        assert event["involvedObject"]["kind"] == "GitRepository"
        assert event["involvedObject"]["namespace"] == namespace
        assert failure.headers["gotk-component"] == "source-controller"
        await box.wait(
            "/quiet",
            lambda r: f"Deployment/{namespace}/web created" in slack_text(r),
            "the apply, through the exclusion list",
        )
        assert all(r.json()["severity"] == "error" for r in box.at("/errors"))
        assert not [r for r in box.at("/quiet") if "stored artifact" in slack_text(r)]


async def test_manual_changes_trigger_alerts(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    async with inbox() as box:
        await create(
            kube, namespace, "Provider", "slack", {"type": "slack", "address": box.url + "/drift"},
            "v1beta3",
        )  # fmt: skip
        await prd_alert(kube, namespace)
        await wait_ready(kube, namespace, "Alert", "slack-notifications")
        files = {
            "apps/web.yaml": deployment("web", namespace),
            "apps/guarded.yaml": deployment(
                "guarded", namespace, {"flux.weave.works/ignore": "true"}
            ),
        }
        await setup_source(kube, namespace, git_repos, http_git, unique_repo, files)
        await kube.create(KS.format(ns=namespace), kustomization("apps", "apps"))
        await wait_ks(kube, namespace, "apps")

        # A manual scale of a managed Deployment: reverted, and said so.
        await kube.patch(
            f"/apis/apps/v1/namespaces/{namespace}/deployments/web", {"spec": {"replicas": 3}}
        )
        corrected = await box.wait(
            "/drift",
            lambda r: "web" in slack_text(r) and "replicas" in slack_text(r),
            "the drift correction",
        )
        assert attachment(corrected)["color"] == "good"

        # The same on an alert-only object: kept, and alerted as an error.
        await kube.patch(
            f"/apis/apps/v1/namespaces/{namespace}/deployments/guarded", {"spec": {"replicas": 4}}
        )
        drifted = await box.wait(
            "/drift",
            lambda r: "guarded" in slack_text(r) and "replicas" in slack_text(r),
            "the drift alert of the protected object",
        )
        assert attachment(drifted)["color"] == "danger"


@pytest.mark.usefixtures("quick_retries")
async def test_generic_hmac_is_signed_and_a_failing_provider_is_reported(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    token = uuid.uuid4().hex
    secret_path = uuid.uuid4().hex
    async with inbox() as box:
        await create_secret(kube, namespace, "hmac", {"token": token})
        await create_secret(kube, namespace, "down", {"address": f"{box.url}/fail/{secret_path}"})
        await create(
            kube, namespace, "Provider", "signed",
            {"type": "generic-hmac", "address": f"{box.url}/signed", "secretRef": {"name": "hmac"}},
            "v1beta3",
        )  # fmt: skip
        await create(
            kube, namespace, "Provider", "down", {"type": "generic", "secretRef": {"name": "down"}},
            "v1beta3",
        )  # fmt: skip
        sources = [{"kind": "GitRepository", "name": "kidp-infrastructure"}]
        for name in ("signed", "down"):
            spec = {"providerRef": {"name": name}, "eventSources": sources}
            await create(kube, namespace, "Alert", name, spec, "v1beta3")
            await wait_ready(kube, namespace, "Alert", name)

        await setup_source(kube, namespace, git_repos, http_git, unique_repo, {"a.yaml": "{}\n"})
        signed = await box.wait("/signed", lambda r: True, "the signed event")
        expected = hmac.new(token.encode(), signed.body, hashlib.sha256).hexdigest()
        assert signed.headers["X-Signature"] == f"sha256={expected}"
        assert signed.json()["reason"] == "NewArtifact"

        async def reported() -> list[dict[str, Any]]:
            found = await events_of(kube, namespace, "Alert", "down")
            return [e for e in found if e["reason"] == "NotificationFailed"]

        failed = (await until(reported, 60, "the failure event on the Alert"))[0]
        assert failed["type"] == "Warning"
        assert "answered 500" in failed["message"]
        assert secret_path not in failed["message"]
        assert len(box.at(f"/fail/{secret_path}")) > 1  # retried


async def test_an_alert_without_its_provider_is_not_ready(kube: KubeClient, namespace: str) -> None:
    spec = {
        "providerRef": {"name": "later"},
        "eventSources": [{"kind": "Kustomization", "name": "*"}],
    }
    await create(kube, namespace, "Alert", "waiting", spec, "v1beta3")
    obj = await wait_ready(kube, namespace, "Alert", "waiting", "False", "ProviderNotFound")
    assert (
        "later" in next(c for c in obj["status"]["conditions"] if c["type"] == "Ready")["message"]
    )
    await create(
        kube,
        namespace,
        "Provider",
        "later",
        {"type": "generic", "address": "http://127.0.0.1:9/x"},
        "v1beta3",
    )
    await wait_ready(kube, namespace, "Alert", "waiting", "True")


async def test_github_commit_status_on_the_applied_commit(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    async with inbox() as box:
        # A GitHub Enterprise address: the API is under /api/v3 of the same host.
        await create_secret(kube, namespace, "github-token", {"token": "ghp-test"})
        spec = {
            "type": "github",
            "address": f"{box.url}/org/app",
            "secretRef": {"name": "github-token"},
        }
        await create(kube, namespace, "Provider", "github", spec, "v1beta3")
        sources = [{"kind": "Kustomization", "name": "apps"}]
        alert = {"providerRef": {"name": "github"}, "eventSources": sources}
        await create(kube, namespace, "Alert", "commit-status", alert, "v1beta3")
        await wait_ready(kube, namespace, "Alert", "commit-status")

        files = {"apps/web.yaml": deployment("web", namespace)}
        await setup_source(kube, namespace, git_repos, http_git, unique_repo, files)
        await kube.create(KS.format(ns=namespace), kustomization("apps", "apps"))
        applied = await wait_ks(kube, namespace, "apps")
        sha = applied["status"]["lastAppliedRevision"].rsplit(":", 1)[-1]

        status = await box.wait(
            f"/api/v3/repos/org/app/statuses/{sha}", lambda r: True, "the commit status"
        )
        provider = await kube.get(
            f"/apis/notification.toolkit.fluxcd.io/v1beta3/namespaces/{namespace}/providers/github"
        )
        body = status.json()
        assert body["state"] == "success"
        assert body["context"] == f"kustomization/apps/{provider['metadata']['uid'].split('-')[0]}"
        assert status.headers["Authorization"] == "Bearer ghp-test"
