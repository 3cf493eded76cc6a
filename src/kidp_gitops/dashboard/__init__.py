"""The dashboard: a web page and its JSON API over the engine's informer cache.

The engine serves it when its starter passes a `DashboardApp` (`kidp controller run
--dashboard-addr`); `kidp dashboard` prints or opens its address. `server` is the HTTP
face, `reader` finds objects in the cache, `view` shapes them (pure), `stream` pushes
changes to open pages; what they share with the CLI is in `views/`.
"""

from kidp_gitops.dashboard.server import Dashboard, DashboardApp

__all__ = ["Dashboard", "DashboardApp"]
