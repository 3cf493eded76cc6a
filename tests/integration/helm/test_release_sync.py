"""When a release is in sync, and what `helm test` leaves behind, on the real control
plane with the real helm: suspend/resume and an interval change do not upgrade; a test
result stays in status (TestSuccess, history[0].testHooks) across reconciles; a failed
test keeps the release not Ready unless `test.ignoreFailures`, and after an upgrade is
remediated (rollback) and retried as `upgrade.remediation` says; a name over 53
characters is shortened as Flux shortens it.

Test hooks are Jobs here: kwok (the fake node) completes pods that a Job owns, but a
bare test Pod stays Running forever, so helm would wait for it until its timeout."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from kidp_gitops.api.helm import shorten_release_name
from kidp_gitops.kube import KubeClient
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration.helm.helpers import (
    DEPLOY,
    HR,
    NAME,
    HelmRuns,
    condition,
    event_reasons,
    prd_release,
    release,
    release_secrets,
    request,
    wait_hr,
)
from tests.integration.kustomize.helpers import example_files, exists
from tests.integration.wait import until

pytestmark = pytest.mark.usefixtures("engine")

# A test hook Job: kwok completes its pod, so the Job completes and the test passes.
PASSING_TEST = """\
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ .Release.Name }}-smoke
  annotations:
    helm.sh/hook: test
    helm.sh/hook-delete-policy: before-hook-creation
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: smoke
          image: busybox:1.36
          command: ["true"]
"""

# A test hook Job that fails: its pod fits no node, and the Job's deadline passes.
FAILING_TEST = """\
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ .Release.Name }}-doomed
  annotations:
    helm.sh/hook: test
    helm.sh/hook-delete-policy: before-hook-creation
spec:
  backoffLimit: 0
  activeDeadlineSeconds: 2
  template:
    spec:
      restartPolicy: Never
      nodeSelector:
        kidp.test/no-such-node: "true"
      containers:
        - name: doomed
          image: busybox:1.36
          command: ["false"]
"""


# A test hook that passes, or fails with `failTest: true` in the values.
SWITCHED_TEST = """\
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ .Release.Name }}-check
  annotations:
    helm.sh/hook: test
    helm.sh/hook-delete-policy: before-hook-creation
spec:
  backoffLimit: 0
  {{- if .Values.failTest }}
  activeDeadlineSeconds: 2
  {{- end }}
  template:
    spec:
      restartPolicy: Never
      {{- if .Values.failTest }}
      nodeSelector:
        kidp.test/no-such-node: "true"
      {{- end }}
      containers:
        - name: check
          image: busybox:1.36
