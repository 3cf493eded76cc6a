"""What Helm has stored about a release, read straight from its storage Secrets.

Helm (the `secret` driver) keeps each revision of a release in a Secret
`sh.helm.release.v1.<name>.v<revision>` of the storage namespace, labelled
`owner=helm,name=<name>`, its `release` key a gzipped JSON document. Reading them with
the engine's client costs one list call and no helm process, which keeps an interval
reconcile cheap: `history()` returns the revisions, newest first, as `Revision`s;
`unlock()` removes a revision a crashed helm process left pending. A revision carries
its test hooks and how they last ran (helm test writes that into the same record), so
a test result outlives the reconcile that ran it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import zlib
from dataclasses import dataclass
from typing import Any

from kidp_gitops.helm import values as values_
from kidp_gitops.kube.client import KubeClient
from kidp_gitops.kube.errors import ApiError

DEPLOYED = "deployed"
FAILED = "failed"
UNINSTALLED = "uninstalled"
PENDING = ("pending-install", "pending-upgrade", "pending-rollback")
_GZIP_MAGIC = b"\x1f\x8b"
# A release record as helm stores it is a few hundred KiB at most (a Secret holds 1 MiB
# compressed); anything expanding past this is refused, not decoded.
MAX_RECORD = 32 * 1024 * 1024
_EPOCH = "1970-01-01T00:00:00Z"
HOOK_FAILED = "Failed"
HOOK_DONE = ("Succeeded", HOOK_FAILED)


@dataclass(frozen=True)
class TestHook:
    """A test hook of a revision and its last run (phase None: never run)."""

    __test__ = False  # not a pytest class

    name: str
    phase: str | None
    started: str | None
    completed: str | None

    def snapshot(self) -> dict[str, str]:
        """The hook as a `status.history[].testHooks` entry."""
        snap: dict[str, str] = {}
        if self.started:
            snap["lastStarted"] = self.started
        if self.completed:
            snap["lastCompleted"] = self.completed
        if self.phase:
            snap["phase"] = self.phase
        return snap


@dataclass(frozen=True)
class Revision:
    """One stored revision of a release."""

    name: str
    namespace: str
    version: int
    status: str
    chart_name: str
    chart_version: str
    config_digest: str
    digest: str
    first_deployed: str | None
    last_deployed: str | None
    deleted: str | None
    tests: tuple[TestHook, ...] = ()
    manifest: str = ""
    """The objects Helm applied for this revision (YAML documents), for drift detection."""

    @property
    def ref(self) -> str:
        """`<namespace>/<name>.v<version>`, as messages name a revision."""
        return f"{self.namespace}/{self.name}.v{self.version}"

    @property
    def tested(self) -> bool:
        """helm test ran on this revision to its end: a test hook has started, and every
        one that started has finished (a run cut short, phase Running, does not count)."""
        started = [h for h in self.tests if h.started]
        return bool(started) and all(h.phase in HOOK_DONE for h in started)

    def failed_tests(self) -> list[str]:
        return [h.name for h in self.tests if h.phase == HOOK_FAILED]

    def snapshot(self) -> dict[str, Any]:
        """The revision as a `status.history` entry."""
        snap: dict[str, Any] = {
            "digest": self.digest,
            "name": self.name,
            "namespace": self.namespace,
            "version": self.version,
            "status": self.status,
            "chartName": self.chart_name,
            "chartVersion": self.chart_version,
            "configDigest": self.config_digest,
            # Required by the schema; helm sets both on every record it writes.
            "firstDeployed": self.first_deployed or self.last_deployed or _EPOCH,
            "lastDeployed": self.last_deployed or self.first_deployed or _EPOCH,
        }
        if self.deleted:
            snap["deleted"] = self.deleted
        if any(h.started for h in self.tests):
            snap["testHooks"] = {h.name: h.snapshot() for h in self.tests if h.started}
        return snap


async def history(client: KubeClient, storage_namespace: str, name: str) -> list[Revision]:
    """The stored revisions of release `name`, newest first (empty when none)."""
    listed = await client.list(
        f"/api/v1/namespaces/{storage_namespace}/secrets",
        params={"labelSelector": f"owner=helm,name={name}"},
    )
    # Off the loop: each record is a gzipped document the storage namespace's writers
    # (a tenant; a remote cluster's server) chose, decompressed within MAX_RECORD.
    found = await asyncio.to_thread(_decode_all, listed.get("items") or [])
    return sorted(found, key=lambda r: r.version, reverse=True)


def _decode_all(items: list[Any]) -> list[Revision]:
    return [r for r in (_decode(i) for i in items if isinstance(i, dict)) if r is not None]


async def unlock(client: KubeClient, revision: Revision) -> None:
    """Drop a revision left `pending-*` by a helm process that is gone (an engine that
    crashed mid-upgrade): helm refuses every action while one is pending. Its storage
    Secret is deleted, so the revision before it is the latest again."""
    path = f"/api/v1/namespaces/{revision.namespace}/secrets/{storage_name(revision)}"
    try:
        await client.delete(path)
    except ApiError as err:
        if not err.not_found:
            raise


def storage_name(revision: Revision) -> str:
    return f"sh.helm.release.v1.{revision.name}.v{revision.version}"


def _decode(secret: dict[str, Any]) -> Revision | None:
    raw = (secret.get("data") or {}).get("release")
    if not raw:
        return None
    try:
        data = base64.b64decode(base64.b64decode(raw))
        if data[:2] == _GZIP_MAGIC:
            data = _gunzip(data)
        doc = json.loads(data)
    except (binascii.Error, OSError, ValueError, zlib.error):
        return None
    if not isinstance(doc, dict):
        return None
    info = doc.get("info") or {}
    metadata = (doc.get("chart") or {}).get("metadata") or {}
    return Revision(
        name=str(doc.get("name", "")),
        namespace=str(doc.get("namespace", "")),
        version=int(doc.get("version", 0)),
        status=str(info.get("status", "unknown")),
        chart_name=str(metadata.get("name", "")),
        chart_version=str(metadata.get("version", "")),
        config_digest=values_.digest(doc.get("config") or {}),
        digest="sha256:" + hashlib.sha256(data).hexdigest(),
        first_deployed=_time(info.get("first_deployed")),
        last_deployed=_time(info.get("last_deployed")),
        deleted=_time(info.get("deleted")),
        tests=tuple(_test_hooks(doc.get("hooks") or [])),
        manifest=str(doc.get("manifest") or ""),
    )


def _gunzip(data: bytes) -> bytes:
    """The gzip member `data`, refused (ValueError) past MAX_RECORD bytes: a record of
    1 MiB may expand to a gigabyte."""
    inflate = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    out = inflate.decompress(data, MAX_RECORD + 1)
    if len(out) > MAX_RECORD or inflate.unconsumed_tail:
        raise ValueError(f"a release record expands past {MAX_RECORD} bytes")
    return out


def _test_hooks(hooks: list[Any]) -> list[TestHook]:
    found = []
    for hook in hooks:
        if not isinstance(hook, dict) or "test" not in (hook.get("events") or []):
            continue
        run = hook.get("last_run") or {}
        started = _time(run.get("started_at"))
        found.append(
            TestHook(
                name=str(hook.get("name", "")),
                phase=str(run["phase"]) if started and run.get("phase") else None,
                started=started,
                completed=_time(run.get("completed_at")),
            )
        )
    return sorted(found, key=lambda h: h.name)


def _time(value: Any) -> str | None:
    """Helm's timestamps (RFC 3339 with nanoseconds) as Kubernetes writes them."""
    if not value or not isinstance(value, str) or value.startswith("0001-"):
        return None
    head, _, rest = value.partition(".")
    if not rest:
        return value
    zone = rest.lstrip("0123456789")
    return head + ("Z" if zone in ("Z", "+00:00") else zone)
