"""Flux's event, as the notification controller hands it to providers.

The other controllers record ordinary Kubernetes Events (runtime/events.py); this module
turns one of those into the event Flux's controllers post to the notification controller:
the involved object, a severity (`info` for Normal, `error` for Warning), the reason, the
message, and metadata taken from the event's annotations with the object's API group
stripped (`kustomize.toolkit.fluxcd.io/revision` becomes `revision`).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["info", "error"]

FLUX_GROUP_SUFFIX = ".toolkit.fluxcd.io"
FLUX_EXTENSION_GROUPS = frozenset({"source.extensions.fluxcd.io"})
"""Flux's groups outside the toolkit's (source-watcher's ArtifactGenerator)."""
# The controller of each kind, named as Flux names it (the `reportingController` field).
CONTROLLERS = {
    "GitRepository": "source-controller",
    "HelmRepository": "source-controller",
    "HelmChart": "source-controller",
    "OCIRepository": "source-controller",
    "Bucket": "source-controller",
    "ArtifactGenerator": "source-watcher",
    "Kustomization": "kustomize-controller",
    "HelmRelease": "helm-controller",
    "ImageRepository": "image-reflector-controller",
    "ImagePolicy": "image-reflector-controller",
    "ImageUpdateAutomation": "image-automation-controller",
}


@dataclass(frozen=True)
class ObjectRef:
    kind: str
    namespace: str
    name: str
    uid: str = ""
    api_version: str = ""
    resource_version: str = ""

    def __str__(self) -> str:
        return f"{self.kind.lower()}/{self.name}.{self.namespace}"


@dataclass(frozen=True)
class FluxEvent:
    involved_object: ObjectRef
    severity: Severity
    reason: str
    message: str
    timestamp: str
    metadata: dict[str, str] = field(default_factory=dict)
    reporting_controller: str = ""
    reporting_instance: str = ""

    def with_metadata(self, extra: dict[str, str]) -> FluxEvent:
        """A copy carrying `extra` too; the event's own keys win a conflict (as Flux)."""
        merged = {**extra, **self.metadata}
        return FluxEvent(
            self.involved_object,
            self.severity,
            self.reason,
            self.message,
            self.timestamp,
            merged,
            self.reporting_controller,
            self.reporting_instance,
        )

    @property
    def revision(self) -> str | None:
        return self.metadata.get("revision")

    def to_json(self) -> dict[str, Any]:
        """The JSON body Flux's `generic` provider posts."""
        o = self.involved_object
        body: dict[str, Any] = {
            "involvedObject": {
                "kind": o.kind,
                "namespace": o.namespace,
                "name": o.name,
                "uid": o.uid,
                "apiVersion": o.api_version,
                "resourceVersion": o.resource_version,
            },
            "severity": self.severity,
            "timestamp": self.timestamp,
            "message": self.message,
            "reason": self.reason,
            "reportingController": self.reporting_controller,
            "reportingInstance": self.reporting_instance,
        }
        if self.metadata:
            body["metadata"] = dict(self.metadata)
        return body


def is_flux_object(api_version: str) -> bool:
    group = api_version.partition("/")[0] if "/" in api_version else ""
    return group.endswith(FLUX_GROUP_SUFFIX) or group in FLUX_EXTENSION_GROUPS


def from_kube_event(event: dict[str, Any]) -> FluxEvent | None:
    """The Flux event of a core/v1 Event about a Flux object; None for any other Event."""
    involved = event.get("involvedObject") or {}
    api_version = str(involved.get("apiVersion") or "")
    if not is_flux_object(api_version) or not involved.get("name"):
        return None
    group = api_version.partition("/")[0]
    meta = event.get("metadata") or {}
    metadata: dict[str, str] = {}
    for key, value in (meta.get("annotations") or {}).items():
        prefix, slash, rest = str(key).partition("/")
        if slash and prefix == group:
            metadata[rest] = str(value)
    kind = str(involved.get("kind") or "")
    source = event.get("source") or {}
    timestamp = (
        event.get("lastTimestamp")
        or event.get("eventTime")
        or event.get("firstTimestamp")
        or datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    return FluxEvent(
        involved_object=ObjectRef(
            kind=kind,
            namespace=str(involved.get("namespace") or meta.get("namespace") or ""),
            name=str(involved["name"]),
            uid=str(involved.get("uid") or ""),
            api_version=api_version,
            resource_version=str(involved.get("resourceVersion") or ""),
        ),
        severity="error" if event.get("type") == "Warning" else "info",
        reason=str(event.get("reason") or ""),
        message=str(event.get("message") or ""),
        timestamp=str(timestamp),
        metadata=metadata,
        reporting_controller=CONTROLLERS.get(kind, str(source.get("component") or "")),
        reporting_instance=str(event.get("reportingInstance") or source.get("host") or ""),
    )
