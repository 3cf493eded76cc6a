"""A real Helm chart repository on loopback, for the HelmRepository and HelmChart tests.

Charts are written as directories, packaged with the real `helm package` and indexed
with the real `helm repo index`; an aiohttp server serves the directory, with basic
auth when asked. Also: waiting on the status of any source kind.
"""

from __future__ import annotations

import base64
import ssl
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from kidp_gitops.helm import binary
from kidp_gitops.kube import KubeClient
from tests.gitserver.keys import Certificate, self_signed_certificate, server_tls
from tests.integration.source.helpers import condition
from tests.integration.wait import until_object

GROUP = "source.toolkit.fluxcd.io/v1"
PLURALS = {
    "GitRepository": "gitrepositories",
    "HelmRepository": "helmrepositories",
    "HelmChart": "helmcharts",
}


def path(kind: str, namespace: str, name: str = "") -> str:
    base = f"/apis/{GROUP}/namespaces/{namespace}/{PLURALS[kind]}"
    return f"{base}/{name}" if name else base


def helm(*args: str) -> str:
    proc = subprocess.run(
        [str(binary.find()), *args], capture_output=True, text=True, check=False, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def chart_files(
    name: str,
    version: str,
    values: dict[str, Any] | None = None,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """The files of a small chart (a ConfigMap rendering `.Values`), by relative path."""
    chart = {"apiVersion": "v2", "name": name, "version": version, "type": "application"}
    template = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n"
        "data:\n  greeting: {{ .Values.greeting | quote }}\n"
    )
    files = {
        "Chart.yaml": yaml.safe_dump(chart),
        "values.yaml": yaml.safe_dump(values or {"greeting": "hello"}),
        "templates/configmap.yaml": template,
    }
    files.update(extra or {})
    return files


def write_tree(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)


class ChartRepo:
    """A directory of packaged charts plus its index.yaml, served over HTTP."""

    def __init__(
        self,
        root: Path,
        username: str | None = None,
        password: str | None = None,
        tls: bool = False,
        client_cert: bool = False,
    ):
        self.root = root
        self.charts = root / "charts"
        self.username = username
        self.password = password
        # With TLS, clients trust `certificate.cert`; with `client_cert`, the server
        # asks for a client certificate and trusts `client.cert` only.
        self.certificate: Certificate | None = self_signed_certificate() if tls else None
        self.client: Certificate | None = self_signed_certificate() if client_cert else None
        self.requests: list[tuple[str, str | None]] = []  # (path, Authorization header)
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        scheme = "https" if self.certificate else "http"
        return f"{scheme}://127.0.0.1:{self.port}/charts"

    def publish(self, name: str, version: str, values: dict[str, Any] | None = None) -> Path:
        """Package a chart version into the repository and index it again."""
        src = self.root / "src" / f"{name}-{version}"
        write_tree(src, chart_files(name, version, values))
        self.charts.mkdir(parents=True, exist_ok=True)
        helm("package", str(src), "--destination", str(self.charts))
        self.index()
        return self.charts / f"{name}-{version}.tgz"

    def index(self, base_url: str | None = None) -> None:
        """Index the charts again; with `base_url`, the index points there for them."""
        helm("repo", "index", str(self.charts), *(["--url", base_url] if base_url else []))

    async def start(self) -> None:
        app = web.Application(middlewares=[self._auth])
        app.router.add_static("/charts", self.charts)
        # An engine's request in flight at the end must not hold the teardown for
        # aiohttp's default 60 s of graceful shutdown.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self._tls())
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    def _tls(self) -> ssl.SSLContext | None:
        if self.certificate is None:
            return None
        return server_tls(self.certificate, self.client)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        header = request.headers.get("Authorization")
        self.requests.append((request.path, header))
        if self.username is not None:
            expected = (
                "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            )
            if header != expected:
                raise web.HTTPUnauthorized(headers={"WWW-Authenticate": 'Basic realm="charts"'})
        response: web.StreamResponse = await handler(request)
        return response


async def serve(root: Path, **options: Any) -> AsyncIterator[ChartRepo]:
    repo = ChartRepo(root, **options)
    repo.charts.mkdir(parents=True, exist_ok=True)
    await repo.start()
    try:
        yield repo
    finally:
        await repo.stop()


async def create(
    kube: KubeClient, kind: str, namespace: str, name: str, spec: dict[str, Any]
) -> None:
    body = {"apiVersion": GROUP, "kind": kind, "metadata": {"name": name}, "spec": spec}
    await kube.create(path(kind, namespace), body)


async def create_chart(
    kube: KubeClient,
    namespace: str,
    name: str,
    chart: str,
    source: str = "HelmRepository/charts",
    **spec: Any,
) -> None:
    """A HelmChart of `chart` from `source` (Kind/name), reconciled hourly; `spec` adds
    fields (version, valuesFiles, …)."""
    kind, _, source_name = source.partition("/")
    full = {"interval": "1h", "chart": chart, **spec}
    full["sourceRef"] = {"kind": kind, "name": source_name}
    await create(kube, "HelmChart", namespace, name, full)


async def wait_ready(
    kube: KubeClient,
    kind: str,
    namespace: str,
    name: str,
    status: str = "True",
    reason: str | None = None,
    timeout: float = 60,
) -> dict[str, Any]:
    """The object once Ready has `status` (and `reason`) for its current generation."""

    def check(obj: dict[str, Any] | None) -> dict[str, Any] | None:
        if obj is None:
            return None
        ready = condition(obj)
        matches = ready.get("status") == status and reason in (None, ready.get("reason"))
        current = (obj.get("status") or {}).get("observedGeneration") == obj["metadata"][
            "generation"
        ]
        return obj if matches and current else None

    what = f"{kind} {name} Ready={status} {reason or ''}"
    return await until_object(kube, path(kind, namespace, name), check, timeout, what)


async def wait_artifact(
    kube: KubeClient, kind: str, namespace: str, name: str, revision: str, timeout: float = 60
) -> dict[str, Any]:
    def check(obj: dict[str, Any] | None) -> dict[str, Any] | None:
        artifact = ((obj or {}).get("status") or {}).get("artifact") or {}
        return obj if artifact.get("revision") == revision else None

    what = f"{kind} {name} at revision {revision}"
    return await until_object(kube, path(kind, namespace, name), check, timeout, what)


async def request_reconcile(kube: KubeClient, kind: str, namespace: str, name: str) -> None:
    stamp = f"{time.time():.6f}"
    await kube.patch(
        path(kind, namespace, name),
        {"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": stamp}}},
    )
