"""The typed path of the lifecycle: the status round trip, the failures table, and a
typed reconciler's status patch (none when nothing changed), over a fake API client."""

from __future__ import annotations

import copy
from typing import Any, cast

import pytest

from kidp_gitops.api import image, kustomize, meta
from kidp_gitops.kube.client import JSON, KubeClient
from kidp_gitops.kube.errors import ApiError
from kidp_gitops.kube.mapper import Resource
from kidp_gitops.runtime import conditions, failures, status
from kidp_gitops.runtime.events import EventRecorder
from kidp_gitops.runtime.lifecycle import FINALIZER, TypedReconciler
from kidp_gitops.runtime.reconcile import (
    ReconcileError,
    Request,
    Result,
    RetryError,
    StalledError,
    WaitingError,
)

WIRE: dict[str, Any] = {
    "observedGeneration": 3,
    "lastHandledReconcileAt": "now",
    "conditions": [
        {
            "type": "Ready",
            "status": "True",
            "reason": "ReconciliationSucceeded",
            "message": "Applied revision: main@sha1:abc",
            "observedGeneration": 3,
            "lastTransitionTime": "2026-12-06T13:57:09Z",
            "futureConditionField": "kept",
        }
    ],
    "lastAppliedRevision": "main@sha1:abc",
    "inventory": {"entries": [{"id": "apps_web_apps_Deployment", "v": "v1"}]},
    "someFutureField": {"nested": [1, 2]},
}


def test_an_unchanged_status_round_trips_exactly() -> None:
    parsed = status.parse(kustomize.KustomizationStatus, copy.deepcopy(WIRE))
    assert status.dump(parsed) == WIRE
    assert status.dump(status.parse(meta.ObjectStatus, {})) == {}  # no defaults appear


def test_assigned_fields_appear_and_none_removes() -> None:
    parsed = status.parse(image.ImagePolicyStatus, {"latestImage": "a:1", "x": 1})
    parsed.latest_image = None
    parsed.latest_ref = image.ImageRef(name="a", tag="2")
    assert status.dump(parsed) == {"latestRef": {"name": "a", "tag": "2"}, "x": 1}


def test_fields_that_do_not_validate_are_dropped_the_rest_kept() -> None:
    parsed = status.parse(
        image.ImagePolicyStatus, {"latestImage": "a:1", "latestRef": "not an object"}
    )
    assert status.dump(parsed) == {"latestImage": "a:1"}


def test_now_is_a_wire_timestamp() -> None:
    st = image.ImageUpdateAutomationStatus(last_push_time=status.now())
    assert status.dump(st)["lastPushTime"].endswith("Z")
    assert "." not in status.dump(st)["lastPushTime"]


def test_conditions_on_a_typed_status() -> None:
    st = status.parse(meta.ObjectStatus, copy.deepcopy({"conditions": WIRE["conditions"]}))
    conditions.mark_ready(st, "ReconciliationSucceeded", "Applied revision: main@sha1:abc", 3)
    # Kept as it was, time included; a condition set anew is metav1.Condition's fields
    # only, as on the untyped path.
    expected = {k: v for k, v in WIRE["conditions"][0].items() if k != "futureConditionField"}
    assert status.dump(st)["conditions"] == [expected]
    conditions.mark_retrying(st, "BuildFailed", "boom", 4)
    ready = st.condition("Ready")
    assert ready is not None
    assert ready.status == "False"
    assert ready.reason == "BuildFailed"
    assert [c.type for c in st.conditions] == ["Ready", "Reconciling"]
    untouched = meta.ObjectStatus()
    conditions.remove(untouched, conditions.STALLED)
    assert status.dump(untouched) == {}


class RegistryDown(Exception):
    reason = "RegistryUnavailable"


TABLE: failures.Table[image.ImageRepositorySpec] = failures.Table(
    failures.wait("DependencyNotReady", after=10.0),
    failures.retry(RegistryDown, after=lambda spec: spec.interval.seconds),
    failures.stall(ValueError, reason="InvalidSpec"),
    failures.backoff(OSError),
)
SPEC = image.ImageRepositorySpec(image="ghcr.io/a/b", interval=meta.Duration("5m"))


def test_the_table_decides_what_follows() -> None:
    waited = TABLE.classify(ReconcileError("DependencyNotReady", "not yet"), SPEC)
    assert type(waited) is WaitingError
    assert waited.retry_after == 10
    assert waited.message == "not yet"
    retried = TABLE.classify(RegistryDown("503"), SPEC)
    assert isinstance(retried, RetryError)
    assert retried.retry_after == 300
    assert retried.reason == "RegistryUnavailable"
    backoff = TABLE.classify(OSError("disk"), SPEC)
    assert type(backoff) is ReconcileError
    assert backoff.reason == "ReconciliationFailed"
    stalled = TABLE.classify(ValueError("bad"), SPEC)
    assert isinstance(stalled, StalledError)
    assert stalled.reason == "InvalidSpec"


def test_what_the_table_does_not_name_keeps_its_meaning() -> None:
    for err in (
        StalledError("DependencyNotReady", "the raiser knew"),
        ReconcileError("Other", "backoff"),
        KeyError("x"),
    ):
        assert TABLE.classify(err, SPEC) is err


# --- the lifecycle, over a fake client ------------------------------------------------

RESOURCE = Resource("image.toolkit.fluxcd.io", "v1beta2", "ImagePolicy", "imagepolicies", True)


