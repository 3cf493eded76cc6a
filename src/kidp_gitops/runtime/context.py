"""What every controller is built from: one typed value instead of a bag of arguments.

Where it fits: the engine (`engine/run.py`) makes one `Context` and hands it to each
controller's factory, which makes its informers from `cache`, builds its reconciler with
them (no informer is set on a reconciler after it is built) and returns its
`Controller`. What only some controllers need (the artifact store, the helm program)
stays an explicit argument of their factory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from kidp_gitops.kube.client import KubeClient
from kidp_gitops.kube.mapper import RestMapper
from kidp_gitops.runtime.cache import InformerCache
from kidp_gitops.runtime.events import EventRecorder
from kidp_gitops.runtime.remote import Remotes
from kidp_gitops.runtime.tenancy import Lockdown


@dataclass(frozen=True)
class Context:
    client: KubeClient
    mapper: RestMapper
    events: EventRecorder
    cache: InformerCache
    """The informers every controller shares."""
    data_dir: Path
    """Where controllers keep what they write to disk (artifacts, scanned tags, clones)."""
    namespace: str | None = None
    """Watch only this namespace; all namespaces when None."""
    concurrency: int = 4
    """Workers per controller."""
    lockdown: Lockdown = field(default_factory=Lockdown)
    """The multi-tenancy flags, the same for every controller."""
    own_namespace: str | None = None
    """The engine's own namespace (its lease's), where it keeps what must outlive its
    process and pass to the next leader; None: it keeps that in memory only."""
    own_name: str = "kidp"
    """What names this process's own objects there (its lease's name: each shard and
    each Deployment electing its own leader keeps its own)."""
    remotes: Remotes = field(kw_only=True)
    """The remote clusters objects act on (`spec.kubeConfig`): one cache per engine, so
    a Kustomization and a HelmRelease with the same kubeconfig share one client."""
