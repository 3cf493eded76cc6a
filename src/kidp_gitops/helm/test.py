"""helm test: the chart's test hooks, after a successful install or upgrade, when
`spec.test.enable` is set."""

from __future__ import annotations

from kidp_gitops.api import helm as api
from kidp_gitops.helm.invocation import Invocation, timeout_of


async def run(inv: Invocation, spec: api.HelmReleaseSpec) -> None:
    opts = spec.test or api.Test()
    args: list[str] = []
    for f in opts.filters or []:
        args += ["--filter", f"{'!' if f.exclude else ''}name={f.name}"]
    await inv.helm("test", args, timeout_of(opts.timeout, spec))
