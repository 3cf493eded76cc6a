"""The ImagePolicy reconciler: the latest image of a scanned repository, by a rule.

    ImageRepository (same namespace, or one whose accessFrom selects ours; under the
    lockdown the same namespace only) scanned?
    → tags → policy.select → status.latestRef / latestImage (observedPreviousRef when it
    moves) → Ready

A policy under which no tag qualifies is not Ready and says so; it is looked at again
after the next scan of its repository (the controller watches the repositories).
"""

from __future__ import annotations

from pydantic import ValidationError

from kidp_gitops.api import image as api
from kidp_gitops.image import policy, registry
from kidp_gitops.image.repository import RegistryAccess, TagStore
from kidp_gitops.kube.errors import ApiError
from kidp_gitops.kube.informer import Informer
from kidp_gitops.kube.mapper import Resource
from kidp_gitops.runtime import conditions, failures
from kidp_gitops.runtime.context import Context
from kidp_gitops.runtime.lifecycle import TypedReconciler
from kidp_gitops.runtime.reconcile import ReconcileError, Result, StalledError
from kidp_gitops.runtime.workqueue import jittered

KIND = "ImagePolicy"
INVALID_SPEC = "InvalidSpec"
DEPENDENCY_NOT_READY = conditions.DEPENDENCY_NOT_READY
POLICY_FAILED = "InvalidPolicy"
NO_MATCH = "ReconciliationFailed"
ACCESS_DENIED = "AccessDenied"

DEPENDENCY_RETRY_SECONDS = 10.0
"""A safety net: the controller watches ImageRepositories, so a scan is seen at once."""
NO_MATCH_RETRY_SECONDS = 300.0
"""No tag qualifies: the rule or the pushed tags need a person; the next scan of the
repository brings the policy back sooner."""
DIGEST_RETRY_SECONDS = 30.0
ACCESS_RETRY_SECONDS = 60.0
"""The repository's accessFrom, or the labels of our namespace, may change."""

ERRORS: failures.Table[api.ImagePolicySpec] = failures.Table(
    failures.wait(DEPENDENCY_NOT_READY, after=DEPENDENCY_RETRY_SECONDS),
    # A Warning (not a quiet wait): the rule or the pushed tags need a person.
    failures.retry(NO_MATCH, after=NO_MATCH_RETRY_SECONDS),
    failures.retry(ACCESS_DENIED, after=ACCESS_RETRY_SECONDS),
    failures.stall(policy.PolicyError, reason=POLICY_FAILED),
    failures.retry(registry.RegistryError, after=DIGEST_RETRY_SECONDS),
)


class ImagePolicyReconciler(TypedReconciler[api.ImagePolicy, api.ImagePolicyStatus]):
    kind = KIND
    model = api.ImagePolicy
    status_model = api.ImagePolicyStatus
    errors = ERRORS

    def __init__(
        self,
        ctx: Context,
        resource: Resource,
        policies: Informer,
        repositories: Resource,
        tags: TagStore,
    ):
        super().__init__(ctx.client, resource, ctx.events, policies)
        self.repositories = repositories
        self.tags = tags
        self.lockdown = ctx.lockdown
        self.access = RegistryAccess(self.client)

    async def run(self, obj: api.ImagePolicy, status: api.ImagePolicyStatus) -> Result:
        spec = obj.spec
        ref = spec.image_repository_ref
        repo_ns = ref.namespace or obj.namespace
        repo = await self._repository(repo_ns, ref.name, obj.namespace)
        tags = self.tags.get(repo_ns, ref.name)
        if repo.status is None or not repo.status.ready or tags is None:
            raise ReconcileError(
                DEPENDENCY_NOT_READY,
                f"ImageRepository '{repo_ns}/{ref.name}' has not been scanned yet",
            )
        image = repo.status.canonical_image_name or repo.spec.image
        tag = policy.select(tags, spec.policy, spec.filter_tags)
        if tag is None:
            status.latest_ref = None
            status.latest_image = None
            raise ReconcileError(
                NO_MATCH,
                f"cannot determine the latest tag of '{image}': no tag of the"
                f" {len(tags)} scanned matches the {policy.describe(spec.policy)}"
                + (" and filterTags" if spec.filter_tags and spec.filter_tags.pattern else ""),
            )
        name = repo.spec.image
        previous = status.latest_ref
        digest = await self._digest(spec, repo_ns, repo, tag, previous)
        latest = api.ImageRef(name=name, tag=tag)
        if digest:
            latest.digest = digest
        if previous and previous != latest:
            status.observed_previous_ref = previous
            status.observed_previous_image = f"{previous.name}:{previous.tag}"
        status.latest_ref = latest
        status.latest_image = f"{name}:{tag}" + (f"@{digest}" if digest else "")
        message = f"Latest image tag for {name} resolved to {tag}"
        if previous != latest:
            if previous:
                message = f"Latest image tag for {name} updated from {previous.tag} to {tag}"
            self.event(obj, "Normal", conditions.SUCCEEDED, message)
        conditions.mark_ready(
            status,
            conditions.SUCCEEDED,
            f"Latest image tag for {name} resolved to {tag}",
            obj.generation,
        )
        if spec.digest_reflection_policy == "Always" and spec.interval is not None:
            return Result(requeue_after=jittered(spec.interval.seconds))
        return Result()

    async def _digest(
        self,
        spec: api.ImagePolicySpec,
        repo_ns: str,
        repo: api.ImageRepository,
        tag: str,
        previous: api.ImageRef | None,
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
            and previous.tag == tag
            and previous.name == repo.spec.image
            and previous.digest
        ):
            return previous.digest
        conn = await self.access.connection(repo_ns, repo.spec)
        return await registry.manifest_digest(
            conn.image,
            tag,
            conn.credentials,
            insecure=conn.insecure,
            tls=conn.tls,
            timeout=conn.timeout,
        )

    async def _repository(
        self, namespace: str, name: str, own_namespace: str
    ) -> api.ImageRepository:
        # Before the read, as Flux: the lockdown outranks the repository's accessFrom,
        # and a refused tenant learns nothing of the other namespace (not even existence).
        self.lockdown.check_ref(own_namespace, api.ImageRepository.RESOURCE.kind, namespace, name)
        try:
            found = await self.client.get(self.repositories.path(namespace, name))
        except ApiError as err:
            if err.not_found:
                raise ReconcileError(
                    DEPENDENCY_NOT_READY, f"ImageRepository '{namespace}/{name}' not found"
                ) from err
            raise
        try:
            repo = api.ImageRepository.model_validate(found)
        except ValidationError as err:
            raise StalledError(
                INVALID_SPEC, f"its ImageRepository is invalid: {err.errors()[0]['msg']}"
            ) from err
        if namespace != own_namespace and not await self._grants(repo, own_namespace):
            raise ReconcileError(
                ACCESS_DENIED,
                f"ImageRepository '{namespace}/{name}' does not grant access to namespace"
                f" '{own_namespace}' (its spec.accessFrom.namespaceSelectors)",
            )
        return repo

    async def _grants(self, repo: api.ImageRepository, namespace: str) -> bool:
        """Whether the repository's accessFrom selects `namespace` by its labels."""
        access = repo.spec.access_from
        if access is None or not access.namespace_selectors:
            return False
        ns = await self.client.get(f"/api/v1/namespaces/{namespace}")
        labels = (ns.get("metadata") or {}).get("labels") or {}
        return any(
            all(labels.get(k) == v for k, v in sel.match_labels.items())
            for sel in access.namespace_selectors
        )
