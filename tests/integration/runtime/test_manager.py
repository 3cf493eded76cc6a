"""A manager with one controller over a real custom resource: reconciles on spec and
annotation changes but not on its own status writes, serves metrics and probes, and
stops gracefully with a reconcile in flight."""

from __future__ import annotations

import asyncio
import contextlib

import aiohttp
import pytest

from kidp_gitops.kube import ApiError, KubeClient, RestMapper
from kidp_gitops.kube.informer import Informer
from kidp_gitops.kube.leader import LeaseTiming
from kidp_gitops.runtime import reconcile
from kidp_gitops.runtime.controller import Controller
from kidp_gitops.runtime.manager import LeaderElection, Manager
from tests.integration.wait import until

GROUP = "test.kidp.dev"


@pytest.fixture(scope="session")
async def gadget_crd(kube: KubeClient) -> None:
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"gadgets.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "x-kubernetes-preserve-unknown-fields": True,
                                },
                                "status": {
                                    "type": "object",
                                    "x-kubernetes-preserve-unknown-fields": True,
                                },
                            },
                        }
                    },
                }
            ],
        },
    }
    await kube.apply(
        f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gadgets.{GROUP}",
        crd,
        field_manager="kidp-tests",
    )
    mapper = RestMapper(kube, min_refresh=0)

    async def served() -> bool:
        try:
            await mapper.resource(f"{GROUP}/v1", "Gadget")
        except ApiError:
            return False
        except Exception:
            return False
        return True

    await until(served, 30, "the Gadget CRD to be served")


class Recorder:
    """Counts reconciles and writes status.observedGeneration, as a controller would."""

    def __init__(self, kube: KubeClient, path: str, delay: float = 0.0):
        self.kube = kube
        self.path = path
        self.delay = delay
        self.calls: list[str] = []
        self.finished = 0
        self.wrote = ""  # resourceVersion of the last status write

    async def reconcile(self, request: reconcile.Request) -> reconcile.Result:
        self.calls.append(request.name)
        await asyncio.sleep(self.delay)
        try:
            obj = await self.kube.get(f"{self.path}/{request.name}")
        except ApiError as err:
            if err.not_found:
                return reconcile.Result()
            raise
        written = await self.kube.patch(
            f"{self.path}/{request.name}/status",
            {"status": {"observedGeneration": obj["metadata"]["generation"]}},
        )
        self.wrote = written["metadata"]["resourceVersion"]
        self.finished += 1
        return reconcile.Result()


async def start(
    kube: KubeClient, namespace: str, recorder: Recorder
) -> tuple[Manager, asyncio.Task[None]]:
    res = await RestMapper(kube).resource(f"{GROUP}/v1", "Gadget")
    manager = Manager(kube, port=0)
    manager.add(Controller("gadgets", Informer(kube, res, namespace=namespace), recorder))
    task = asyncio.create_task(manager.run())
    await until(lambda: _true(manager.ready), 10, "the manager's informers to sync")
    return manager, task


async def _true(v: bool) -> bool:
    return v


async def seen_without_a_reconcile(manager: Manager, recorder: Recorder, namespace: str) -> None:
    """Wait until the controller's informer has handled the event of the recorder's last
    status write (its handlers run as the event lands in the cache), then check that it
    queued nothing: a negative proof without a fixed wait."""
    controller = manager.controllers[0]

    async def handled() -> bool:
        found = controller.informer.get(namespace, "g")
        return found is not None and found["metadata"]["resourceVersion"] == recorder.wrote

    await until(handled, 10, "the status write's event")
    assert len(controller.queue) == 0, "a status write must not queue a reconcile"


