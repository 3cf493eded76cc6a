"""The Helm helper (kidp-helm-server), which runs every helm action of the engine in one
process: killed in the middle of an install, the next attempt (not counted as a
failure) starts a new helper and the release reconciles; a chart's huge error fails its
own release and leaves the helper serving the others; and the identities it acts as stay apart, so a
service account is refused what its RBAC does not allow even after the helper acted as a
more powerful one."""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import os
import signal
from collections.abc import Callable
from typing import Any

from kidp_gitops.engine.run import Engine
from kidp_gitops.helm import runner
from kidp_gitops.helm.reconciler import HelmReleaseReconciler
from kidp_gitops.kube import KubeClient
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration.helm.helpers import (
    DEPLOY,
    HR,
    NAME,
    condition,
    event_reasons,
    pending_install,
    prd_release,
    release,
    release_secrets,
    wait_hr,
)
from tests.integration.kustomize.helpers import example_files, exists, setup_source
from tests.integration.wait import until

DEPLOYMENT = "charts/operators/templates/deployment.yaml"


def helper(engine: Engine) -> runner.Helper:
    """The engine's Helm helper."""
    assert engine.manager is not None
    (controller,) = [c for c in engine.manager.controllers if c.name == "helmrelease"]
    reconciler = controller.reconciler
    assert isinstance(reconciler, HelmReleaseReconciler)
    return reconciler.helm


