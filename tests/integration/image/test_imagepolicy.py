"""ImageRepository and ImagePolicy against the real registry and control plane: tags
scanned (with exclusions), the newest picked by each rule, a newly pushed tag picked up
after a requested scan, a policy no tag matches, and registry credentials (token flow)
right and wrong."""

from __future__ import annotations

import uuid

import pytest

from kidp_gitops.kube import KubeClient
from tests.integration import namespaces
from tests.integration.image.helpers import (
    create,
    dockerconfigjson,
    path,
    request_reconcile,
    wait_ready,
)
from tests.integration.image.registry import Registry, TokenGate
from tests.integration.notification.helpers import events_once
from tests.integration.source.helpers import condition, create_secret

pytestmark = pytest.mark.usefixtures("engine")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def test_semver_policy_picks_the_newest_tag_and_follows_new_pushes(
    kube: KubeClient, namespace: str, registry: Registry
) -> None:
    repo = unique("team/app")
    image = f"{registry.host}/{repo}"
    registry.push(repo, "1.0.0", "1.2.0", "1.10.0", "2.0.0-rc.1", "latest", "1.1.0.sig")
    await create(
        kube,
        "ImageRepository",
        namespace,
        "app",
        {"image": image, "interval": "1h", "insecure": True},
    )
    scanned = await wait_ready(kube, "ImageRepository", namespace, "app")
    result = scanned["status"]["lastScanResult"]
    assert result["tagCount"] == 5  # the default exclusionList leaves out *.sig
    assert "1.1.0.sig" not in result["latestTags"]
    assert scanned["status"]["canonicalImageName"] == image

    await create(
        kube,
        "ImagePolicy",
        namespace,
        "app",
        {"imageRepositoryRef": {"name": "app"}, "policy": {"semver": {"range": ">=1.0.0"}}},
    )
    picked = await wait_ready(kube, "ImagePolicy", namespace, "app")
    assert picked["status"]["latestImage"] == f"{image}:1.10.0"  # numeric, not alphabetical
    assert picked["status"]["latestRef"] == {"name": image, "tag": "1.10.0"}

    registry.push(repo, "1.11.0")
    await request_reconcile(kube, "ImageRepository", namespace, "app")
    moved = await wait_ready(
        kube,
        "ImagePolicy",
        namespace,
        "app",
        also=lambda o: o["status"].get("latestImage") == f"{image}:1.11.0",
    )
    assert moved["status"]["observedPreviousRef"]["tag"] == "1.10.0"


async def test_a_suspended_policy_keeps_its_pick_until_resumed(
    kube: KubeClient, namespace: str, registry: Registry
) -> None:
    repo = unique("team/held")
    image = f"{registry.host}/{repo}"
    registry.push(repo, "1.0.0")
    await create(
        kube,
        "ImageRepository",
        namespace,
        "app",
        {"image": image, "interval": "1h", "insecure": True},
    )
    semver = {"imageRepositoryRef": {"name": "app"}, "policy": {"semver": {"range": ">=1.0.0"}}}
    for name in ("held", "free"):
        await create(kube, "ImagePolicy", namespace, name, semver)
        await wait_ready(kube, "ImagePolicy", namespace, name)
    await kube.patch(path("ImagePolicy", namespace, "held"), {"spec": {"suspend": True}})

    registry.push(repo, "1.1.0")
    await request_reconcile(kube, "ImageRepository", namespace, "app")
    # The unsuspended twin moving shows the engine has handled the new scan.
    await wait_ready(
        kube,
        "ImagePolicy",
        namespace,
        "free",
        also=lambda o: o["status"]["latestRef"]["tag"] == "1.1.0",
    )
    held = await kube.get(path("ImagePolicy", namespace, "held"))
    assert held["status"]["latestRef"]["tag"] == "1.0.0"

    await kube.patch(path("ImagePolicy", namespace, "held"), {"spec": {"suspend": False}})
    await wait_ready(
        kube,
        "ImagePolicy",
        namespace,
        "held",
        also=lambda o: o["status"]["latestRef"]["tag"] == "1.1.0",
    )


