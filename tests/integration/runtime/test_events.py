"""Events as `kubectl describe` shows them: repeats aggregated into one Event with a
count, a flapping object held back by the spam filter."""

from __future__ import annotations

from kidp_gitops.kube import KubeClient
from kidp_gitops.runtime.events import EventRecorder


async def about(kube: KubeClient, namespace: str) -> dict[str, object]:
    return await kube.create(
        f"/api/v1/namespaces/{namespace}/configmaps", {"metadata": {"name": "subject"}}
    )


async def events_of(kube: KubeClient, namespace: str) -> list[dict[str, object]]:
    listed = await kube.get(f"/api/v1/namespaces/{namespace}/events")
    return [e for e in listed["items"] if e["involvedObject"]["name"] == "subject"]


async def test_repeated_events_are_aggregated(kube: KubeClient, namespace: str) -> None:
    obj = await about(kube, namespace)
    recorder = EventRecorder(kube, "kidp-tests")
    for _ in range(5):
        recorder.record(obj, "Warning", "BuildFailed", "kustomization.yaml: bad indent")
        await recorder.flush()
    recorder.record(obj, "Normal", "Progressing", "Deployment/x configured")
    await recorder.flush()
    events = await events_of(kube, namespace)
    by_reason = {e["reason"]: e for e in events}
    assert len(events) == 2
    assert by_reason["BuildFailed"]["count"] == 5
    assert by_reason["BuildFailed"]["type"] == "Warning"
    assert by_reason["BuildFailed"]["source"] == {"component": "kidp-tests"}
    assert by_reason["Progressing"]["count"] == 1


async def test_a_flapping_object_does_not_flood(kube: KubeClient, namespace: str) -> None:
    obj = await about(kube, namespace)
    recorder = EventRecorder(kube, "kidp-tests", burst=3)
    for i in range(20):
        recorder.record(obj, "Warning", "HealthCheckFailed", f"attempt {i}")
    await recorder.flush()
    events = await events_of(kube, namespace)
    assert len(events) == 3