async def test_a_helper_killed_mid_install_is_replaced_and_the_release_reconciles(
    engine: Engine,
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    # The chart's pods fit only a node with the test's label: helm waits for them.
    gate = f"kidp.test/gate-{namespace}"
    files = example_files(namespace)
    files[DEPLOYMENT] = files[DEPLOYMENT].replace(
        "      containers:", f'      nodeSelector:\n        {gate}: "open"\n      containers:'
    )
    hr = prd_release(namespace)
    hr["spec"]["timeout"] = "5m"
    # Flux's default remediation (no retries): a failed install would stall the release.
    await release(kube, namespace, git_repos, http_git, unique_repo, files=files, hr=hr, ready=None)

    await until(
        lambda: pending_install(kube, namespace), 120, "helm to be waiting for the release's pods"
    )
    killed = helper(engine).pid
    assert killed is not None
    os.kill(killed, signal.SIGKILL)

    node = (await kube.list("/api/v1/nodes"))["items"][0]["metadata"]["name"]
    await kube.patch(f"/api/v1/nodes/{node}", {"metadata": {"labels": {gate: "open"}}})
    try:
        obj = await wait_hr(kube, namespace, NAME, "True", "InstallSucceeded", timeout=180)
    finally:
        await kube.patch(f"/api/v1/nodes/{node}", {"metadata": {"labels": {gate: None}}})
    # The helper's death was not the release's failure: not counted, not remediated.
    assert "InstallFailed" not in await event_reasons(kube, namespace)
    assert not obj["status"].get("installFailures")
    assert obj["status"]["history"][0]["status"] == "deployed"
    assert helper(engine).pid not in (None, killed)  # a new helper took over
    dep = await kube.get(DEPLOY.format(ns=namespace, name=NAME))
    assert dep["spec"]["replicas"] == 3
    (stored,) = [
        s
        for s in await release_secrets(kube, namespace, NAME)
        if s["metadata"]["labels"].get("status") == "deployed"
    ]
    assert stored["metadata"]["labels"]["owner"] == "helm"


async def test_a_charts_huge_error_fails_its_release_alone(
    engine: Engine,
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    files = example_files(namespace)
    # Rendered with `boom`: an error longer than the longest answer the engine reads.
    files["charts/operators/templates/boom.yaml"] = (
        '{{ if .Values.boom }}{{ fail (repeat 17000000 "x") }}{{ end }}\n'
    )
    await release(kube, namespace, git_repos, http_git, unique_repo, files=files)
    serving = helper(engine).pid
    assert serving is not None

    boom = prd_release(namespace)
    boom["metadata"]["name"] = "boom"
    boom["spec"]["values"]["boom"] = True
    await kube.create(HR.format(ns=namespace), boom)
    failed = await wait_hr(kube, namespace, "boom", "False", "InstallFailed")
    message = condition(failed)["message"]
    assert "execution error at (operators/templates/boom.yaml" in message
    assert len(message) < 8192
    assert helper(engine).pid == serving  # the helper was not ended under the others

    await kube.patch(f"{HR.format(ns=namespace)}/{NAME}", {"spec": {"values": {"replicaCount": 2}}})
    await wait_hr(kube, namespace, NAME, "True", "UpgradeSucceeded")
    assert helper(engine).pid == serving


async def test_a_pending_revision_is_left_while_the_helper_still_acts_on_it(
    engine: Engine,
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    await release(kube, namespace, git_repos, http_git, unique_repo)

    # An action on the release the engine gave up on, still running in the helper (a
    # rollback ignores its cancel; here it waits on a server that never answers)...
    held: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    silent = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "s", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
        "users": [{"name": "s", "user": {}}],
        "contexts": [{"name": "s", "context": {"cluster": "s", "user": "s"}}],
        "current-context": "s",
    }
    argv = ["rollback", NAME, "1", "--namespace", namespace]
    stray = asyncio.create_task(helper(engine).run(argv, kubeconfig=config, timeout=300))
    try:
        await asyncio.sleep(0.5)  # the rollback reaches the helper
        stray.cancel()
        await asyncio.gather(stray, return_exceptions=True)
        assert helper(engine).busy(namespace, NAME)

        # ... and the revision it would write, pending: not removed under it.
        (first,) = await release_secrets(kube, namespace, NAME)
        encoded = base64.b64decode(base64.b64decode(first["data"]["release"]))
        body = json.loads(gzip.decompress(encoded))
        body["version"], body["info"]["status"] = 2, "pending-rollback"
        packed = base64.b64encode(gzip.compress(json.dumps(body).encode()))
        labels = {**first["metadata"]["labels"], "version": "2", "status": "pending-rollback"}
        await kube.create(
            f"/api/v1/namespaces/{namespace}/secrets",
            {
                "metadata": {"name": f"sh.helm.release.v1.{NAME}.v2", "labels": labels},
                "type": first["type"],
                "data": {"release": base64.b64encode(packed).decode()},
            },
        )
        path = f"{HR.format(ns=namespace)}/{NAME}"
        await kube.patch(path, {"spec": {"values": {"replicaCount": 2}}})

        async def refused() -> dict[str, Any] | None:
            obj = await kube.get(path)
            return obj if "still runs" in condition(obj).get("message", "") else None

        waiting = await until(refused, 120, "the release to wait for the helper")
        assert "an earlier helm action on it still runs" in condition(waiting)["message"]
        assert not waiting["status"].get("upgradeFailures")
        assert "ReleaseUnlocked" not in await event_reasons(kube, namespace)
        versions = {
            s["metadata"]["labels"]["version"] for s in await release_secrets(kube, namespace, NAME)
        }
        assert "2" in versions
    finally:
        # The helper ends (as when the engine gives up on it): the release goes on.
        pid = helper(engine).pid
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
        for writer in held:
            writer.close()
        silent.close()
    obj = await wait_hr(kube, namespace, NAME, "True", "UpgradeSucceeded", timeout=180)
    assert "ReleaseUnlocked" in await event_reasons(kube, namespace)
    assert obj["status"]["history"][0]["status"] == "deployed"


async def _service_account(
    kube: KubeClient, namespace: str, name: str, role: dict[str, Any]
) -> None:
    await kube.create(
        f"/api/v1/namespaces/{namespace}/serviceaccounts", {"metadata": {"name": name}}
    )
    await kube.create(
        f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/rolebindings",
        {
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", **role},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
        },
    )


async def test_one_helper_keeps_each_service_accounts_rights_apart(
    engine: Engine,
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    await setup_source(kube, namespace, git_repos, http_git, unique_repo, example_files(namespace))
    await _service_account(kube, namespace, "deployer", {"kind": "ClusterRole", "name": "admin"})
    # Helm's storage only: the release can be read and recorded, not its objects made.
    await kube.create(
        f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/roles",
        {
            "metadata": {"name": "helm-storage"},
            "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["*"]}],
        },
    )
    role = {"kind": "Role", "name": "helm-storage"}
    await _service_account(kube, namespace, "storage-only", role)

    powerful = prd_release(namespace)
    powerful["spec"]["serviceAccountName"] = "deployer"
    await kube.create(HR.format(ns=namespace), powerful)
    await wait_hr(kube, namespace, NAME, "True", "InstallSucceeded")

    # The same helper, which now holds a client acting as `deployer`, acts as the other
    # account for the other release: refused by RBAC, in helm's own words.
    limited = prd_release(namespace)
    limited["metadata"]["name"] = "limited"
    limited["spec"]["serviceAccountName"] = "storage-only"
    await kube.create(HR.format(ns=namespace), limited)
    refused = await wait_hr(kube, namespace, "limited", "False", "InstallFailed")
    message = condition(refused)["message"]
    assert "forbidden" in message
    assert f"system:serviceaccount:{namespace}:storage-only" in message
    assert not await exists(kube, DEPLOY.format(ns=namespace, name="limited"))

    # And `deployer` still may: an upgrade of its release after the refusal.
    await kube.patch(f"{HR.format(ns=namespace)}/{NAME}", {"spec": {"values": {"replicaCount": 2}}})
    await wait_hr(kube, namespace, NAME, "True", "UpgradeSucceeded")
    dep = await kube.get(DEPLOY.format(ns=namespace, name=NAME))
    assert dep["spec"]["replicas"] == 2
