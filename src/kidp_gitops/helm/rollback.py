"""helm rollback: back to the last successful revision, to remediate a failed upgrade."""

from __future__ import annotations

from kidp_gitops.api import helm as api
from kidp_gitops.helm import release
from kidp_gitops.helm.invocation import Invocation, server_side_flag, timeout_of, wait_flags

GOOD = (release.DEPLOYED, "superseded")
RECREATE_IGNORED = (
    "spec.rollback.recreate is deprecated and has no effect: helm v4 no longer restarts "
    "pods on rollback (as in helm-controller since Flux 2.8)"
)


def target(stored: list[release.Revision]) -> int | None:
    """The newest revision that was deployed successfully, if any (newest first input)."""
    return next((r.version for r in stored if r.status in GOOD), None)


async def run(inv: Invocation, spec: api.HelmReleaseSpec, revision: int) -> None:
    opts = spec.rollback or api.Rollback()
    args = [str(revision), *wait_flags(opts.disable_wait, not opts.disable_wait_for_jobs)]
    args += ["--history-max", str(spec.effective_max_history())]
    if opts.disable_hooks:
        args.append("--no-hooks")
    if opts.force:
        args.append("--force-replace")
    if opts.cleanup_on_fail:
        args.append("--cleanup-on-fail")
    args += server_side_flag(opts.server_side_apply)
    await inv.helm("rollback", args, timeout_of(opts.timeout, spec))
