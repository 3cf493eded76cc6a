"""The Bucket reconciler: the objects of an S3-compatible bucket, published as the source's
artifact.

    credentials → list (prefix) → .sourceignore + spec.ignore → index → revision
    → (same revision and ignore? done) → download → artifact

The revision is Flux's: the index of the kept objects, one `<key> <etag>\\n` line per
object sorted by key, hashed with SHA-256 (`sha256:<hex>`). An unchanged bucket costs one
listing (and a GET of `.sourceignore`) and no write; a new artifact is made only when the
index changes. As in Flux, the ignore rules are the `.sourceignore` object at the bucket's
root (kept in the artifact when there is one) and `spec.ignore` after it, with no default
list; keys ending in `/` (folder markers) are not objects.

The bucket's content is hostile: at most `MAX_OBJECTS` objects under the prefix, each at
most `MAX_OBJECT_BYTES`, all together at most `MAX_TOTAL_BYTES` (what the artifact
store's consumers unpack: `storage.untar.ARTIFACT`), a `.sourceignore` of
`MAX_SOURCEIGNORE_BYTES`; a key that would land outside the artifact's root (`..`, a
leading `/`, an empty or `.` segment) is refused, naming the key. The secret key is sent
only as a signature, and no error carries it.

A failure keeps the last good artifact in the status and says why, with Flux's reasons:
BucketOperationFailed (the server, its answers, its content), AuthenticationFailed (the
Secrets), URLInvalid (spec.endpoint).
"""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TypeVar

from pathspec import GitIgnoreSpec

from kidp_gitops.api import meta
from kidp_gitops.api import source as api
from kidp_gitops.api.refused import UNSUPPORTED_FIELD
from kidp_gitops.kube.client import JSON
from kidp_gitops.kube.informer import Informer
from kidp_gitops.kube.mapper import Resource
from kidp_gitops.proc import background
from kidp_gitops.runtime import conditions, credentials, failures, redact, secrets
from kidp_gitops.runtime import status as typed_status
from kidp_gitops.runtime.context import Context
from kidp_gitops.runtime.lifecycle import TypedReconciler
from kidp_gitops.runtime.reconcile import ReconcileError, Result, StalledError
from kidp_gitops.runtime.workqueue import jittered
from kidp_gitops.s3 import client as s3
from kidp_gitops.s3 import sigv4
from kidp_gitops.source import newartifact
from kidp_gitops.source.ignore import SOURCEIGNORE
from kidp_gitops.storage import untar
from kidp_gitops.storage.artifacts import Artifact, ArtifactStore

KIND = "Bucket"
OPERATION_FAILED = "BucketOperationFailed"
URL_INVALID = "URLInvalid"

MAX_OBJECTS = 10_000
MAX_OBJECT_BYTES = 64 << 20
MAX_TOTAL_BYTES = untar.ARTIFACT.max_bytes
MAX_SOURCEIGNORE_BYTES = 64 << 10
"""Thousands of patterns: more than RE2 compiles into one set (then the reconcile fails)."""
MAX_KEY_BYTES = 1024
"""S3's own limit on a key."""
CONCURRENT_DOWNLOADS = 8
T = TypeVar("T")

ERRORS: failures.Table[api.BucketSpec] = failures.Table(
    failures.backoff(s3.S3Error, reason=OPERATION_FAILED),
    failures.backoff(credentials.CredentialsError, reason=conditions.AUTHENTICATION_FAILED),
)


@dataclass(frozen=True)
class Index:
    """The kept objects of the bucket: key → ETag, and the `.sourceignore` text."""

    etags: dict[str, str]
    sourceignore: bytes | None

    @property
    def revision(self) -> str:
        return revision(self.etags)


def revision(etags: dict[str, str]) -> str:
    """Flux's revision of an index: SHA-256 of the sorted `key etag` lines."""
    digest = hashlib.sha256()
    for key in sorted(etags):  # code-point order: UTF-8 byte order, as Go sorts strings
        digest.update(f"{key} {etags[key]}\n".encode())
    return f"sha256:{digest.hexdigest()}"


