"""The Alert reconciler: Ready when the Alert can send, with a reason when it cannot.

Sending itself happens in the dispatcher, event by event; this reconciler only checks
what can be checked ahead: the spec parses, the inclusion and exclusion patterns are
regular expressions, the lockdown allows its event sources, and the Provider exists. A
missing Provider is waited for (the controller also watches Providers, so creating it
makes the Alert Ready at once). The Provider is always the Alert's own (`providerRef` has
no namespace), so the lockdown has only the event sources to check.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from kidp_gitops.api import notification as api
from kidp_gitops.kube.client import JSON, KubeClient
from kidp_gitops.kube.informer import Informer
from kidp_gitops.kube.mapper import Resource
from kidp_gitops.notification import matching
from kidp_gitops.runtime import conditions
from kidp_gitops.runtime.events import EventRecorder
from kidp_gitops.runtime.lifecycle import ObjectReconciler
from kidp_gitops.runtime.reconcile import Result, StalledError, WaitingError
from kidp_gitops.runtime.tenancy import Lockdown

KIND = "Alert"
PROVIDER_NOT_FOUND = "ProviderNotFound"
INVALID_SPEC = "InvalidSpec"
PROVIDER_RETRY_SECONDS = 60.0


class AlertReconciler(ObjectReconciler):
    kind = KIND

    def __init__(
        self,
        client: KubeClient,
        resource: Resource,
        events: EventRecorder,
        providers: Informer,
        lockdown: Lockdown | None = None,
    ):
        super().__init__(client, resource, events)
        self.providers = providers
        self.lockdown = lockdown or Lockdown()

    async def run(self, obj: JSON, status: dict[str, Any]) -> Result:
        meta = obj["metadata"]
        generation = meta.get("generation", 0)
        spec = _spec(obj)
        try:
            matching.compile_patterns(spec.inclusion_list, "inclusionList")
            matching.compile_patterns(spec.exclusion_list, "exclusionList")
        except matching.InvalidPattern as err:
            raise StalledError(INVALID_SPEC, str(err)) from err
        check_sources(self.lockdown, meta["namespace"], spec)
        provider = spec.provider_ref.name
        if self.providers.get(meta["namespace"], provider) is None:
            raise WaitingError(
                PROVIDER_NOT_FOUND,
                f"provider '{provider}' not found in namespace '{meta['namespace']}'",
                retry_after=PROVIDER_RETRY_SECONDS,
            )
        conditions.mark_ready(status, conditions.SUCCEEDED, "Initialized", generation)
        return Result()


def check_sources(lockdown: Lockdown, namespace: str, spec: api.AlertSpec) -> None:
    """Refuse (AccessDenied) an event source in another namespace, or in any (`*`),
    under the lockdown. The dispatcher drops those events anyway; saying so here tells
    the tenant why its Alert stays quiet."""
    for source in spec.event_sources:
        lockdown.check_ref(namespace, source.kind, source.namespace or "", source.name)


def _spec(obj: JSON) -> api.AlertSpec:
    try:
        return api.AlertSpec.model_validate(obj.get("spec") or {})
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()
        )
        raise StalledError(INVALID_SPEC, f"invalid spec: {problems}") from err
