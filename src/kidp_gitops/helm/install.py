"""helm install: the first release of a chart."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from kidp_gitops.api import helm as api
from kidp_gitops.helm.invocation import Invocation, crd_flags, timeout_of, wait_flags


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
    opts = spec.install or api.Install()
    crds = opts.crds or ("Skip" if opts.skip_crds else "Create")
    args = [str(chart), "--values", str(values)]
    args += wait_flags(opts.disable_wait, not opts.disable_wait_for_jobs)
    if opts.create_namespace:
        args.append("--create-namespace")
    if opts.disable_hooks:
        args.append("--no-hooks")
    if opts.disable_open_api_validation:
        args.append("--disable-openapi-validation")
    if opts.replace:
        args.append("--replace")
    args += crd_flags(crds, inv)
    if opts.disable_schema_validation:
        args.append("--skip-schema-validation")
    if opts.server_side_apply is not None:
        args.append(f"--server-side={str(opts.server_side_apply).lower()}")
    args += post_render
    await inv.helm("install", args, timeout_of(opts.timeout, spec), chart_digest)
