"""The webhook server: `POST /hook/<digest>` asks for the reconciliation of a Receiver's
resources.

    path ─► Receiver (by status.webhookPath) ─► not suspended ─► token from its Secret
         ─► path still matches the token ─► webhooks.check ─► annotate every resource
            with reconcile.fluxcd.io/requestedAt ─► 200

An unknown path is 404, a suspended Receiver 503, a rejected call 401/403/400
(webhooks.py); nothing is annotated unless the call passed every check. A resource named
`*` means every object of its kind in its namespace that carries `matchLabels`. Under the
lockdown a resource in another namespace is never annotated, whatever the Receiver's
status says (it may predate the spec): the others are, and the answer is 500, as Flux's.

With `resourceFilter` and/or a resource's own `filter` (CEL, as Flux evaluates them),
each object is annotated only when every filter set returns true for it: `res` is the
object's apiVersion, kind and metadata, `req` the call's body when it is JSON (else
empty). A filter that cannot be evaluated on an object leaves it alone and makes the
answer 500; a Receiver whose filter does not compile answers 503 (it is Stalled).
"""

from __future__ import annotations

import datetime
import logging
from typing import Any

import orjson
from aiohttp import web

from kidp_gitops.api import notification as api
from kidp_gitops.api import resources
from kidp_gitops.api.wellknown import REQUESTED_AT
from kidp_gitops.cel import evaluator, expression
from kidp_gitops.cel import fields as cel_fields
from kidp_gitops.kube.client import JSON, KubeClient
from kidp_gitops.kube.errors import KubeError
from kidp_gitops.kube.informer import Informer
from kidp_gitops.kube.mapper import RestMapper
from kidp_gitops.notification import receiver, secrets, webhooks
from kidp_gitops.runtime.reconcile import ReconcileError
from kidp_gitops.runtime.tenancy import AccessDenied, Lockdown

log = logging.getLogger(__name__)

BY_PATH = "webhookPath"
MAX_BODY = 5 * 1024 * 1024
# The API version a Receiver means when a resource names only its kind: the one it is
# stored as.
DEFAULT_VERSIONS = {info.kind: info.api_version() for info in resources.ALL}


def webhook_path_index(obj: JSON) -> list[str]:
    path = (obj.get("status") or {}).get("webhookPath")
    return [str(path)] if path else []