async def test_alphabetical_and_numerical_with_extracted_tags(
    kube: KubeClient, namespace: str, registry: Registry
) -> None:
    repo = unique("team/builds")
    image = f"{registry.host}/{repo}"
    registry.push(repo, "main-abc-9", "main-def-10", "dev-xyz-99", "2024-01-02", "2024-11-30")
    await create(
        kube,
        "ImageRepository",
        namespace,
        "builds",
        {"image": image, "interval": "1h", "insecure": True},
    )
    await wait_ready(kube, "ImageRepository", namespace, "builds")
    await create(
        kube,
        "ImagePolicy",
        namespace,
        "by-build",
        {
            "imageRepositoryRef": {"name": "builds"},
            "filterTags": {"pattern": r"^main-[a-z]+-(?P<n>\d+)$", "extract": "$n"},
            "policy": {"numerical": {"order": "asc"}},
        },
    )
    await create(
        kube,
        "ImagePolicy",
        namespace,
        "by-date",
        {
            "imageRepositoryRef": {"name": "builds"},
            "filterTags": {"pattern": r"^\d{4}-\d{2}-\d{2}$"},
            "policy": {"alphabetical": {"order": "asc"}},
        },
    )
    by_build = await wait_ready(kube, "ImagePolicy", namespace, "by-build")
    assert by_build["status"]["latestImage"] == f"{image}:main-def-10"
    by_date = await wait_ready(kube, "ImagePolicy", namespace, "by-date")
    assert by_date["status"]["latestImage"] == f"{image}:2024-11-30"


async def test_a_policy_no_tag_matches_says_so(
    kube: KubeClient, namespace: str, registry: Registry
) -> None:
    repo = unique("team/old")
    registry.push(repo, "0.1.0", "0.2.0")
    await create(
        kube,
        "ImageRepository",
        namespace,
        "old",
        {"image": f"{registry.host}/{repo}", "interval": "1h", "insecure": True},
    )
    await create(
        kube,
        "ImagePolicy",
        namespace,
        "v1",
        {"imageRepositoryRef": {"name": "old"}, "policy": {"semver": {"range": "^1.0.0"}}},
    )
    # Waiting for the scan is Ready=False too: wait for the verdict on the tags.
    failed = await wait_ready(
        kube, "ImagePolicy", namespace, "v1", status="False", reason="ReconciliationFailed"
    )
    message = condition(failed)["message"]
    assert "no tag of the 2 scanned matches the semver range '^1.0.0'" in message
    assert "latestImage" not in failed["status"]


async def test_registry_credentials_right_and_wrong(
    kube: KubeClient, namespace: str, registry: Registry, token_gate: TokenGate
) -> None:
    repo = unique("private/app")
    registry.push(repo, "3.1.4")
    image = f"{token_gate.host}/{repo}"
    wrong = "not-" + token_gate.password
    await create_secret(
        kube,
        namespace,
        "wrong-creds",
        {".dockerconfigjson": dockerconfigjson(token_gate.host, token_gate.username, wrong)},
    )
    await create(
        kube,
        "ImageRepository",
        namespace,
        "denied",
        {
            "image": image,
            "interval": "1h",
            "insecure": True,
            "secretRef": {"name": "wrong-creds"},
        },
    )
    denied = await wait_ready(
        kube, "ImageRepository", namespace, "denied", status="False", reason="AuthenticationFailed"
    )
    message = condition(denied)["message"]
    assert "refused to list" in message
    assert "spec.secretRef" in message
    assert wrong not in str(denied["status"])
    events = await events_once(
        kube, namespace, "ImageRepository", "denied", reason="AuthenticationFailed"
    )
    assert any(e["reason"] == "AuthenticationFailed" for e in events)
    assert all(wrong not in e.get("message", "") for e in events)

    await create_secret(
        kube,
        namespace,
        "creds",
        {
            ".dockerconfigjson": dockerconfigjson(
                token_gate.host, token_gate.username, token_gate.password
            )
        },
    )
    await create(
        kube,
        "ImageRepository",
        namespace,
        "allowed",
        {"image": image, "interval": "1h", "insecure": True, "secretRef": {"name": "creds"}},
    )
    allowed = await wait_ready(kube, "ImageRepository", namespace, "allowed")
    assert allowed["status"]["lastScanResult"]["latestTags"] == ["3.1.4"]


