"""`kidp up` / `kidp status` / `kidp down` end to end, in a state directory of their own:
from nothing to every Kustomization of the example Ready, a pushed change applied on a
requested reconcile, a second `up` safe, and `down` stopping every process. With
`--clusters 2`: a second control plane, whose kubeconfig the first holds in a Secret
that a `spec.kubeConfig` can name."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import ssl
import subprocess
import time
from pathlib import Path

from typer.testing import CliRunner

from kidp_gitops.cli.main import app
from kidp_gitops.devcluster import processes
from kidp_gitops.kube import KubeClient, kubeconfig, load_config
from kidp_gitops.kube.config import ClusterConfig
from tests.integration.wait import until


def status(state: Path) -> dict[str, object]:
    result = CliRunner().invoke(app, ["status", "--state-dir", str(state), "-o", "json"])
    return dict(json.loads(result.output)) if result.output.strip().startswith("{") else {}


def test_up_syncs_the_example_and_down_stops_everything(tmp_path: Path) -> None:
    state = tmp_path / "state"
    runner = CliRunner()
    try:
        _up_sync_down(tmp_path, state, runner)
    finally:
        # A failed run must not leave its control plane, git server and engine behind.
        runner.invoke(app, ["down", "--state-dir", str(state)])


def _up_sync_down(tmp_path: Path, state: Path, runner: CliRunner) -> None:
    up = runner.invoke(app, ["up", "--state-dir", str(state), "--clusters", "2"])
    assert up.exit_code == 0, up.output
    assert "remote-cluster-kubeconfig" in up.output
    st = status(state)
    for key in ("kubeconfig", "git_url", "metrics_url", "logs", "remote_kubeconfig"):
        assert st[key], key
    names = {c["name"] for c in st["components"]}  # type: ignore[attr-defined]
    assert {"kube-apiserver", "remote kube-apiserver"} <= names
    gitops = {(o["kind"], o["namespace"], o["name"]): o for o in st["gitops"]}  # type: ignore[attr-defined]
    assert set(gitops) == {
        ("GitRepository", "flux-system", "kidp-infrastructure"),
        ("GitRepository", "kidp-system", "kidp-infrastructure"),
        ("Kustomization", "flux-system", "infrastructure"),
        ("Kustomization", "flux-system", "teams"),
        ("Kustomization", "flux-system", "policies"),
        ("Kustomization", "flux-system", "releases"),
        ("HelmRelease", "kidp-system", "kidp-operators"),
    }
    assert all(o["ready"] == "True" for o in gitops.values())
    # The PRD's HelmRelease, at the chart version it installed.
    assert gitops["HelmRelease", "kidp-system", "kidp-operators"]["revision"] == "0.1.0"
    table = runner.invoke(app, ["status", "--state-dir", str(state)], env={"COLUMNS": "300"})
    assert table.exit_code == 0, table.output
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in table.stdout.splitlines()]
    assert ["HelmRelease", "kidp-system", "kidp-operators", "True", "0.1.0"] in [
        r[:5] for r in rows
    ], table.stdout

    # A change pushed to the local repository is applied after a requested reconcile.
    user, password = "kidp", (state / "git" / "password").read_text().strip()
    url = str(st["git_url"]).replace("http://", f"http://{user}:{password}@")
    work = tmp_path / "clone"
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    subprocess.run(["git", "clone", "-q", url, str(work)], check=True, env=env)
    deploy = work / "infrastructure/base/operators/deployment.yaml"
    deploy.write_text(deploy.read_text().replace("replicas: 1", "replicas: 2"))
    subprocess.run(["git", "commit", "-qam", "two operators"], cwd=work, check=True, env=env)
    subprocess.run(["git", "push", "-q", "origin", "main"], cwd=work, check=True, env=env)

    async def requested_and_applied() -> None:
        async with KubeClient(await load_config(str(st["kubeconfig"]))) as kube:
            # The PRD's HelmRelease is installed: `up` waited for it to be Ready.
            released = await kube.get(
                "/apis/apps/v1/namespaces/kidp-system/deployments/kidp-operators"
            )
            assert released["status"].get("availableReplicas") == 3
            await kube.patch(
                "/apis/source.toolkit.fluxcd.io/v1/namespaces/flux-system/gitrepositories/"
                "kidp-infrastructure",
                {
                    "metadata": {
                        "annotations": {"reconcile.fluxcd.io/requestedAt": str(time.time())}
                    }
                },
            )

            async def scaled() -> bool:
                dep = await kube.get(
                    "/apis/apps/v1/namespaces/kidp-system/deployments/kidp-operator"
                )
                return bool(dep["spec"]["replicas"] == 2)

            await until(scaled, 30, "the pushed change to be applied")

            # The Secret `spec.kubeConfig.secretRef` names reaches the second cluster.
            secret = await kube.get(
                "/api/v1/namespaces/flux-system/secrets/remote-cluster-kubeconfig"
            )
            remote = kubeconfig.parse(base64.b64decode(secret["data"]["value"])).config()
            async with KubeClient(remote) as other:
                assert other.config.server != kube.config.server
                assert (await other.get("/version"))["gitVersion"]

            # And its workload identity: a token of the first's ServiceAccount, with the
            # ConfigMap's address as audience, is taken by the second.
            await _identity_reaches_the_second(kube)

    asyncio.run(requested_and_applied())

    again = runner.invoke(app, ["up", "--state-dir", str(state)])
    assert again.exit_code == 0, again.output
    assert status(state)["running"] is True

    pids = [(c["pid"], c["name"].split()[-1]) for c in st["components"]]  # type: ignore[attr-defined]
    down = runner.invoke(app, ["down", "--state-dir", str(state)])
    assert down.exit_code == 0
    for pid, name in pids:
        assert not Path(f"/proc/{pid}").exists() or not _ours(pid, name), name
    stopped = runner.invoke(app, ["status", "--state-dir", str(state)])
    assert stopped.exit_code == 3


async def _identity_reaches_the_second(kube: KubeClient) -> None:
    identity = await kube.get("/api/v1/namespaces/flux-system/configmaps/remote-cluster-identity")
    data = identity["data"]
    assert (data["provider"], data["serviceAccountName"]) == ("generic", "remote-cluster-identity")
    request = await kube.create(
        "/api/v1/namespaces/flux-system/serviceaccounts/remote-cluster-identity/token",
        {"apiVersion": "authentication.k8s.io/v1", "spec": {"audiences": [data["address"]]}},
    )
    bearer = "Bearer " + str(request["status"]["token"])

    async def header() -> str:
        return bearer

    tls = ssl.create_default_context(cadata=data["ca.crt"])
    async with KubeClient(ClusterConfig(data["address"], tls, header)) as other:
        review = await other.create(
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
        )
        user = review["status"]["userInfo"]["username"]
        assert user == "management:system:serviceaccount:flux-system:remote-cluster-identity"
        assert (await other.list("/api/v1/namespaces"))["items"]  # a cluster-admin there


def _ours(pid: int, name: str) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return False
    return name.encode() in cmdline or (
        b"kidp_gitops" in cmdline and processes.alive(pid, Path(cmdline.split(b"\0")[0].decode()))
    )
