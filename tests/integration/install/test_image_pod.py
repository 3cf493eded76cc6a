"""The image `make image` builds, run as a pod would run it (tests/integration/install/
pod.py): it reconciles the example repository to Ready through the in-cluster config,
with its root filesystem read-only, and keeps working after its token is rotated.

Its own control plane (tests/integration/controlplanes.py): the example's objects live in
flux-system, where the session's engine and the bootstrap tests would act too.
"""

from __future__ import annotations

import asyncio
import datetime
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from kidp_gitops import __version__
from kidp_gitops.cli.main import app
from kidp_gitops.install import apply as install_apply
from kidp_gitops.install import manifests
from kidp_gitops.kube import ApiError, KubeClient, load_config
from kidp_gitops.kube.config import ClusterConfig, TLSFiles, api_server_tls
from kidp_gitops.local.environment import LocalEnvironment, example_dir
from tests.integration import wait
from tests.integration.install import pod

NAMESPACE = manifests.NAMESPACE


def deployment_container() -> dict[str, Any]:
    """The controller container of `kidp install --export --single-process` (the pod runs
    every controller; the per-controller shape is tested as host processes)."""
    exported = CliRunner().invoke(app, ["install", "--export", "--single-process"])
    assert exported.exit_code == 0, exported.output
    (deployment,) = [
        d
        for d in yaml.load_all(exported.stdout, Loader=yaml.CSafeLoader)
        if d and d["kind"] == "Deployment"
    ]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return dict(container)


def container_env(container: dict[str, Any], namespace: str) -> dict[str, str]:
    """The container's env as the kubelet resolves it (the one fieldRef it uses)."""
    env: dict[str, str] = {}
    for entry in container.get("env") or []:
        if "value" in entry:
            env[entry["name"]] = entry["value"]
        else:
            assert entry["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
            env[entry["name"]] = namespace
    return env


async def bound_token(kube: KubeClient, secret: str) -> str:
    """A token of the engine's ServiceAccount, valid while Secret `secret` exists."""
    created = await kube.create(
        f"/api/v1/namespaces/{NAMESPACE}/secrets",
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": secret}},
    )
    request = await kube.create(
        f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts/{manifests.ENGINE}/token",
        {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {
                "expirationSeconds": 3600,
                "boundObjectRef": {
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "name": secret,
                    "uid": created["metadata"]["uid"],
                },
            },
        },
    )
    return str(request["status"]["token"])


async def root_ca(kube: KubeClient) -> str:
    """What the kubelet mounts as ca.crt: the namespace's kube-root-ca.crt."""

    async def published() -> str | None:
        try:
            found = await kube.get(f"/api/v1/namespaces/{NAMESPACE}/configmaps/kube-root-ca.crt")
        except ApiError:
            return None
        return str(found["data"]["ca.crt"])

    return await wait.until(published, 60, "kube-root-ca.crt in flux-system")


async def rejected(kube: KubeClient, token: str) -> bool:
    """Whether the API server now refuses `token`."""
    base = kube.config

    async def header() -> str:
        return f"Bearer {token}"

    # The CA only: the admin's context carries its client certificate, which the API
    # server would authenticate instead of the token.
    tls = api_server_tls(base.tls_files.ca_file)
    config = ClusterConfig(base.server, tls, header, TLSFiles(ca_file=base.tls_files.ca_file))
    async with KubeClient(config) as client:
        try:
            await client.get(f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts")
        except ApiError as err:
            return err.status == 401
    return False


async def test_the_image_reconciles_the_example_as_a_pod(
    tmp_path: Path, scratch: Path, engine_wheel: Path
) -> None:
    layout = await asyncio.to_thread(pod.build, tmp_path / "image", engine_wheel)
    image = await asyncio.to_thread(pod.Image.unpack, layout, scratch / "rootfs")
    assert image.user == (65532, 65532)
    assert image.config["Entrypoint"] == ["/opt/kidp/bin/kidp", "controller", "run"]
    assert image.annotations["org.opencontainers.image.version"] == __version__
    assert len(image.annotations["org.opencontainers.image.revision"]) == 40
    assert image.annotations["org.opencontainers.image.source"].startswith("https://")

    container = pod.Pod(image, tmp_path / "pod")
    version = await asyncio.to_thread(container.run, ["kidp", "version"])
    assert (version.returncode, version.stdout) == (0, f"{__version__}\n"), version.stderr
    written = await asyncio.to_thread(container.run, ["/bin/sh", "-c", ": > /opt/kidp/x"])
    assert written.returncode != 0
    assert "Read-only file system" in written.stderr

    spec = deployment_container()
    assert spec["securityContext"]["readOnlyRootFilesystem"] is True
    assert {m["mountPath"] for m in spec["volumeMounts"]} == {"/data", "/tmp"}
    args = pod.listen_on_free_ports(spec["args"])
    local = LocalEnvironment(tmp_path / "state")

    async def start_pod(kube: KubeClient) -> None:
        server = kube.config.server.removeprefix("https://")
        host, _, port = server.rpartition(":")
        env = {
            **container_env(spec, NAMESPACE),
            "KUBERNETES_SERVICE_HOST": host,
            "KUBERNETES_SERVICE_PORT": port,
        }
        # The pod runs as the single process's account, which `kidp up` (a process of
        # the admin's) does not install.
        await install_apply.install(
            kube, manifests.manifests(controllers=False, single_process=True)
        )
        token = await bound_token(kube, "pod-token-a")
        container.write_token(token, await root_ca(kube), NAMESPACE)
        container.start(args, env)

    example = example_dir()
    assert example is not None
    try:
        try:
            await local.up(example, lambda _: None, timeout=420, engine=start_pod)
        except Exception as err:
            raise AssertionError(f"{err}\ncontainer log:\n{container.logs()}") from err
        assert container.alive(), container.logs()
        # The build sandbox works inside (its programs are in the image, and the root is
        # pivoted, not chrooted, as a runtime makes it).
        assert "without a sandbox" not in container.logs(10_000)
        assert any((container.data).iterdir()), "nothing written to the data volume"

        async with KubeClient(await load_config(local.cluster.kubeconfig)) as kube:
            old = (container.token_dir / "token").read_text()
            container.write_token(
                await bound_token(kube, "pod-token-b"), await root_ca(kube), NAMESPACE
            )
            await kube.delete(f"/api/v1/namespaces/{NAMESPACE}/secrets/pod-token-a")

            async def old_token_refused() -> bool:
                return await rejected(kube, old)

            await wait.until(old_token_refused, 60, "the first token to be refused")
            requested = datetime.datetime.now(datetime.UTC).isoformat()
            path = (
                f"/apis/source.toolkit.fluxcd.io/v1/namespaces/{NAMESPACE}"
                "/gitrepositories/kidp-infrastructure"
            )
            await kube.patch(
                path, {"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": requested}}}
            )

            async def handled() -> bool:
                found = await kube.get(path)
                return bool((found.get("status") or {}).get("lastHandledReconcileAt") == requested)

            try:
                await wait.until(handled, 90, "a reconcile requested after the token rotated")
            except AssertionError as err:
                raise AssertionError(f"{err}\ncontainer log:\n{container.logs()}") from err
    finally:
        container.stop()
        local.down()
