"""A leader-election candidate in a process of its own, so a test can kill it hard.

    python -m tests.integration.kube.lease_holder KUBECONFIG NAMESPACE LEASE IDENTITY \
        [LEASE_DURATION RENEW_DEADLINE RETRY_PERIOD]

Prints "leading" once it leads, then holds the lease until killed.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from kidp_gitops.kube import KubeClient, load_config
from kidp_gitops.kube.leader import LeaderElector


async def main(kubeconfig: str, namespace: str, lease: str, identity: str, *periods: str) -> None:
    timing: dict[str, Any] = dict(
        zip(("lease_duration", "renew_deadline", "retry_period"), map(float, periods), strict=False)
    )
    async with KubeClient(await load_config(kubeconfig)) as kube:

        async def lead() -> None:
            print("leading", flush=True)
            await asyncio.Event().wait()

        await LeaderElector(kube, namespace, lease, identity, **timing).run(lead)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
