"""`install.strategy` / `upgrade.strategy` RetryOnFailure on the real control plane with
the real helm: a failed action (or its failed test) is neither uninstalled nor rolled
back, the release is not Ready and not Stalled, and the action is retried by an upgrade
every `retryInterval` until it succeeds."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from kidp_gitops.kube import KubeClient
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration.helm.helpers import (
    HR,
    NAME,
    condition,
    event_reasons,
    prd_release,
    release,
    release_secrets,
    wait_hr,
)
from tests.integration.helm.test_release_sync import SWITCHED_TEST
from tests.integration.kustomize.helpers import example_files
from tests.integration.wait import until

pytestmark = pytest.mark.usefixtures("engine")

RETRY = {"name": "RetryOnFailure", "retryInterval": "2s"}
REFUSED = {"replicaCount": "many"}  # the API server refuses the Deployment


async def stored(kube: KubeClient, namespace: str) -> dict[int, str]:
    """Helm's stored revisions of the release: version → status."""
    return {
        int(s["metadata"]["labels"]["version"]): s["metadata"]["labels"]["status"]
        for s in await release_secrets(kube, namespace, NAME)
    }


async def revisions_beyond(kube: KubeClient, namespace: str, version: int) -> dict[int, str]:
    """The stored revisions once there is one after `version`, seen between two helm runs
    (none pending: the retries go on every 2s)."""

    async def probe() -> dict[int, str] | None:
        found = await stored(kube, namespace)
        settled = not any(status.startswith("pending") for status in found.values())
        return found if settled and max(found, default=0) > version else None

    return await until(probe, 90, f"a helm revision after {version}")


def retrying(reason: str) -> Callable[[dict[str, Any]], bool]:
    """Not Ready for `reason`, retried (Reconciling, ProgressingWithRetry), not Stalled."""

    def check(obj: dict[str, Any]) -> bool:
        again = condition(obj, "Reconciling")
        return (
            condition(obj).get("reason") == reason
            and again.get("reason") == "ProgressingWithRetry"
            and not condition(obj, "Stalled")
        )

    return check


async def test_a_failed_install_is_kept_and_retried_by_upgrades_until_it_succeeds(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    hr = prd_release(namespace)
    hr["spec"]["values"] = REFUSED
    hr["spec"]["install"] = {"strategy": RETRY}
    hr["spec"]["upgrade"] = {"strategy": RETRY}
    await release(kube, namespace, git_repos, http_git, unique_repo, hr=hr, ready=None)

    obj = await wait_hr(kube, namespace, NAME, "False", "InstallFailed", retrying("InstallFailed"))
    assert "retrying after 2s" in condition(obj, "Reconciling")["message"]
    assert condition(obj, "Released")["reason"] == "InstallFailed"
    assert obj["status"]["installFailures"] >= 1
    # Not uninstalled: the failed first revision stays, and the next attempt is an
    # upgrade of it (a new revision), not a fresh install.
    assert (await stored(kube, namespace)).get(1) == "failed"
    later = await revisions_beyond(kube, namespace, 1)
    assert set(later.values()) == {"failed"}
    obj = await wait_hr(kube, namespace, NAME, "False", "UpgradeFailed", retrying("UpgradeFailed"))
    assert obj["status"]["lastAttemptedReleaseAction"] == "upgrade"
    reasons = await event_reasons(kube, namespace)
    assert "UninstallSucceeded" not in reasons
    assert "RollbackSucceeded" not in reasons

    # Fixed values: the next retry (a spec change retries at once) upgrades to Ready.
    await kube.patch(f"{HR.format(ns=namespace)}/{NAME}", {"spec": {"values": {"replicaCount": 1}}})
    obj = await wait_hr(kube, namespace, NAME, "True", "UpgradeSucceeded")
    assert not {"installFailures", "upgradeFailures", "failures"} & set(obj["status"])
    assert obj["status"]["history"][0]["status"] == "deployed"
    assert not condition(obj, "Reconciling")


async def test_a_failed_upgrade_is_not_rolled_back_and_never_stalls(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    hr = prd_release(namespace)
    # remediation is not used under RetryOnFailure: no rollback, whatever it says.
    hr["spec"]["upgrade"] = {"strategy": RETRY, "remediation": {"retries": 0}}
    await release(kube, namespace, git_repos, http_git, unique_repo, hr=hr)

    await kube.patch(f"{HR.format(ns=namespace)}/{NAME}", {"spec": {"values": REFUSED}})
    await wait_hr(kube, namespace, NAME, "False", "UpgradeFailed", retrying("UpgradeFailed"))
    # Retried again and again (past the one failure remediation would allow), each a
    # failed revision of its own; revision 1 stays the deployed one, never rolled back to.
    found = await revisions_beyond(kube, namespace, 3)
    assert found[1] == "deployed"
    assert all(status == "failed" for version, status in found.items() if version > 1)
    obj = await wait_hr(kube, namespace, NAME, "False", "UpgradeFailed", retrying("UpgradeFailed"))
    assert obj["status"]["upgradeFailures"] >= 2
    assert "RollbackSucceeded" not in await event_reasons(kube, namespace)


async def test_a_failed_test_is_retried_by_upgrades_not_stalled(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    files = example_files(namespace)
    files["charts/operators/templates/test-check.yaml"] = SWITCHED_TEST
    hr = prd_release(namespace)
    hr["spec"]["values"] = {"failTest": True}
    hr["spec"]["install"] = {"strategy": RETRY}
    hr["spec"]["upgrade"] = {"strategy": RETRY}
    await release(kube, namespace, git_repos, http_git, unique_repo, files=files, hr=hr)

    # Tests enabled on the deployed release: its test fails, which fails the install
    # (not Stalled), retried by upgrades (new revisions), each tested and failing again.
    path = f"{HR.format(ns=namespace)}/{NAME}"
    await kube.patch(path, {"spec": {"test": {"enable": True, "timeout": "2m"}}})
    obj = await wait_hr(
        kube, namespace, NAME, "False", "TestFailed", retrying("TestFailed"), timeout=180
    )
    assert condition(obj, "TestSuccess")["status"] == "False"
    found = await revisions_beyond(kube, namespace, 2)
    assert found[max(found)] == "deployed"  # tested after each upgrade, not rolled back
    obj = await wait_hr(
        kube, namespace, NAME, "False", "TestFailed", retrying("TestFailed"), timeout=180
    )
    assert obj["status"]["lastAttemptedReleaseAction"] == "upgrade"

    # Values whose test passes: the next retry upgrades, tests, and is Ready.
    await kube.patch(path, {"spec": {"values": {"failTest": False}}})
    obj = await wait_hr(
        kube,
        namespace,
        NAME,
        "True",
        "UpgradeSucceeded",
        lambda o: condition(o, "TestSuccess").get("status") == "True",
        timeout=180,
    )
    assert not {"installFailures", "upgradeFailures", "failures"} & set(obj["status"])
