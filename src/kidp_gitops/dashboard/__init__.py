"""The dashboard: a web page and its JSON API over the engine's informer cache.

The engine serves it (`engine/run.py`, `--dashboard-addr`); `kidp dashboard` prints or
opens its address. `server` is the HTTP face, `reader` finds objects in the cache, `view`
shapes them (pure), `stream` pushes changes to open pages.
"""

from kidp_gitops.dashboard.server import Dashboard

__all__ = ["Dashboard"]