async def test_reconciles_on_spec_and_annotations_not_on_status(
    kube: KubeClient, namespace: str, gadget_crd: None
) -> None:
    path = f"/apis/{GROUP}/v1/namespaces/{namespace}/gadgets"
    recorder = Recorder(kube, path)
    manager, task = await start(kube, namespace, recorder)
    try:
        await kube.create(
            path,
            {
                "apiVersion": f"{GROUP}/v1",
                "kind": "Gadget",
                "metadata": {"name": "g"},
                "spec": {"size": 1},
            },
        )
        await until(lambda: _true(recorder.finished == 1), 10, "the first reconcile")
        await seen_without_a_reconcile(manager, recorder, namespace)
        assert recorder.calls == ["g"], "a status write must not trigger a reconcile"

        await kube.patch(f"{path}/g", {"spec": {"size": 2}})
        await until(lambda: _true(recorder.finished == 2), 10, "a reconcile after a spec change")
        await kube.patch(
            f"{path}/g",
            {
                "metadata": {
                    "annotations": {"reconcile.fluxcd.io/requestedAt": "2026-11-26T07:00:00Z"}
                }
            },
        )
        await until(lambda: _true(recorder.finished == 3), 10, "a reconcile when requested")
        await seen_without_a_reconcile(manager, recorder, namespace)
        assert recorder.calls == ["g", "g", "g"]

        base = f"http://127.0.0.1:{manager.bound_port}"
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/readyz") as r:
                assert r.status == 200
            async with http.get(f"{base}/healthz") as r:
                assert r.status == 200
            async with http.get(f"{base}/metrics") as r:
                text = await r.text()
        for name in (
            "gotk_reconcile_duration_seconds",
            "gotk_reconcile_condition",
            "gotk_suspend_status",
            "controller_runtime_reconcile_total",
            "controller_runtime_reconcile_errors_total",
            "workqueue_depth",
            "workqueue_queue_duration_seconds",
            "rest_client_requests_total",
        ):
            assert f"# TYPE {name} " in text, name
        assert 'controller_runtime_reconcile_total{controller="gadgets",result="success"}' in text
        assert 'rest_client_requests_total{code="200",dry_run="false",method="GET"}' in text
    finally:
        manager.stop()
        await asyncio.wait_for(task, 40)


async def test_stop_lets_an_inflight_reconcile_finish(
    kube: KubeClient, namespace: str, gadget_crd: None
) -> None:
    path = f"/apis/{GROUP}/v1/namespaces/{namespace}/gadgets"
    recorder = Recorder(kube, path, delay=1.5)
    manager, task = await start(kube, namespace, recorder)
    try:
        await kube.create(
            path,
            {
                "apiVersion": f"{GROUP}/v1",
                "kind": "Gadget",
                "metadata": {"name": "slow"},
                "spec": {},
            },
        )
        await until(lambda: _true(recorder.calls == ["slow"]), 10, "the reconcile to start")
        manager.stop()
        await asyncio.wait_for(task, 40)
        assert recorder.finished == 1, "the in-flight reconcile completed before exit"
        obj = await kube.get(f"{path}/slow")
        assert obj["status"]["observedGeneration"] == 1
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def readyz(manager: Manager) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{manager.bound_port}/readyz") as r,
    ):
        return r.status, await r.text()


async def test_a_replica_serving_what_only_the_leader_has_is_ready_only_while_leading(
    kube: KubeClient, namespace: str, gadget_crd: None
) -> None:
    """Two replicas of a process like source-controller (its artifacts are in the
    leader's store only): the standby is synced but not ready, so its Service does not
    lead to it; when the leader stops (the lease released), the standby leads and is
    ready."""
    path = f"/apis/{GROUP}/v1/namespaces/{namespace}/gadgets"
    res = await RestMapper(kube).resource(f"{GROUP}/v1", "Gadget")

    def replica(identity: str) -> Manager:
        manager = Manager(
            kube,
            port=0,
            leader_election=LeaderElection(
                namespace, "gadgets", identity, LeaseTiming(4.0, 3.0, 1.0)
            ),
            ready_only_leading=True,
        )
        informer = Informer(kube, res, namespace=namespace)
        manager.add(Controller("gadgets", informer, Recorder(kube, path)))
        return manager

    first, second = replica("first"), replica("second")
    tasks = [asyncio.create_task(first.run())]
    try:
        await until(lambda: _true(first.ready), 20, "the first replica to lead")
        tasks.append(asyncio.create_task(second.run()))
        await until(lambda: _true(second.synced_all), 20, "the second replica's informers")
        assert await readyz(second) == (503, "standing by: another replica leads")
        assert await readyz(first) == (200, "ok")

        first.stop()
        await asyncio.wait_for(tasks[0], 40)
        await until(lambda: _true(second.ready), 20, "the standby to lead")
        assert await readyz(second) == (200, "ok")
    finally:
        for manager in (first, second):
            manager.stop()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 40)
