"""`build`: the engine of one controller process, with the dashboard it serves."""

from __future__ import annotations

from kidp_gitops.dashboard import DashboardApp
from kidp_gitops.engine import run


def build(
    options: run.EngineOptions, *, dashboard_host: str, dashboard_port: int, dashboard_actions: bool
) -> run.Engine:
    """The engine for `options`, serving the dashboard on `dashboard_host:dashboard_port`
    (with its actions when `dashboard_actions`) once the engine's cache and client exist."""
    dashboard = DashboardApp(dashboard_host, dashboard_port, actions=dashboard_actions)
    return run.Engine(options, apps=[dashboard])
