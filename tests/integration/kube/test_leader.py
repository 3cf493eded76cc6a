"""One leader per lease; when it dies, another candidate leads once the lease has expired,
never before; a leader that stops gracefully hands over at once."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import sys

from kidp_gitops.devcluster import DevCluster
from kidp_gitops.kube import KubeClient
from kidp_gitops.kube.leader import LeaderElector, LeaseTiming
from tests.integration.conftest import repo_root
from tests.integration.wait import until


def micro_time(text: str) -> datetime.datetime:
    """A Lease's MicroTime (`2026-12-06T20:01:02.123456Z`)."""
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


# Short leases (the engine's defaults are 12 s / 8 s / 2 s): the rule is the same.
TIMING = LeaseTiming(lease_duration=3.0, renew_deadline=2.0, retry_period=0.5)


def elector(kube: KubeClient, namespace: str, lease: str, identity: str) -> LeaderElector:
    t = TIMING
    return LeaderElector(
        kube,
        namespace,
        lease,
        identity,
        lease_duration=t.lease_duration,
        renew_deadline=t.renew_deadline,
        retry_period=t.retry_period,
        release_on_cancel=t.release_on_cancel,
    )


async def test_a_killed_leader_is_replaced_once_its_lease_expires(
    cluster: DevCluster, kube: KubeClient, namespace: str
) -> None:
    first = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.integration.kube.lease_holder",
        str(cluster.kubeconfig),
        namespace,
        "engine",
        "first",
        *(str(v) for v in (TIMING.lease_duration, TIMING.renew_deadline, TIMING.retry_period)),
        cwd=repo_root(),
        stdout=asyncio.subprocess.PIPE,
    )
    second = elector(kube, namespace, "engine", "second")
    led = asyncio.Event()

    async def lead() -> None:
        led.set()
        await asyncio.Event().wait()

    task: asyncio.Task[None] | None = None
    try:
        assert first.stdout is not None
        line = await asyncio.wait_for(first.stdout.readline(), 30)
        assert line.strip() == b"leading"
        task = asyncio.create_task(second.run(lead))
        # While the first renews (seen twice on the Lease), the second never leads.
        path = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/engine"
        renewals: set[str] = set()

        async def renewed_twice() -> bool:
            spec = (await kube.get(path))["spec"]
            assert spec["holderIdentity"] == "first"
            renewals.add(spec["renewTime"])
            return len(renewals) >= 3

        await until(renewed_twice, 30, "the first leader to renew twice")
        assert not led.is_set()

        first.kill()  # no release: the lease must expire
        await first.wait()
        last_renewal = micro_time((await kube.get(path))["spec"]["renewTime"])
        await asyncio.wait_for(led.wait(), 30)  # a hang, not a speed
        lease = await kube.get(path)
        assert lease["spec"]["holderIdentity"] == "second"
        assert lease["spec"]["leaseTransitions"] == 1
        # Never two leaders: the second took the lease only after it had gone a whole
        # leaseDuration without a renewal by the dead first.
        taken = micro_time(lease["spec"]["acquireTime"])
        assert taken - last_renewal >= datetime.timedelta(seconds=TIMING.lease_duration)
    finally:
        if first.returncode is None:
            first.kill()
        await first.wait()
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_a_graceful_stop_hands_over_at_once(kube: KubeClient, namespace: str) -> None:
    a = LeaderElector(
        kube, namespace, "engine", "a", retry_period=0.5, renew_deadline=4, lease_duration=10
    )
    b = LeaderElector(
        kube, namespace, "engine", "b", retry_period=0.5, renew_deadline=4, lease_duration=10
    )
    leaders: list[str] = []

    def work(name: str):  # type: ignore[no-untyped-def]
        async def lead() -> None:
            leaders.append(name)
            await asyncio.Event().wait()

        return lead

    # b's tries at the lease, and what each got: the proof that b has looked.
    tries: list[bool] = []
    try_once = b._try_acquire_or_renew

    async def counted() -> bool:
        got = await try_once()
        tries.append(got)
        return got

    b._try_acquire_or_renew = counted  # type: ignore[method-assign]

    async def tried_twice() -> bool:
        return len(tries) >= 2

    task_a = asyncio.create_task(a.run(work("a")))
    await asyncio.wait_for(a.leading.wait(), 10)
    task_b = asyncio.create_task(b.run(work("b")))
    await until(tried_twice, 10, "b to try the lease twice")
    assert tries[:2] == [False, False]
    assert leaders == ["a"]
    path = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/engine"
    renewed = micro_time((await kube.get(path))["spec"]["renewTime"])  # a's, or earlier
    task_a.cancel()  # graceful: run() releases the lease on its way out
    with contextlib.suppress(asyncio.CancelledError):
        await task_a
    await asyncio.wait_for(b.leading.wait(), 30)  # a hang, not a speed
    assert leaders == ["a", "b"]
    # b did not wait out a's 10 s lease: it took the lease a gave up.
    taken = micro_time((await kube.get(path))["spec"]["acquireTime"])
    assert taken - renewed < datetime.timedelta(seconds=10)
    task_b.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task_b


async def test_without_release_on_cancel_the_lease_stays_until_it_expires(
    kube: KubeClient, namespace: str
) -> None:
    # --leader-election-release-on-cancel=false: a stopped leader keeps its record, so a
    # standby waits out the lease (for processes that may not end at once).
    a = elector(kube, namespace, "kept", "a")
    a.release_on_cancel = False

    async def lead() -> None:
        await asyncio.Event().wait()

    task = asyncio.create_task(a.run(lead))
    await asyncio.wait_for(a.leading.wait(), 30)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    lease = await kube.get(f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/kept")
    assert lease["spec"]["holderIdentity"] == "a"
