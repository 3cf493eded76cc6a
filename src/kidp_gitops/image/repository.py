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
from pathlib import Path

from kidp_gitops.api import image as api
from kidp_gitops.image import registry
from kidp_gitops.kube.client import JSON, KubeClient
from kidp_gitops.kube.informer import Informer
from kidp_gitops.kube.mapper import Resource
from kidp_gitops.runtime import conditions, failures, registryauth, secrets
from kidp_gitops.runtime import status as typed_status
from kidp_gitops.runtime.context import Context
from kidp_gitops.runtime.lifecycle import TypedReconciler
from kidp_gitops.runtime.reconcile import Result, StalledError
from kidp_gitops.runtime.workqueue import jittered

KIND = "ImageRepository"
INVALID_SPEC = "InvalidSpec"
LATEST_TAGS = 10
SCAN_RETRY_SECONDS = (10.0, 120.0)
"""A failed scan is tried again after spec.interval, but no sooner than 10 s and no
later than 2 min: a registry that is down for a moment should not wait an hour."""


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


def scan_retry(spec: api.ImageRepositorySpec) -> float:
    """After a failed scan: the interval, kept within SCAN_RETRY_SECONDS."""
    low, high = SCAN_RETRY_SECONDS
    return min(max(spec.interval.seconds, low), high)


ERRORS: failures.Table[api.ImageRepositorySpec] = failures.Table(
    failures.retry(registry.RegistryError, after=scan_retry),
)


class ImageRepositoryReconciler(TypedReconciler[api.ImageRepository, api.ImageRepositoryStatus]):
    kind = KIND
    model = api.ImageRepository
    status_model = api.ImageRepositoryStatus
    errors = ERRORS

    def __init__(self, ctx: Context, resource: Resource, repositories: Informer, tags: TagStore):
        super().__init__(ctx.client, resource, ctx.events, repositories)
        self.tags = tags
        self.access = RegistryAccess(self.client)

    async def run(self, obj: api.ImageRepository, status: api.ImageRepositoryStatus) -> Result:
        spec = obj.spec
        exclusions = _exclusions(spec.exclusion_list)
        conn = await self.access.connection(obj.namespace, spec)
        image = conn.image
        conditions.mark_reconciling(
            status, conditions.PROGRESSING, f"scanning {image.canonical} for tags", obj.generation
        )
        found = await registry.list_tags(
            image, conn.credentials, insecure=conn.insecure, tls=conn.tls, timeout=conn.timeout
        )
        tags = [t for t in found if not any(rx.search(t) for rx in exclusions)]
        self.tags.put(obj.namespace, obj.name, tags)
        revision = "sha256:" + hashlib.sha256("\n".join(sorted(tags)).encode()).hexdigest()
        previous = status.last_scan_result
        status.canonical_image_name = image.canonical
        status.observed_exclusion_list = list(spec.exclusion_list)
        status.last_scan_result = api.ScanResult(
            revision=revision,
            tag_count=len(tags),
            scan_time=typed_status.now(),
            latest_tags=sorted(tags, reverse=True)[:LATEST_TAGS],
        )
        message = f"successful scan: found {len(tags)} tags"
        conditions.mark_ready(status, conditions.SUCCEEDED, message, obj.generation)
        if previous is None or previous.revision != revision:
            self.event(obj, "Normal", conditions.SUCCEEDED, message)
        return Result(requeue_after=jittered(spec.interval.seconds))

    async def finalize(self, obj: JSON) -> None:
        self.tags.remove(obj["metadata"]["namespace"], obj["metadata"]["name"])


@dataclass(frozen=True)
class Connection:
    """How to reach the registry of one ImageRepository."""

    image: registry.ImageName
    credentials: registryauth.Credentials | None
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
            await secrets.registry_credentials(
                self.client,
                namespace,
                image.host,
                spec.secret_ref.name if spec.secret_ref else None,
                spec.service_account_name,
            ),
            await secrets.cert_tls(self.client, namespace, spec.cert_secret_ref),
            spec.insecure,
            spec.effective_timeout().seconds,
        )

    async def _secret(self, namespace: str, name: str, field: str) -> dict[str, bytes]:
        return await secrets.data(
            self.client, namespace, name, f"{field} secret '{namespace}/{name}' not found"
        )


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
