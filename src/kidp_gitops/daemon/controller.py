"""`build`: the engine of one controller process, with the dashboard it serves."""

from __future__ import annotations

from kidp_gitops.api import components
from kidp_gitops.engine import run


def build(
    options: run.EngineOptions, *, dashboard_host: str, dashboard_port: int, dashboard_actions: bool
) -> run.Engine:
    """The engine for `options`, serving the dashboard on `dashboard_host:dashboard_port`
    (with its actions when `dashboard_actions`) once the engine's cache and client exist.

    Of a split install, the kustomize-controller process serves it: it shows every kind
    and acts on them, which only an applier's (cluster-wide) ServiceAccount may do, and
    one process per install keeps one address."""
    if not options.hosts(components.KUSTOMIZE):
        return run.Engine(options)
    # Imported only by the process that serves it (its pages, views and their kinds).
    from kidp_gitops.dashboard import DashboardApp

    dashboard = DashboardApp(dashboard_host, dashboard_port, actions=dashboard_actions)
    return run.Engine(options, apps=[dashboard])
