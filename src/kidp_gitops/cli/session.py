"""How a `kidp` command reaches the cluster: the kubectl-style flags, one client per
command, and the translation of every failure into one line a person can act on.

Commands that talk to a cluster take the same flags (`--kubeconfig`, `--context`, `-n`,
`-A`), gather them into a `Target`, and run one coroutine with `session.run(...)`, which
opens the client, runs it, and closes the client. Reads of our objects go through
`get_object` and `list_objects`, which know the difference between a missing object
("Kustomization 'flux-system/apps' not found") and a missing API ("is kidp installed?").

Where it fits: below the command modules (`get`, `reconcile`, `diff`, …), above `kube/`,
which it loads only when a command talks to the cluster (see `cli/__init__.py`).
Errors leave here as `CliError`; only `cli/group.py` prints them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from kidp_gitops.cli import options
from kidp_gitops.cli.errors import CliError
from kidp_gitops.views import kinds

if TYPE_CHECKING:
    from kidp_gitops.kube import ApiError, KubeClient, KubeError

JSON = dict[str, Any]
T = TypeVar("T")

DEFAULT_NAMESPACE = "flux-system"

Kubeconfig = options.Kubeconfig
Context = options.Context
Namespace = Annotated[
    str,
    typer.Option(
        "--namespace", "-n", envvar="KIDP_NAMESPACE", help="The namespace of the GitOps objects."
    ),
]
AllNamespaces = Annotated[
    bool,
    typer.Option("--all-namespaces", "-A", help="Across all namespaces."),
]


@dataclass(frozen=True)
class Target:
    """Where a command acts: the kubeconfig and context, and the namespace (or all)."""

    kubeconfig: str | None = None
    context: str | None = None
    namespace: str = DEFAULT_NAMESPACE
    all_namespaces: bool = False

    @property
    def scope(self) -> str | None:
        """The namespace to list in, or None for every namespace."""
        return None if self.all_namespaces else self.namespace


def run(target: Target, work: Callable[[KubeClient], Awaitable[T]]) -> T:
    """Connect to the target's cluster, run `work` with the client, close the client.
    Every Kubernetes failure becomes a one-line CliError."""
    # Here, not at the top: TAB completion imports this module and never runs a loop.
    import asyncio

    from kidp_gitops.kube import KubeError

    async def go() -> T:
        async with connect(target) as client:
            return await work(client)

    try:
        return asyncio.run(go())
    except KubeError as err:
        raise CliError(describe(err)) from err


@asynccontextmanager
async def connect(target: Target) -> AsyncIterator[KubeClient]:
    from kidp_gitops.kube import KubeClient, load_config

    config = await load_config(target.kubeconfig, target.context)
    async with KubeClient(config) as client:
        yield client


def describe(err: KubeError) -> str:
    """One line for a Kubernetes failure."""
    # kube.errors, not kube: a failed TAB completion reports without loading the client.
    from kidp_gitops.kube.errors import ApiError, ConfigError, ConnectionFailed

    if isinstance(err, ConfigError):
        return str(err)
    if isinstance(err, ConnectionFailed):
        cause = str(err).split(": ", 1)[-1]
        return f"cannot reach the Kubernetes API server: {cause}"
    if isinstance(err, ApiError):
        if err.forbidden:
            return f"forbidden: {err.message}"
        if err.status == 401:
            return "the API server did not accept the credentials of the kubeconfig (401)"
        return f"the API server answered {err.status} {err.reason}: {err.message}".rstrip(": ")
    return str(err) or type(err).__name__  # UnknownKind too: its message names the kind


def _missing_api(err: ApiError) -> bool:
    """A 404 for the resource type itself (no CRD), not for one object."""
    details = err.body.get("details") or {}
    return err.not_found and not details.get("name")


def not_installed(kind: kinds.Kind) -> CliError:
    return CliError(
        f"the cluster does not serve {kind.kind} ({kind.api_version}): "
        "are kidp's CRDs installed? (kidp install)"
    )


async def get_object(client: KubeClient, kind: kinds.Kind, namespace: str, name: str) -> JSON:
    """The object, or a CliError that names what is missing."""
    from kidp_gitops.kube import ApiError

    try:
        obj = await client.get(kind.path(namespace, name))
    except ApiError as err:
        if _missing_api(err):
            raise not_installed(kind) from err
        if err.not_found:
            raise CliError(f"{kind.kind} '{namespace}/{name}' not found") from err
        raise
    obj.setdefault("apiVersion", kind.api_version)
    obj.setdefault("kind", kind.kind)
    return obj


async def list_objects(
    client: KubeClient,
    kind: kinds.Kind,
    namespace: str | None,
    label_selector: str | None = None,
) -> tuple[list[JSON], str]:
    """Every object of a kind in a namespace (or all), sorted by namespace and name;
    and the list's resourceVersion (to watch from)."""
    from kidp_gitops.kube import ApiError

    params = {"labelSelector": label_selector} if label_selector else None
    try:
        listed = await client.list(kind.path(namespace), params)
    except ApiError as err:
        if err.not_found:
            raise not_installed(kind) from err
        raise
    items = list(listed.get("items") or [])
    for item in items:
        item.setdefault("apiVersion", kind.api_version)
        item.setdefault("kind", kind.kind)
    items.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
    return items, str((listed.get("metadata") or {}).get("resourceVersion", ""))


def list_names(target: Target, kind: kinds.Kind) -> list[str]:
    """The names of a kind's objects in the target's namespace, sorted, from one LIST
    sent with the standard library when the kubeconfig allows it (`kube/quickget.py`:
    TAB completion answers without loading the client), else through the client."""
    from kidp_gitops.kube import quickget
    from kidp_gitops.kube.errors import ApiError, KubeError

    try:
        listed = quickget.get(
            kind.path(target.scope), kubeconfig=target.kubeconfig, context=target.context
        )
    except ApiError as err:
        if err.not_found:
            raise not_installed(kind) from err
        raise CliError(describe(err)) from err
    except KubeError as err:
        raise CliError(describe(err)) from err
    if listed is None:

        async def work(client: KubeClient) -> list[dict[str, Any]]:
            return (await list_objects(client, kind, target.scope))[0]

        return sorted(str(o["metadata"]["name"]) for o in run(target, work))
    return sorted(str(o["metadata"]["name"]) for o in listed.get("items") or [])


async def served(client: KubeClient, kind: kinds.Kind) -> bool:
    """Whether the cluster serves the kind (its CRD is installed)."""
    from kidp_gitops.kube import ApiError

    try:
        await client.get(kind.path(None), {"limit": "1"})
    except ApiError as err:
        if err.not_found:
            return False
        raise
    return True