class ReceiverServer:
    def __init__(
        self,
        client: KubeClient,
        mapper: RestMapper,
        receivers: Informer,
        lockdown: Lockdown | None = None,
    ):
        self.client = client.managed_by("notification-controller")
        self.mapper = mapper
        self.receivers = receivers
        self.lockdown = lockdown or Lockdown()
        self.handled = 0
        """Calls that led to reconcile requests (for tests and metrics)."""

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_post("/hook/{digest}", self.hook)
        return app

    async def hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        found = self.receivers.by_index(BY_PATH, request.path)
        if not found:
            return web.Response(status=404, text="no receiver for this path\n")
        answers = [await self._handle(obj, request, body) for obj in found]
        # Several Receivers on one path only if tokens, names and namespaces collide.
        return min(answers, key=lambda r: r.status if r.status >= 300 else 0)

    async def _handle(self, obj: JSON, request: web.Request, body: bytes) -> web.Response:
        meta = obj["metadata"]
        where = f"{meta['namespace']}/{meta['name']}"
        try:
            spec = receiver.spec_of(obj)
        except ReconcileError:
            return web.Response(status=503, text="receiver is not ready\n")
        if cel_fields.problems(receiver.KIND, obj):
            return web.Response(status=503, text="receiver is not ready\n")
        if spec.suspend:
            return web.Response(status=503, text="receiver is suspended\n")
        try:
            data = await secrets.secret_data(self.client, meta["namespace"], spec.secret_ref.name)
        except secrets.SecretProblem:
            return web.Response(status=503, text="receiver is not ready\n")
        token = data.get("token", "")
        if not token or receiver.webhook_path(token, meta["name"], meta["namespace"]) != (
            request.path
        ):
            return web.Response(status=404, text="no receiver for this path\n")
        try:
            verdict = webhooks.check(spec.type, token, spec.events, request.headers, body)
        except webhooks.Rejected as err:
            log.info("receiver %s refused a call: %s", where, err.message)
            return web.Response(status=err.status, text=err.message + "\n")
        if verdict is webhooks.Verdict.PONG:
            return web.Response(text="pong\n")
        filters = _Filters.of(spec, request.content_type, body)
        if filters is None:
            return web.Response(status=400, text="the body is not valid JSON\n")
        requested, refused = await self._request_reconciles(meta["namespace"], spec, filters)
        self.handled += 1
        log.info("receiver %s: reconcile requested for %s", where, ", ".join(requested) or "none")
        text = f"reconcile requested for {len(requested)} object(s)\n"
        if refused:
            for problem in refused:
                log.warning("receiver %s: %s", where, problem)
            return web.Response(status=500, text=text + "\n".join(refused) + "\n")
        return web.Response(text=text)

    async def _request_reconciles(
        self, namespace: str, spec: api.ReceiverSpec, filters: _Filters
    ) -> tuple[list[str], list[str]]:
        """Annotate the resources the filters accept; (what was requested, what the
        lockdown refused or a filter could not decide)."""
        now = datetime.datetime.now(datetime.UTC).isoformat(timespec="microseconds")
        patch = {"metadata": {"annotations": {REQUESTED_AT: now}}}
        done: list[str] = []
        refused: list[str] = []
        for ref in spec.resources:
            try:
                receiver.check_resource(self.lockdown, namespace, ref)
            except AccessDenied as err:
                refused.append(err.message)
                continue
            ns = ref.namespace or namespace
            if ref.name == "*" and not ref.match_labels:
                # As Flux: a wildcard names objects by their labels, never every one.
                refused.append(f"{ref.kind}/{ns}/*: matchLabels must be set with name '*'")
                continue
            try:
                resource = await self.mapper.resource(
                    ref.api_version or DEFAULT_VERSIONS.get(ref.kind, ""), ref.kind
                )
                exprs = filters.for_resource(ref)
                if ref.name == "*":
                    selector = ",".join(f"{k}={v}" for k, v in sorted(ref.match_labels.items()))
                    listed = await self.client.list(
                        resource.path(ns), {"labelSelector": selector} if selector else {}
                    )
                    objects = [
                        {**o, "apiVersion": resource.api_version, "kind": ref.kind}
                        for o in listed.get("items") or []
                    ]
                elif exprs:  # the filters read its metadata
                    objects = [await self.client.get(resource.path(ns, ref.name))]
                else:
                    objects = [{"metadata": {"name": ref.name}}]
                for obj in objects:
                    name = str(obj["metadata"]["name"])
                    try:
                        if not await filters.accept(exprs, obj):
                            log.info("filtered out: %s/%s/%s", ref.kind, ns, name)
                            continue
                    except expression.EvaluationFailed as err:
                        log.warning("filter of %s/%s/%s: %s", ref.kind, ns, name, err)
                        refused.append(f"{ref.kind}/{ns}/{name}: the filter could not decide")
                        continue
                    try:
                        await self.client.patch(resource.path(ns, name), patch)
                        done.append(f"{ref.kind}/{ns}/{name}")
                    except KubeError as err:
                        log.warning("cannot annotate %s/%s/%s: %s", ref.kind, ns, name, err)
            except KubeError as err:
                log.warning("cannot request reconcile of %s/%s/%s: %s", ref.kind, ns, ref.name, err)
        return done, refused


class _Filters:
    """The CEL filters of one call: the Receiver's and each resource's, over the body."""

    def __init__(self, spec: api.ReceiverSpec, req: dict[str, Any]):
        self.spec = spec
        self.req = req

    @classmethod
    def of(cls, spec: api.ReceiverSpec, content_type: str, body: bytes) -> _Filters | None:
        """None when a filter needs the body and it is JSON that does not parse. A body
        that is not JSON (by its Content-Type) is `{}` to the filters, as in Flux."""
        req: dict[str, Any] = {}
        wanted = spec.resource_filter or any(r.filter for r in spec.resources)
        if wanted and content_type == "application/json" and body:
            try:
                parsed = orjson.loads(body)
            except orjson.JSONDecodeError:
                return None
            req = parsed if isinstance(parsed, dict) else {}
        return cls(spec, req)

    def for_resource(self, ref: api.ReceiverResource) -> list[str]:
        return [e for e in (self.spec.resource_filter, ref.filter) if e]

    async def accept(self, exprs: list[str], obj: JSON) -> bool:
        """Whether every filter returns true for `obj` (raises EvaluationFailed)."""
        res = {k: obj[k] for k in ("apiVersion", "kind", "metadata") if k in obj}
        for text in exprs:
            try:
                if not await evaluator.boolean(
                    text, expression.RESOURCE_FILTER, {"res": res, "req": self.req}
                ):
                    return False
            except expression.InvalidExpression as err:  # checked before: not expected
                raise expression.EvaluationFailed(str(err)) from err
        return True