class FakeClient:
    """An API server of one object: GET it, PATCH it (merge), count the status writes."""

    def __init__(self, obj: JSON):
        self.obj = obj
        self.status_patches: list[Any] = []

    def managed_by(self, field_manager: str) -> FakeClient:
        return self

    async def get(self, path: str) -> JSON:
        if self.obj is None:
            raise ApiError(404, "gone")
        return copy.deepcopy(self.obj)

    async def patch(self, path: str, body: Any) -> JSON:
        if path.endswith("/status"):
            self.status_patches.append(body)
            self.obj["status"] = _merge(self.obj.get("status") or {}, body["status"])
        else:
            self.obj["metadata"].update(body["metadata"])
        return copy.deepcopy(self.obj)


def _merge(old: Any, patch: Any) -> Any:
    if not isinstance(patch, dict) or not isinstance(old, dict):
        return patch
    out = dict(old)
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = _merge(old.get(k), v)
    return out


class FakeEvents:
    def __init__(self) -> None:
        self.recorded: list[tuple[str, str, str]] = []

    def record(self, obj: JSON, type_: str, reason: str, message: str, *_: Any) -> None:
        self.recorded.append((obj["kind"], type_, reason))


class Policy(TypedReconciler[image.ImagePolicy, image.ImagePolicyStatus]):
    kind = "ImagePolicy"
    model = image.ImagePolicy
    status_model = image.ImagePolicyStatus
    errors = failures.Table(failures.wait("DependencyNotReady", after=7.0))

    def __init__(self, client: FakeClient, events: FakeEvents):
        super().__init__(
            cast(KubeClient, client), RESOURCE, cast(EventRecorder, events), cache=None
        )
        self.fail = False

    async def run(self, obj: image.ImagePolicy, status: image.ImagePolicyStatus) -> Result:
        assert obj.spec.image_repository_ref.name == "podinfo"
        assert obj.status is None
        if self.fail:
            raise ReconcileError("DependencyNotReady", "repository not scanned")
        status.latest_image = "ghcr.io/podinfo:6.5.0"
        conditions.mark_ready(status, "Succeeded", "resolved to 6.5.0", obj.generation)
        self.event(obj, "Normal", "Succeeded", "resolved")
        return Result()


def _policy() -> JSON:
    return {
        "apiVersion": "image.toolkit.fluxcd.io/v1beta2",
        "kind": "ImagePolicy",
        "metadata": {
            "name": "podinfo",
            "namespace": "apps",
            "generation": 2,
            "resourceVersion": "1",
            "finalizers": [FINALIZER],
        },
        "spec": {
            "imageRepositoryRef": {"name": "podinfo"},
            "policy": {"semver": {"range": "6.x"}},
        },
        "status": {"unknownToKidp": {"a": 1}},
    }


async def test_a_typed_reconcile_writes_its_status_then_nothing_when_unchanged() -> None:
    client, events = FakeClient(_policy()), FakeEvents()
    reconciler = Policy(client, events)
    await reconciler.reconcile(Request("apps", "podinfo"))
    assert len(client.status_patches) == 1
    written = client.obj["status"]
    assert written["latestImage"] == "ghcr.io/podinfo:6.5.0"
    assert written["unknownToKidp"] == {"a": 1}
    assert written["observedGeneration"] == 2
    assert events.recorded == [("ImagePolicy", "Normal", "Succeeded")]
    await reconciler.reconcile(Request("apps", "podinfo"))
    assert len(client.status_patches) == 1, "an unchanged object writes no status"


async def test_a_typed_failure_is_classified_by_the_table() -> None:
    client, events = FakeClient(_policy()), FakeEvents()
    reconciler = Policy(client, events)
    reconciler.fail = True
    with pytest.raises(WaitingError) as raised:
        await reconciler.reconcile(Request("apps", "podinfo"))
    assert raised.value.retry_after == 7.0
    ready = conditions.get(client.obj["status"], "Ready")
    assert ready is not None
    assert ready["reason"] == "DependencyNotReady"
    assert client.obj["status"]["unknownToKidp"] == {"a": 1}


async def test_an_invalid_spec_stalls_before_the_steps() -> None:
    obj = _policy()
    obj["spec"]["policy"] = {"semver": {"range": 6}}
    client = FakeClient(obj)
    with pytest.raises(StalledError, match=r"invalid spec: spec\.policy\.semver\.range"):
        await Policy(client, FakeEvents()).reconcile(Request("apps", "podinfo"))
    stalled = conditions.get(client.obj["status"], "Stalled")
    assert stalled is not None
    assert stalled["reason"] == "InvalidSpec"


class Checkpointing(Policy):
    """A reconciler that writes what it is doing before a long step."""

    async def run(self, obj: image.ImagePolicy, status: image.ImagePolicyStatus) -> Result:
        conditions.mark_reconciling(status, "Progressing", "resolving", obj.generation)
        await self.checkpoint(status)
        assert self.client_seen() == "resolving", "the checkpoint reached the server"
        return await super().run(obj, status)

    def client_seen(self) -> str:
        ready = conditions.get(cast(FakeClient, self.client).obj["status"], "Ready")
        return ready["message"] if ready else ""


async def test_a_checkpoint_writes_at_once_and_the_final_patch_only_what_followed() -> None:
    client = FakeClient(_policy())
    await Checkpointing(client, FakeEvents()).reconcile(Request("apps", "podinfo"))
    first, final = client.status_patches
    assert first["status"]["conditions"][0]["message"] == "resolving"
    assert "unknownToKidp" not in first["status"], "a patch sends only what changed"
    assert final["status"]["latestImage"] == "ghcr.io/podinfo:6.5.0"
    assert "latestImage" not in first["status"]
    assert conditions.get(client.obj["status"], "Reconciling") is None