async def test_a_service_accounts_pull_secrets_authenticate_the_scan(
    kube: KubeClient, namespace: str, registry: Registry, token_gate: TokenGate
) -> None:
    # spec.serviceAccountName: its imagePullSecrets are the credentials, as Flux's
    # image-reflector-controller reads them. Without the account, the scan is refused.
    repo = unique("private/by-account")
    registry.push(repo, "2.0.0")
    config = dockerconfigjson(token_gate.host, token_gate.username, token_gate.password)
    await create_secret(kube, namespace, "pull", {".dockerconfigjson": config})
    spec = {
        "image": f"{token_gate.host}/{repo}",
        "interval": "1h",
        "insecure": True,
        "serviceAccountName": "scanner",
    }
    await create(kube, "ImageRepository", namespace, "by-account", spec)
    missing = await wait_ready(
        kube,
        "ImageRepository",
        namespace,
        "by-account",
        status="False",
        reason="AuthenticationFailed",
    )
    assert "spec.serviceAccountName" in condition(missing)["message"]
    await kube.create(
        f"/api/v1/namespaces/{namespace}/serviceaccounts",
        {"metadata": {"name": "scanner"}, "imagePullSecrets": [{"name": "pull"}]},
    )
    await request_reconcile(kube, "ImageRepository", namespace, "by-account")
    scanned = await wait_ready(kube, "ImageRepository", namespace, "by-account")
    assert scanned["status"]["lastScanResult"]["latestTags"] == ["2.0.0"]


async def test_cross_namespace_policy_needs_access_from(
    kube: KubeClient, namespace: str, registry: Registry
) -> None:
    repo = unique("shared/base")
    registry.push(repo, "1.0.0", "1.1.0")
    await create(
        kube,
        "ImageRepository",
        namespace,
        "base",
        {
            "image": f"{registry.host}/{repo}",
            "interval": "1h",
            "insecure": True,
            "accessFrom": {"namespaceSelectors": [{"matchLabels": {"images": "shared"}}]},
        },
    )
    await wait_ready(kube, "ImageRepository", namespace, "base")
    other = unique("t-other")
    await kube.create("/api/v1/namespaces", {"metadata": {"name": other}})
    try:
        await create(
            kube,
            "ImagePolicy",
            other,
            "base",
            {
                "imageRepositoryRef": {"name": "base", "namespace": namespace},
                "policy": {"semver": {"range": "*"}},
            },
        )
        denied = await wait_ready(
            kube, "ImagePolicy", other, "base", status="False", reason="AccessDenied"
        )
        assert f"does not grant access to namespace '{other}'" in condition(denied)["message"]
        await kube.patch(
            f"/api/v1/namespaces/{other}", {"metadata": {"labels": {"images": "shared"}}}
        )
        await request_reconcile(kube, "ImagePolicy", other, "base")
        allowed = await wait_ready(kube, "ImagePolicy", other, "base")
        assert allowed["status"]["latestRef"]["tag"] == "1.1.0"
    finally:
        await namespaces.retire(kube, other)


async def test_digest_reflection_through_the_token_flow(
    kube: KubeClient, namespace: str, registry: Registry, token_gate: TokenGate
) -> None:
    repo = unique("private/pinned")
    registry.push(repo, "1.0.0", "1.1.0")
    image = f"{token_gate.host}/{repo}"
    config = dockerconfigjson(token_gate.host, token_gate.username, token_gate.password)
    await create_secret(kube, namespace, "creds", {".dockerconfigjson": config})
    await create(
        kube,
        "ImageRepository",
        namespace,
        "pinned",
        {"image": image, "interval": "1h", "insecure": True, "secretRef": {"name": "creds"}},
    )
    await create(
        kube,
        "ImagePolicy",
        namespace,
        "pinned",
        {
            "imageRepositoryRef": {"name": "pinned"},
            "policy": {"semver": {"range": "1.x"}},
            "digestReflectionPolicy": "IfNotPresent",
        },
    )
    picked = await wait_ready(kube, "ImagePolicy", namespace, "pinned")
    digest = registry.digest(repo, "1.1.0")
    assert digest.startswith("sha256:")
    assert picked["status"]["latestRef"] == {"name": image, "tag": "1.1.0", "digest": digest}
    assert picked["status"]["latestImage"] == f"{image}:1.1.0@{digest}"
