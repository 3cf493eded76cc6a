"""helm upgrade: a new revision from the chart and values of this reconcile. The values
are the composed ones in full (`--reset-values`), unless `upgrade.preserveValues` asks
for the last release's values with the composed ones merged over them (`--reuse-values`,
as helm-controller sets helm's ReuseValues)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from kidp_gitops.api import helm as api
from kidp_gitops.helm.invocation import (
    Invocation,
    crd_flags,
    server_side_flag,
    timeout_of,
    wait_flags,
)


async def run(
    inv: Invocation,
    spec: api.HelmReleaseSpec,
    chart: Path,
    values: Path,
    post_render: Sequence[str] = (),
    chart_digest: str | None = None,
) -> None:
    """`post_render`: helm's post-renderer flags (see `postrender.prepare`);
    `chart_digest`: the chart's artifact digest."""
    opts = spec.upgrade or api.Upgrade()
    reuse = "--reuse-values" if opts.preserve_values else "--reset-values"
    args = [str(chart), "--values", str(values), reuse]
    args += wait_flags(opts.disable_wait, not opts.disable_wait_for_jobs)
    args += ["--history-max", str(spec.effective_max_history())]
    if opts.disable_hooks:
        args.append("--no-hooks")
    if opts.disable_open_api_validation:
        args.append("--disable-openapi-validation")
    if opts.force:
        args.append("--force-replace")
    if opts.cleanup_on_fail:
        args.append("--cleanup-on-fail")
    # Omitted: Create, as helm-controller 1.6's code applies it (its API docs say Skip):
    # server-side it applies every CRD of the chart, client-side it creates the missing.
    args += crd_flags(opts.crds or "Create", inv)
    if opts.disable_schema_validation:
        args.append("--skip-schema-validation")
    args += server_side_flag(opts.server_side_apply)
    args += post_render
    await inv.helm("upgrade", args, timeout_of(opts.timeout, spec), chart_digest)
