"""The ImagePolicy reconciler: the latest image of a scanned repository, by a rule.

    ImageRepository (same namespace, or one whose accessFrom selects ours; under the
    lockdown the same namespace only) scanned?
    → tags → policy.select → status.latestRef / latestImage (observedPreviousRef when it
    moves) → Ready

A policy under which no tag qualifies is not Ready and says so; it is looked at again
after the next scan of its repository (the controller watches the repositories).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from kidp_gitops.api import image as api
from kidp_gitops.image import policy, registry
from kidp_gitops.image.repository import RegistryAccess, TagStore
from kidp_gitops.kube.client import JSON, KubeClient
from kidp_gitops.kube.errors import ApiError
from kidp_gitops.kube.mapper import Resource
from kidp_gitops.runtime import conditions, lifecycle
from kidp_gitops.runtime.events import EventRecorder
from kidp_gitops.runtime.lifecycle import ObjectReconciler
from kidp_gitops.runtime.reconcile import Result, RetryError, StalledError, WaitingError
from kidp_gitops.runtime.tenancy import Lockdown
from kidp_gitops.runtime.workqueue import jittered

KIND = "ImagePolicy"
INVALID_SPEC = "InvalidSpec"
DEPENDENCY_NOT_READY = conditions.DEPENDENCY_NOT_READY
POLICY_FAILED = "InvalidPolicy"
NO_MATCH = "ReconciliationFailed"
ACCESS_DENIED = "AccessDenied"


class ImagePolicyReconciler(ObjectReconciler):
    kind = KIND

    def __init__(
        self,
        client: KubeClient,
        resource: Resource,
        events: EventRecorder,
        repositories: Resource,
        tags: TagStore,
        lockdown: Lockdown | None = None,
    ):
        super().__init__(client, resource, events)
        self.repositories = repositories
        self.tags = tags
        self.lockdown = lockdown or Lockdown()
        self.access = RegistryAccess(self.client)

    async def run(self, obj: JSON, status: dict[str, Any]) -> Result:
        meta = obj["metadata"]
        namespace, generation = meta["namespace"], meta.get("generation", 0)
        spec = _spec(obj)
        ref = spec.image_repository_ref
        repo_ns = ref.namespace or namespace
        repo = await self._repository(repo_ns, ref.name, namespace)
        repo_status = repo.get("status") or {}
        tags = self.tags.get(repo_ns, ref.name)
        if not conditions.is_true(repo_status, conditions.READY) or tags is None:
            raise WaitingError(
                DEPENDENCY_NOT_READY,
                f"ImageRepository '{repo_ns}/{ref.name}' has not been scanned yet",
                retry_after=10,
            )
        image = repo_status.get("canonicalImageName") or repo["spec"]["image"]
        try:
            tag = policy.select(tags, spec.policy, spec.filter_tags)
        except policy.PolicyError as err:
            raise StalledError(POLICY_FAILED, str(err)) from err
        if tag is None:
            status.pop("latestRef", None)
            status.pop("latestImage", None)
            # A Warning (not a quiet wait): the rule or the pushed tags need a person.
            raise RetryError(
                NO_MATCH,
                f"cannot determine the latest tag of '{image}': no tag of the"
                f" {len(tags)} scanned matches the {policy.describe(spec.policy)}"
                + (" and filterTags" if spec.filter_tags and spec.filter_tags.pattern else ""),
                retry_after=300,
            )
        name = repo["spec"]["image"]
        previous = status.get("latestRef")
        latest = {"name": name, "tag": tag}
        digest = await self._digest(spec, repo_ns, repo, tag, previous)
        if digest:
            latest["digest"] = digest
        if previous and previous != latest:
            status["observedPreviousRef"] = previous
            status["observedPreviousImage"] = f"{previous['name']}:{previous['tag']}"
        status["latestRef"] = latest
        status["latestImage"] = f"{name}:{tag}" + (f"@{digest}" if digest else "")
        message = f"Latest image tag for {name} resolved to {tag}"
        if previous != latest:
            if previous:
                message = f"Latest image tag for {name} updated from {previous.get('tag')} to {tag}"
            self.events.record(obj, "Normal", conditions.SUCCEEDED, message)
        conditions.mark_ready(
            status,
            conditions.SUCCEEDED,
            f"Latest image tag for {name} resolved to {tag}",
            generation,
        )
        if spec.digest_reflection_policy == "Always" and spec.interval is not None:
            return Result(requeue_after=jittered(spec.interval.seconds))
        return Result()

    async def _digest(
        self,
        spec: api.ImagePolicySpec,
        repo_ns: str,
        repo: JSON,
        tag: str,
        previous: dict[str, Any] | None,
    ) -> str | None:
        """The digest of the picked tag, as digestReflectionPolicy says: Never; once per
        tag (IfNotPresent); or on every reconcile (Always, at spec.interval)."""
        wanted = spec.digest_reflection_policy
        if wanted == "Never":
            return None
        if wanted == "Always" and spec.interval is None:
            raise StalledError(INVALID_SPEC, "digestReflectionPolicy: Always needs spec.interval")
        if (
            wanted == "IfNotPresent"
            and previous
            and previous.get("tag") == tag
            and previous.get("name") == repo["spec"]["image"]
            and previous.get("digest")
        ):
            return str(previous["digest"])
        repo_spec = _repository_spec(repo)
        conn = await self.access.connection(repo_ns, repo_spec)
        try:
            return await registry.manifest_digest(
                conn.image,
                tag,
                conn.credentials,
                insecure=conn.insecure,
                tls=conn.tls,
                timeout=conn.timeout,
            )
        except registry.RegistryError as err:
            raise RetryError(err.reason, err.message, retry_after=30) from err

    async def _repository(self, namespace: str, name: str, own_namespace: str) -> JSON:
        # Before the read, as Flux: the lockdown outranks the repository's accessFrom,
        # and a refused tenant learns nothing of the other namespace (not even existence).
        self.lockdown.check_ref(own_namespace, api.ImageRepository.RESOURCE.kind, namespace, name)
        try:
            repo = await self.client.get(self.repositories.path(namespace, name))
        except ApiError as err:
            if err.not_found:
                raise WaitingError(
                    DEPENDENCY_NOT_READY,
                    f"ImageRepository '{namespace}/{name}' not found",
                    retry_after=10,
                ) from err
            raise
        if namespace != own_namespace and not await self._grants(repo, own_namespace):
            raise RetryError(
                ACCESS_DENIED,
                f"ImageRepository '{namespace}/{name}' does not grant access to namespace"
                f" '{own_namespace}' (its spec.accessFrom.namespaceSelectors)",
                retry_after=60,
            )
        return repo

    async def _grants(self, repo: JSON, namespace: str) -> bool:
        """Whether the repository's accessFrom selects `namespace` by its labels."""
        access = (repo.get("spec") or {}).get("accessFrom") or {}
        selectors = access.get("namespaceSelectors") or []
        if not selectors:
            return False
        ns = await self.client.get(f"/api/v1/namespaces/{namespace}")
        labels = (ns.get("metadata") or {}).get("labels") or {}
        return any(
            all(labels.get(k) == v for k, v in (sel.get("matchLabels") or {}).items())
            for sel in selectors
        )


def _spec(obj: JSON) -> api.ImagePolicySpec:
    spec = lifecycle.parse(api.ImagePolicy, obj).spec
    if spec is None:
        raise StalledError(INVALID_SPEC, "spec.imageRepositoryRef and spec.policy are required")
    return spec


def _repository_spec(repo: JSON) -> api.ImageRepositorySpec:
    try:
        spec = api.ImageRepository.model_validate(repo).spec
    except ValidationError as err:
        raise StalledError(
            INVALID_SPEC, f"its ImageRepository is invalid: {err.errors()[0]['msg']}"
        ) from err
    if spec is None:
        raise StalledError(INVALID_SPEC, "its ImageRepository has no spec")
    return spec
