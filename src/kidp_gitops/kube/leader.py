"""Leader election on a coordination.k8s.io/v1 Lease, as client-go does it.

Candidates poll the Lease every `retry_period`. A lease is free when it has no holder or
when its record has not changed for `lease_duration` seconds *as observed locally* — time
is measured on our own monotonic clock from when we last saw the record change, so clock
skew between machines cannot make two leaders. The leader renews every `retry_period`;
if it cannot renew within `renew_deadline` it stops leading (its work is cancelled)
before another candidate may take over. A graceful stop releases the lease so the next
leader starts at once instead of after `lease_duration`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from kidp_gitops.kube.client import JSON, KubeClient
from kidp_gitops.kube.errors import ApiError, KubeError

log = logging.getLogger(__name__)


def _now_micro() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class LeaseTiming:
    """The lease's periods in seconds, with Flux's defaults (its controllers'
    `--leader-election-*` flags): a standby leads at most about `lease_duration` after
    the leader died, and at once after it stopped gracefully when `release_on_cancel`."""

    lease_duration: float = 35.0
    renew_deadline: float = 30.0
    retry_period: float = 5.0
    release_on_cancel: bool = True

    def __post_init__(self) -> None:
        if not self.lease_duration > self.renew_deadline > self.retry_period > 0:
            raise ValueError("need lease duration > renew deadline > retry period > 0")


class LeaderElector:
    def __init__(
        self,
        client: KubeClient,
        namespace: str,
        name: str,
        identity: str,
        *,
        lease_duration: float = 12.0,
        renew_deadline: float = 8.0,
        retry_period: float = 2.0,
        release_on_cancel: bool = True,
    ):
        if not lease_duration > renew_deadline > retry_period:
            raise ValueError("need lease_duration > renew_deadline > retry_period")
        self.release_on_cancel = release_on_cancel
        self._client = client
        self._path = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{name}"
        self._collection = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
        self._name = name
        self.identity = identity
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self._observed: tuple[str, str] | None = None  # (holder, renewTime) last seen
        self._observed_at = 0.0
        self.leading = asyncio.Event()

    async def run(self, lead: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Wait to become leader, run `lead()` while leading; return when leadership is
        lost (lead is cancelled) or `lead` returns. Cancelling `run` releases the lease."""
        while True:  # polling a remote record: no local event can replace it
            if await self._try_acquire_or_renew():
                break
            await asyncio.sleep(self.retry_period)
        log.info("%s became leader of %s", self.identity, self._name)
        self.leading.set()
        work = asyncio.create_task(lead(), name=f"leading {self._name}")
        renew = asyncio.create_task(self._keep_renewing(), name=f"renew {self._name}")
        try:
            await asyncio.wait({work, renew}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.leading.clear()
            for task in (work, renew):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if self.release_on_cancel:
                await asyncio.shield(self._release())
        if renew.done() and not renew.cancelled():
            log.warning("%s lost the lease %s", self.identity, self._name)

    async def _keep_renewing(self) -> None:
        last_renew = time.monotonic()
        while True:
            await asyncio.sleep(self.retry_period)
            if await self._try_acquire_or_renew():
                last_renew = time.monotonic()
            elif time.monotonic() - last_renew > self.renew_deadline:
                return  # stop leading before anyone else may start

    async def _try_acquire_or_renew(self) -> bool:
        now = _now_micro()
        try:
            lease = await self._client.get(self._path)
        except ApiError as err:
            if not err.not_found:
                return False
            return await self._create(now)
        except KubeError:
            return False
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity") or ""
        record = (holder, str(spec.get("renewTime")))
        if record != self._observed:
            self._observed = record
            self._observed_at = time.monotonic()
        duration = float(spec.get("leaseDurationSeconds") or self.lease_duration)
        expired = time.monotonic() - self._observed_at > duration
        if holder and holder != self.identity and not expired:
            return False
        transitions = int(spec.get("leaseTransitions") or 0)
        if holder != self.identity:
            transitions += 1
            spec["acquireTime"] = now
        spec.update(
            holderIdentity=self.identity,
            leaseDurationSeconds=int(self.lease_duration),
            renewTime=now,
            leaseTransitions=transitions,
        )
        lease["spec"] = spec
        try:
            updated = await self._client.replace(self._path, lease)  # resourceVersion guards
        except KubeError:
            return False
        self._observe(updated)
        return True

    async def _create(self, now: str) -> bool:
        lease: JSON = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self._name},
            "spec": {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": int(self.lease_duration),
                "acquireTime": now,
                "renewTime": now,
                "leaseTransitions": 0,
            },
        }
        try:
            created = await self._client.create(self._collection, lease)
        except KubeError:
            return False
        self._observe(created)
        return True

    def _observe(self, lease: JSON) -> None:
        spec = lease.get("spec") or {}
        self._observed = (spec.get("holderIdentity") or "", str(spec.get("renewTime")))
        self._observed_at = time.monotonic()

    async def _release(self) -> None:
        """Give the lease up (only if still ours) so a successor need not wait."""
        try:
            lease = await self._client.get(self._path)
            spec = lease.get("spec") or {}
            if spec.get("holderIdentity") != self.identity:
                return
            spec.update(holderIdentity="", leaseDurationSeconds=1, renewTime=_now_micro())
            await self._client.replace(self._path, lease)
        except KubeError as err:
            log.info("could not release lease %s: %s", self._name, err)