"""


def latest(obj: dict[str, Any]) -> dict[str, Any]:
    history = (obj.get("status") or {}).get("history") or []
    return dict(history[0]) if history else {}


async def test_suspend_resume_and_interval_change_keep_the_revision(
    helm_runs: HelmRuns,
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    obj = await release(kube, namespace, git_repos, http_git, unique_repo)
    assert latest(obj)["version"] == 1
    started = helm_runs(namespace)
    path = f"{HR.format(ns=namespace)}/{NAME}"

    await kube.patch(path, {"spec": {"suspend": True}})
    await kube.patch(path, {"spec": {"suspend": False}})
    obj = await wait_hr(kube, namespace, NAME, "True")
    assert latest(obj)["version"] == 1
    assert condition(obj)["observedGeneration"] == obj["metadata"]["generation"]

    await kube.patch(path, {"spec": {"interval": "7m", "timeout": "3m"}})
    obj = await wait_hr(kube, namespace, NAME, "True")
    assert latest(obj)["version"] == 1
    assert condition(obj)["reason"] == "InstallSucceeded"  # the last action's words stay
    assert len(await release_secrets(kube, namespace, NAME)) == 1
    assert started == []  # not even a helm process

    # A values change still upgrades.
    await kube.patch(path, {"spec": {"values": {"replicaCount": 1}}})
    obj = await wait_hr(kube, namespace, NAME, "True", "UpgradeSucceeded")
    assert latest(obj)["version"] == 2


async def test_helm_test_result_is_kept_and_an_untested_release_is_tested(
    helm_runs: HelmRuns,
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    files = example_files(namespace)
    files["charts/operators/templates/test-smoke.yaml"] = PASSING_TEST
    obj = await release(kube, namespace, git_repos, http_git, unique_repo, files=files)
    assert "testHooks" not in latest(obj)
    assert condition(obj, "TestSuccess") == {}

    # Enabling tests on a deployed release tests it, without an upgrade.
    path = f"{HR.format(ns=namespace)}/{NAME}"
    await kube.patch(path, {"spec": {"test": {"enable": True, "timeout": "2m"}}})
    obj = await wait_hr(
        kube, namespace, NAME, "True",
        check=lambda o: condition(o, "TestSuccess").get("status") == "True",
        timeout=180,
    )  # fmt: skip
    hook = latest(obj)["testHooks"][f"{NAME}-smoke"]
    assert hook["phase"] == "Succeeded"
    assert hook["lastStarted"]
    assert hook["lastCompleted"]
    assert latest(obj)["version"] == 1
    assert condition(obj, "TestSuccess")["reason"] == "TestSucceeded"

    # The result is read back from Helm's storage: a later reconcile keeps it and runs
    # no helm process.
    started = helm_runs(namespace)
    stamp = await request(kube, namespace)
    obj = await wait_hr(
        kube, namespace, NAME, "True",
        check=lambda o: o["status"].get("lastHandledReconcileAt") == stamp,
    )  # fmt: skip
    assert latest(obj)["testHooks"][f"{NAME}-smoke"]["phase"] == "Succeeded"
    assert condition(obj, "TestSuccess")["status"] == "True"
    assert started == []
    assert "TestSucceeded" in await event_reasons(kube, namespace)


async def test_failed_helm_test_keeps_the_release_not_ready_unless_ignored(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    files = example_files(namespace)
    files["charts/operators/templates/test-doomed.yaml"] = FAILING_TEST
    hr = prd_release(namespace)
    hr["spec"]["test"] = {"enable": True, "timeout": "2m"}
    await release(kube, namespace, git_repos, http_git, unique_repo, files=files, hr=hr, ready=None)

    obj = await wait_hr(kube, namespace, NAME, "False", "TestFailed", timeout=180)
    assert condition(obj, "Stalled").get("status") == "True"
    assert f"Helm test failed for release {namespace}/{NAME}.v1" in condition(obj)["message"]
    tested = condition(obj, "TestSuccess")
    assert (tested["status"], tested["reason"]) == ("False", "TestFailed")
    assert latest(obj)["testHooks"][f"{NAME}-doomed"]["phase"] == "Failed"
    assert latest(obj)["status"] == "deployed"  # the release itself went in

    # The failure outlives the reconcile that saw it (before, the next one said Ready).
    stamp = await request(kube, namespace)
    obj = await wait_hr(
        kube, namespace, NAME, "False", "TestFailed",
        check=lambda o: o["status"].get("lastHandledReconcileAt") == stamp,
    )  # fmt: skip
    assert latest(obj)["version"] == 1

    # With ignoreFailures the release is Ready; the test result still says it failed.
    path = f"{HR.format(ns=namespace)}/{NAME}"
    await kube.patch(path, {"spec": {"test": {"ignoreFailures": True}}})
    obj = await wait_hr(kube, namespace, NAME, "True")
    assert condition(obj, "TestSuccess")["status"] == "False"
    assert condition(obj, "Stalled") == {}
    assert latest(obj)["version"] == 1  # no upgrade for it either


async def test_failed_test_after_an_upgrade_is_remediated_and_retried(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    files = example_files(namespace)
    files["charts/operators/templates/test-check.yaml"] = SWITCHED_TEST
    hr = prd_release(namespace)
    hr["spec"]["test"] = {"enable": True, "timeout": "2m"}
    hr["spec"]["upgrade"] = {"remediation": {"retries": 1}}
    await release(kube, namespace, git_repos, http_git, unique_repo, files=files, hr=hr, ready=None)
    obj = await wait_hr(
        kube, namespace, NAME, "True", "InstallSucceeded",
        lambda o: condition(o, "TestSuccess").get("status") == "True",
        timeout=180,
    )  # fmt: skip

    # Values whose test fails: upgrade, test fails, roll back, retry once, test fails,
    # roll back again, Stalled.
    path = f"{HR.format(ns=namespace)}/{NAME}"
    await kube.patch(path, {"spec": {"values": {"failTest": True}}})
    obj = await wait_hr(
        kube, namespace, NAME, "False", "TestFailed",
        lambda o: condition(o, "Stalled").get("status") == "True",
        timeout=300,
    )  # fmt: skip
    assert obj["status"]["upgradeFailures"] == 2
    assert condition(obj, "Released")["reason"] == "UpgradeFailed"
    stored = await release_secrets(kube, namespace, NAME)
    newest = max(stored, key=lambda s: int(s["metadata"]["labels"]["version"]))
    assert newest["metadata"]["labels"]["status"] == "deployed"  # the rollback
    assert int(newest["metadata"]["labels"]["version"]) == 5  # v2, v4 failed; v3, v5 back
    assert "RollbackSucceeded" in await event_reasons(kube, namespace)

    # Values that pass: a new attempt, upgraded, tested, Ready.
    await kube.patch(path, {"spec": {"values": {"failTest": False}}})
    obj = await wait_hr(
        kube, namespace, NAME, "True", "UpgradeSucceeded",
        lambda o: condition(o, "TestSuccess").get("status") == "True",
        timeout=180,
    )  # fmt: skip
    assert "upgradeFailures" not in obj["status"]


async def test_release_name_over_53_characters_is_shortened(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    name = "operators-with-a-name-long-enough-to-need-a-shorter-release"
    hr = prd_release(namespace)
    hr["metadata"]["name"] = name
    hr["spec"]["targetNamespace"] = namespace
    await release(kube, namespace, git_repos, http_git, unique_repo, hr=hr, ready=None)

    full = f"{namespace}-{name}"
    short = shorten_release_name(full)
    assert len(full) > 53
    assert len(short) == 53
    obj = await wait_hr(kube, namespace, name, "True", "InstallSucceeded")
    assert latest(obj)["name"] == short
    assert [s["metadata"]["labels"]["name"] for s in await release_secrets(kube, namespace, short)]
    assert await exists(kube, DEPLOY.format(ns=namespace, name=short))

    await kube.delete(f"{HR.format(ns=namespace)}/{name}")

    async def uninstalled() -> bool:
        return not await release_secrets(kube, namespace, short)

    await until(uninstalled, 90, "the shortened release to be uninstalled")
