"""helm uninstall: when the HelmRelease goes, and to remediate a failed install (or an
upgrade with `strategy: uninstall`). A release already gone is not an error."""

from __future__ import annotations

from kidp_gitops.api import helm as api
from kidp_gitops.helm.invocation import Invocation, timeout_of, wait_flags


async def run(inv: Invocation, spec: api.HelmReleaseSpec) -> None:
    opts = spec.uninstall or api.Uninstall()
    args = ["--cascade", opts.deletion_propagation, "--ignore-not-found"]
    args += wait_flags(opts.disable_wait)
    if opts.disable_hooks:
        args.append("--no-hooks")
    if opts.keep_history:
        args.append("--keep-history")
    await inv.helm("uninstall", args, timeout_of(opts.timeout, spec))
