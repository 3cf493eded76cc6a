"""The ImageRepository reconciler: the image-reflector controller's scan.

    credentials (secretRef, certSecretRef) → list the tags → leave out exclusionList
    → store them (TagStore) → status.lastScanResult → Ready

The tags go to a small JSON file per repository under the data directory, where the
ImagePolicy reconciler reads them; the status keeps only the count and the ten latest,
as Flux does. A scan that has not changed the tags writes nothing new.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import ssl
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kidp_gitops.api import image as api
from kidp_gitops.image import registry
from kidp_gitops.kube.client import JSON, KubeClient
from kidp_gitops.kube.mapper import Resource
from kidp_gitops.runtime import conditions, lifecycle, secrets
from kidp_gitops.runtime.events import EventRecorder
from kidp_gitops.runtime.lifecycle import ObjectReconciler
from kidp_gitops.runtime.reconcile import Result, RetryError, StalledError
from kidp_gitops.runtime.workqueue import jittered

KIND = "ImageRepository"
INVALID_SPEC = "InvalidSpec"
LATEST_TAGS = 10


class TagStore:
    """The scanned tags of each ImageRepository, one JSON file each (written atomically)."""

    def __init__(self, root: Path):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def _path(self, namespace: str, name: str) -> Path:
        return self.root / f"{namespace}.{name}.json"

    def put(self, namespace: str, name: str, tags: list[str]) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".tags-")
        with os.fdopen(fd, "w") as f:
            json.dump(tags, f)
        os.replace(tmp, self._path(namespace, name))

    def get(self, namespace: str, name: str) -> list[str] | None:
        try:
            tags = json.loads(self._path(namespace, name).read_text())
        except (OSError, ValueError):
            return None
        return [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else None

    def remove(self, namespace: str, name: str) -> None:
        self._path(namespace, name).unlink(missing_ok=True)


class ImageRepositoryReconciler(ObjectReconciler):
    kind = KIND

    def __init__(
        self, client: KubeClient, resource: Resource, events: EventRecorder, tags: TagStore
    ):
        super().__init__(client, resource, events)
        self.tags = tags
        self.access = RegistryAccess(self.client)

    async def run(self, obj: JSON, status: dict[str, Any]) -> Result:
        meta = obj["metadata"]
        namespace, name, generation = meta["namespace"], meta["name"], meta.get("generation", 0)
        spec = _spec(obj)
        exclusions = _exclusions(spec.exclusion_list)
        conn = await self.access.connection(namespace, spec)
        image = conn.image
        conditions.mark_reconciling(
            status, conditions.PROGRESSING, f"scanning {image.canonical} for tags", generation
        )
        try:
            found = await registry.list_tags(
                image, conn.credentials, insecure=conn.insecure, tls=conn.tls, timeout=conn.timeout
            )
        except registry.RegistryError as err:
            raise RetryError(err.reason, err.message, retry_after=_retry(spec)) from err
        tags = [t for t in found if not any(rx.search(t) for rx in exclusions)]
        self.tags.put(namespace, name, tags)
        revision = "sha256:" + hashlib.sha256("\n".join(sorted(tags)).encode()).hexdigest()
        previous = status.get("lastScanResult") or {}
        status["canonicalImageName"] = image.canonical
        status["observedExclusionList"] = list(spec.exclusion_list)
        status["lastScanResult"] = {
            "revision": revision,
            "tagCount": len(tags),
            "scanTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "latestTags": sorted(tags, reverse=True)[:LATEST_TAGS],
        }
        message = f"successful scan: found {len(tags)} tags"
        conditions.mark_ready(status, conditions.SUCCEEDED, message, generation)
        if previous.get("revision") != revision:
            self.events.record(obj, "Normal", conditions.SUCCEEDED, message)
        return Result(requeue_after=jittered(spec.interval.seconds))

    async def finalize(self, obj: JSON) -> None:
        self.tags.remove(obj["metadata"]["namespace"], obj["metadata"]["name"])


@dataclass(frozen=True)
class Connection:
    """How to reach the registry of one ImageRepository."""

    image: registry.ImageName
    credentials: registry.Credentials | None
    tls: ssl.SSLContext | None
    insecure: bool
    timeout: float


class RegistryAccess:
    """Reads an ImageRepository's secrets into a Connection (the scan and the
    ImagePolicy's digest lookups share it)."""

    def __init__(self, client: KubeClient):
        self.client = client

    async def connection(self, namespace: str, spec: api.ImageRepositorySpec) -> Connection:
        try:
            image = registry.parse_image(spec.image)
        except registry.RegistryError as err:
            raise StalledError(err.reason, err.message) from err
        return Connection(
            image,
            await self._credentials(namespace, spec, image),
            await self._tls(namespace, spec),
            spec.insecure,
            spec.effective_timeout().seconds,
        )

    async def _secret(self, namespace: str, name: str, field: str) -> dict[str, bytes]:
        return await secrets.data(
            self.client, namespace, name, f"{field} secret '{namespace}/{name}' not found"
        )

    async def _credentials(
        self, namespace: str, spec: api.ImageRepositorySpec, image: registry.ImageName
    ) -> registry.Credentials | None:
        if spec.secret_ref is None:
            return None
        data = await self._secret(namespace, spec.secret_ref.name, "spec.secretRef")
        config = data.get(".dockerconfigjson") or data.get(".dockercfg")
        if config is None:
            raise StalledError(
                conditions.AUTHENTICATION_FAILED,
                f"secret '{spec.secret_ref.name}' has no .dockerconfigjson"
                " (create it with type kubernetes.io/dockerconfigjson)",
            )
        try:
            return registry.credentials_from_dockerconfig(config, image.host)
        except registry.RegistryError as err:
            raise StalledError(err.reason, err.message) from err

    async def _tls(self, namespace: str, spec: api.ImageRepositorySpec) -> ssl.SSLContext | None:
        if spec.cert_secret_ref is None:
            return None
        data = await self._secret(namespace, spec.cert_secret_ref.name, "spec.certSecretRef")
        try:
            return registry.ssl_context(
                data.get("ca.crt"), data.get("tls.crt"), data.get("tls.key")
            )
        except (OSError, ValueError) as err:
            raise StalledError(
                INVALID_SPEC,
                f"certSecretRef '{spec.cert_secret_ref.name}' holds no usable certificate:"
                f" {type(err).__name__}",
            ) from err


def _spec(obj: JSON) -> api.ImageRepositorySpec:
    spec = lifecycle.parse(api.ImageRepository, obj).spec
    if spec is None:
        raise StalledError(INVALID_SPEC, "spec.image is required")
    return spec


def _exclusions(patterns: list[str]) -> list[re.Pattern[str]]:
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(pattern))
        except re.error as err:
            raise StalledError(
                INVALID_SPEC, f"exclusionList entry '{pattern}' is not a regular expression: {err}"
            ) from err
    return compiled


def _retry(spec: api.ImageRepositorySpec) -> float:
    return min(max(spec.interval.seconds, 10.0), 120.0)
