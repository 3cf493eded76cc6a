"""The Alert reconciler: Ready when the Alert can send, with a reason when it cannot.

Sending itself happens in the dispatcher, event by event; this reconciler only checks
what can be checked ahead: the spec parses, the inclusion and exclusion patterns are
regular expressions, the lockdown allows its event sources, and the Provider exists. A
missing Provider is waited for (the controller also watches Providers, so creating it
makes the Alert Ready at once). The Provider is always the Alert's own (`providerRef` has
no namespace), so the lockdown has only the event sources to check.
"""

from __future__ import annotations

from kidp_gitops.api import meta
from kidp_gitops.api import notification as api
from kidp_gitops.kube.informer import Informer
from kidp_gitops.kube.mapper import Resource
from kidp_gitops.notification import matching
from kidp_gitops.runtime import conditions, failures
from kidp_gitops.runtime.context import Context
from kidp_gitops.runtime.lifecycle import TypedReconciler
from kidp_gitops.runtime.reconcile import ReconcileError, Result
from kidp_gitops.runtime.tenancy import Lockdown

KIND = "Alert"
PROVIDER_NOT_FOUND = "ProviderNotFound"
INVALID_SPEC = "InvalidSpec"
PROVIDER_RETRY_SECONDS = 60.0
"""A safety net: the controller watches Providers, so a new one is seen at once."""

ERRORS: failures.Table[api.AlertSpec] = failures.Table(
    failures.stall(matching.InvalidPattern, reason=INVALID_SPEC),
    failures.wait(PROVIDER_NOT_FOUND, after=PROVIDER_RETRY_SECONDS),
)


class AlertReconciler(TypedReconciler[api.Alert, meta.ObjectStatus]):
    kind = KIND
    model = api.Alert
    status_model = meta.ObjectStatus
    errors = ERRORS

    def __init__(self, ctx: Context, resource: Resource, alerts: Informer, providers: Informer):
        super().__init__(ctx.client, resource, ctx.events, alerts)
        self.providers = providers
        self.lockdown = ctx.lockdown

    async def run(self, obj: api.Alert, status: meta.ObjectStatus) -> Result:
        spec = obj.spec
        matching.compile_patterns(spec.inclusion_list, "inclusionList")
        matching.compile_patterns(spec.exclusion_list, "exclusionList")
        check_sources(self.lockdown, obj.namespace, spec)
        provider = spec.provider_ref.name
        if self.providers.get(obj.namespace, provider) is None:
            raise ReconcileError(
                PROVIDER_NOT_FOUND,
                f"provider '{provider}' not found in namespace '{obj.namespace}'",
            )
        conditions.mark_ready(status, conditions.SUCCEEDED, "Initialized", obj.generation)
        return Result()


def check_sources(lockdown: Lockdown, namespace: str, spec: api.AlertSpec) -> None:
    """Refuse (AccessDenied) an event source in another namespace, or in any (`*`),
    under the lockdown. The dispatcher drops those events anyway; saying so here tells
    the tenant why its Alert stays quiet."""
    for source in spec.event_sources:
        lockdown.check_ref(namespace, source.kind, source.namespace or "", source.name)