class BucketReconciler(TypedReconciler[api.Bucket, api.BucketStatus]):
    kind = KIND
    model = api.Bucket
    status_model = api.BucketStatus
    errors = ERRORS

    def __init__(
        self,
        ctx: Context,
        resource: Resource,
        buckets: Informer,
        store: ArtifactStore,
        workdir: Path,
    ):
        super().__init__(ctx.client, resource, ctx.events, buckets)
        self.store = store
        self.workdir = workdir

    async def run(self, obj: api.Bucket, status: api.BucketStatus) -> Result:
        spec = obj.spec
        if spec.provider == "aws" and spec.secret_ref is None:
            raise StalledError(
                UNSUPPORTED_FIELD,
                "spec.provider 'aws' without spec.secretRef asks for AWS's workload or instance"
                " credentials, which kidp-gitops does not implement: give static keys"
                " (accesskey, secretkey) in spec.secretRef",
            )
        try:
            endpoint = s3.Endpoint.parse(spec.endpoint, insecure=spec.insecure)
        except s3.S3Error as err:
            raise StalledError(URL_INVALID, err.message) from err
        bucket = s3.Client(
            endpoint,
            spec.bucket_name,
            credentials=await self._credentials(obj, spec),
            region=spec.region,
            tls=await secrets.cert_tls(self.client, obj.namespace, spec.cert_secret_ref),
            timeout=spec.timeout.seconds,
        )
        index = await self._within(spec, "listing", self.index(bucket, spec))
        if (
            newartifact.unchanged(self.store, status, index.revision)
            and status.observed_ignore == spec.ignore
        ):
            message = f"stored artifact for revision '{index.revision}'"
            conditions.mark_ready(status, conditions.SUCCEEDED, message, obj.generation)
            return Result(requeue_after=jittered(spec.interval.seconds))

        conditions.mark_reconciling(
            status,
            conditions.PROGRESSING,
            f"building artifact: new upstream revision '{index.revision}'",
            obj.generation,
        )
        stored, fetched = await self.fetch(obj, spec, bucket, index)
        new = meta.Artifact.model_validate(stored.status())
        status.url = stored.url
        status.observed_ignore = spec.ignore
        newartifact.record(
            self,
            obj,
            status,
            new,
            f"stored artifact for revision '{new.revision}'",
            event=f"stored artifact with {fetched} fetched files from '{spec.bucket_name}' bucket",
        )
        return Result(requeue_after=jittered(spec.interval.seconds))

    async def index(self, bucket: s3.Client, spec: api.BucketSpec) -> Index:
        """The objects under the prefix that the ignore rules keep, with their ETags."""
        listed = [
            o
            async for o in bucket.objects(spec.prefix or "", limit=MAX_OBJECTS)
            if not o.key.endswith("/") and o.key != SOURCEIGNORE
        ]
        sourceignore = await self._sourceignore(bucket)
        lines = (sourceignore or b"").decode(errors="replace").splitlines()
        lines += (spec.ignore or "").splitlines()
        # Compiling a tenant's patterns takes time: off the shared event loop.
        kept = await asyncio.to_thread(keep, listed, lines)
        total = sum(o.size for o in kept)
        if total > MAX_TOTAL_BYTES:
            raise s3.S3Error(
                f"bucket '{spec.bucket_name}' holds {total} bytes to fetch, over the limit of"
                f" {MAX_TOTAL_BYTES}"
            )
        return Index({o.key: o.etag for o in kept}, sourceignore)

    async def _sourceignore(self, bucket: s3.Client) -> bytes | None:
        """The `.sourceignore` object at the bucket's root (whatever the prefix), if any."""
        tmp = Path(await asyncio.to_thread(tempfile.mkdtemp, dir=self.workdir, prefix="ignore-"))
        try:
            await bucket.download(SOURCEIGNORE, tmp / SOURCEIGNORE, limit=MAX_SOURCEIGNORE_BYTES)
            return await asyncio.to_thread((tmp / SOURCEIGNORE).read_bytes)
        except s3.NotFound:
            return None
        finally:
            background.discard(tmp)

    async def fetch(
        self, obj: api.Bucket, spec: api.BucketSpec, bucket: s3.Client, index: Index
    ) -> tuple[Artifact, int]:
        """Download the indexed objects (within spec.timeout) and store them as the
        artifact; the revision is of the ETags the downloads returned, as Flux's (an
        object that changed or went since the listing counts as it is now)."""
        tmp = Path(await asyncio.to_thread(tempfile.mkdtemp, dir=self.workdir, prefix="bucket-"))
        try:
            tree = tmp / "tree"
            etags = await self._within(spec, "download", self._download(bucket, index, tree))
            files = sorted(etags)
            if index.sourceignore is not None:
                await asyncio.to_thread((tree / SOURCEIGNORE).write_bytes, index.sourceignore)
                files = sorted([*files, SOURCEIGNORE])
            stored = await asyncio.to_thread(
                self.store.archive, KIND, obj.namespace, obj.name, tree, files, revision(etags)
            )
        finally:
            background.discard(tmp)
        return stored, len(etags)

    async def _download(self, bucket: s3.Client, index: Index, tree: Path) -> dict[str, str]:
        await asyncio.to_thread(tree.mkdir, parents=True)
        etags: dict[str, str] = {}
        total = 0
        slots = asyncio.Semaphore(CONCURRENT_DOWNLOADS)

        async def one(key: str) -> None:
            nonlocal total
            async with slots:
                target = tree / key
                try:
                    await asyncio.to_thread(target.parent.mkdir, parents=True, exist_ok=True)
                    etag = await bucket.download(key, target, limit=MAX_OBJECT_BYTES)
                    size = await asyncio.to_thread(lambda: target.stat().st_size)
                except s3.NotFound:
                    return  # gone since the listing: not in the artifact, as in Flux
                except OSError as err:  # 'a' and 'a/b' both objects; a name too long
                    raise s3.S3Error(
                        f"object '{s3.cut(key)}' cannot be stored: {err.strerror}"
                    ) from None
                total += size
                if total > MAX_TOTAL_BYTES:
                    raise s3.S3Error(
                        f"the objects of bucket '{bucket.bucket}' are larger than the limit"
                        f" of {MAX_TOTAL_BYTES} bytes"
                    )
                etags[key] = etag or index.etags[key]

        try:
            async with asyncio.TaskGroup() as group:
                for key in index.etags:
                    group.create_task(one(key))
        except ExceptionGroup as failed:  # the first failure says enough
            raise failed.exceptions[0] from None
        return etags

    async def _within(self, spec: api.BucketSpec, what: str, work: Awaitable[T]) -> T:
        try:
            async with asyncio.timeout(spec.timeout.seconds):
                return await work
        except TimeoutError:
            raise ReconcileError(
                OPERATION_FAILED,
                f"{what} of bucket '{spec.bucket_name}' did not finish within spec.timeout"
                f" ({spec.timeout})",
            ) from None

    async def finalize(self, obj: JSON) -> None:
        meta_ = obj["metadata"]
        await asyncio.to_thread(self.store.remove_object, KIND, meta_["namespace"], meta_["name"])

    # ---- credentials --------------------------------------------------------------------

    async def _credentials(self, obj: api.Bucket, spec: api.BucketSpec) -> sigv4.Credentials | None:
        """The static keys of spec.secretRef; anonymous requests without one."""
        if spec.secret_ref is None:
            return None
        name = spec.secret_ref.name
        where = f"{obj.namespace}/{name}"
        data = await secrets.data(
            self.client, obj.namespace, name, f"spec.secretRef secret '{where}' not found"
        )
        access, secret = data.get("accesskey"), data.get("secretkey")
        if not access or not secret:
            raise ReconcileError(
                conditions.AUTHENTICATION_FAILED,
                f"invalid '{name}' secret data: required fields 'accesskey' and 'secretkey'",
            )
        secret_key = secret.decode(errors="replace")
        owner = redact.owner_key(KIND, obj.namespace, obj.name)
        redact.REDACTOR.remember(owner, [secret_key])
        return sigv4.Credentials(access.decode(errors="replace"), secret_key)


