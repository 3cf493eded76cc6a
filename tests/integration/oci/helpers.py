"""Pushing artifacts as a user does (`kidp push artifact`), OCIRepositories and the
Kustomizations that apply them, and waiting on them."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from kidp_gitops.cli.main import app
from kidp_gitops.kube import ApiError, KubeClient
from tests.integration.source.helpers import condition
from tests.integration.wait import until_object

OCI = "/apis/source.toolkit.fluxcd.io/v1/namespaces/{ns}/ocirepositories"
KS = "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/{ns}/kustomizations"


async def kidp(*args: str) -> str:
    """`kidp ARGS` in-process (in a thread: the command runs its own event loop); its
    output, or a failure that shows it."""
    result = await asyncio.to_thread(CliRunner().invoke, app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, f"kidp {' '.join(args)}: {result.output}"
    return result.output


def write_configmap(directory: Path, namespace: str, value: str) -> Path:
    """A directory holding one ConfigMap `settings` whose key `v` is `value`."""
    directory.mkdir(parents=True, exist_ok=True)
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": namespace},
        "data": {"v": value},
    }
    (directory / "settings.yaml").write_text(yaml.safe_dump(cm))
    return directory


async def push(url: str, directory: Path, revision: str = "main@sha1:0") -> str:
    """`kidp push artifact` of `directory` to `url` (plain HTTP); the digest it pushed."""
    out = await kidp(
        "push", "artifact", url, "--path", str(directory),
        "--source", "https://git.example/app", "--revision", revision,
        "--insecure-registry", "--output", "json",
    )  # fmt: skip
    digest = yaml.safe_load(out)["digest"]
    assert isinstance(digest, str)
    return digest


async def create_ocirepository(
    kube: KubeClient, namespace: str, name: str, spec: dict[str, Any], api_version: str = "v1"
) -> None:
    """An OCIRepository checked hourly (so only a request reconciles it), over plain HTTP;
    `spec` adds or replaces fields."""
    body = {
        "apiVersion": f"source.toolkit.fluxcd.io/{api_version}",
        "kind": "OCIRepository",
        "metadata": {"name": name},
        "spec": {"interval": "1h", "insecure": True, **spec},
    }
    path = OCI.format(ns=namespace).replace("/v1/", f"/{api_version}/")
    await kube.create(path, body)


async def create_kustomization(kube: KubeClient, namespace: str, name: str, source: str) -> None:
    await kube.create(
        KS.format(ns=namespace),
        {
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": name},
            "spec": {
                "interval": "1h",
                "path": "./",
                "prune": True,
                "sourceRef": {"kind": "OCIRepository", "name": source},
            },
        },
    )


async def docker_secret(
    kube: KubeClient, namespace: str, name: str, host: str, username: str, password: str
) -> None:
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    config = json.dumps({"auths": {host: {"auth": auth}}}).encode()
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/dockerconfigjson",
        "metadata": {"name": name, "namespace": namespace},
        "data": {".dockerconfigjson": base64.b64encode(config).decode()},
    }
    path = f"/api/v1/namespaces/{namespace}/secrets"
    try:
        await kube.create(path, body)
    except ApiError as err:
        if not err.conflict:
            raise
        await kube.replace(f"{path}/{name}", body)


async def request_reconcile(kube: KubeClient, namespace: str, name: str) -> str:
    """Ask for a reconcile of the OCIRepository; the stamp it is asked with."""
    stamp = f"{time.time():.6f}"
    await kube.patch(
        f"{OCI.format(ns=namespace)}/{name}",
        {"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": stamp}}},
    )
    return stamp


async def wait_oci(
    kube: KubeClient,
    namespace: str,
    name: str,
    *,
    status: str = "True",
    reason: str | None = None,
    revision: str | None = None,
    handled: str | None = None,
    timeout: float = 60,
) -> dict[str, Any]:
    """The OCIRepository once Ready is `status` (and `reason`) for its generation, at
    `revision`, after the reconcile requested with `handled`."""

    def check(obj: dict[str, Any] | None) -> dict[str, Any] | None:
        if obj is None:
            return None
        st = obj.get("status") or {}
        ready = condition(obj)
        ok = (
            ready.get("status") == status
            and reason in (None, ready.get("reason"))
            and st.get("observedGeneration") == obj["metadata"]["generation"]
            and revision in (None, (st.get("artifact") or {}).get("revision"))
            and handled in (None, st.get("lastHandledReconcileAt"))
        )
        return obj if ok else None

    what = f"OCIRepository {name} Ready={status} {reason or ''} {revision or ''}"
    return await until_object(kube, f"{OCI.format(ns=namespace)}/{name}", check, timeout, what)


async def configmap_value(kube: KubeClient, namespace: str) -> str | None:
    try:
        cm = await kube.get(f"/api/v1/namespaces/{namespace}/configmaps/settings")
    except ApiError as err:
        if err.not_found:
            return None
        raise
    value = (cm.get("data") or {}).get("v")
    return str(value) if value is not None else None


async def wait_value(kube: KubeClient, namespace: str, value: str, timeout: float = 60) -> None:
    def check(cm: dict[str, Any] | None) -> bool:
        found = ((cm or {}).get("data") or {}).get("v")
        return (str(found) if found is not None else None) == value

    path = f"/api/v1/namespaces/{namespace}/configmaps/settings"
    await until_object(kube, path, check, timeout, f"ConfigMap settings v={value}")