def keep(objects: list[s3.ObjectInfo], patterns: list[str]) -> list[s3.ObjectInfo]:
    """The objects the ignore rules (gitignore syntax, as Flux's sourceignore) keep; each
    key checked with `check_key`. Blocking: call it from a worker thread."""
    try:
        rules = GitIgnoreSpec.from_lines(patterns)
    except Exception as err:  # pathspec's for a bad pattern, RE2's for a set too large
        raise s3.S3Error(
            f"the ignore rules (.sourceignore, spec.ignore) cannot be used: {s3.cut(str(err))}"
        ) from None
    kept = [o for o in objects if not rules.match_file(o.key)]
    for o in kept:
        check_key(o.key)
    return kept


def check_key(key: str) -> None:
    """Refuse a key that would not land as itself inside the artifact's root."""
    parts = PurePosixPath(key).parts
    if (
        not key
        or len(key.encode()) > MAX_KEY_BYTES
        or key.startswith("/")
        or "\x00" in key
        or any(p in ("", ".", "..") for p in key.split("/"))
        or not parts
    ):
        raise s3.S3Error(f"object key '{s3.cut(key)}' would leave the artifact's root")


def status_of(obj: JSON) -> api.BucketStatus:
    """The status of a Bucket read from the API server."""
    return typed_status.parse(api.BucketStatus, obj.get("status") or {})
