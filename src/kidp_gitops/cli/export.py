"""`kidp export`: GitOps objects as a YAML stream that `kubectl apply -f` recreates, for
disaster recovery and for moving objects between clusters.

    kidp export -A > gitops-backup.yaml           every kind kidp serves, everywhere
    kidp export source git --all --with-credentials
    kidp export kustomization apps -n team-a

Each object keeps what a person wrote — apiVersion, kind, name, namespace, labels,
annotations, spec — and drops what the cluster added (status, uid, resourceVersion,
managedFields, finalizers, the reconcile request annotation). `--with-credentials` puts
the Secrets that sources reference before the sources.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from kidp_gitops.api import wellknown
from kidp_gitops.cli import output, perkind, session
from kidp_gitops.cli.errors import CliError
from kidp_gitops.views import kinds

if TYPE_CHECKING:
    from kidp_gitops.kube import KubeClient

JSON = dict[str, Any]

_DROPPED_ANNOTATIONS = (
    "kubectl.kubernetes.io/last-applied-configuration",
    wellknown.REQUESTED_AT,
)

app = typer.Typer(
    help="Export GitOps objects as YAML (all of them when no kind is named).",
    invoke_without_command=True,
)
source_app = typer.Typer(help="Export sources as YAML.", no_args_is_help=True)
app.add_typer(source_app, name="source")

WithCredentials = Annotated[
    bool,
    typer.Option("--with-credentials", help="Also export the Secrets that sources reference."),
]


def clean(obj: JSON) -> JSON:
    """The object as a person would write it."""
    meta = obj.get("metadata") or {}
    out_meta: JSON = {"name": meta["name"]}
    if meta.get("namespace"):
        out_meta["namespace"] = meta["namespace"]
    if meta.get("labels"):
        out_meta["labels"] = dict(meta["labels"])
    annotations = {
        k: v for k, v in (meta.get("annotations") or {}).items() if k not in _DROPPED_ANNOTATIONS
    }
    if annotations:
        out_meta["annotations"] = annotations
    out: JSON = {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "metadata": out_meta}
    for key, value in obj.items():
        if key not in ("apiVersion", "kind", "metadata", "status"):
            out[key] = value
    return out


async def _secret(client: KubeClient, namespace: str, name: str) -> JSON | None:
    from kidp_gitops.kube import ApiError

    try:
        secret = await client.get(f"/api/v1/namespaces/{namespace}/secrets/{name}")
    except ApiError as err:
        if err.not_found:
            output.warning(f"Secret '{namespace}/{name}' not found: not exported")
            return None
        raise
    secret.update(apiVersion="v1", kind="Secret")
    return clean(secret)


async def collect(
    client: KubeClient,
    wanted: list[kinds.Kind],
    target: session.Target,
    name: str | None,
    with_credentials: bool,
    skip_unserved: bool = False,
) -> list[JSON]:
    """The cleaned objects (and, if asked, their credentials) in apply order: the named
    one, or every object of the wanted kinds."""
    exported: list[JSON] = []
    for kind in wanted:
        try:
            objs = await perkind.objects(client, kind, target, name, every=not name)
        except CliError:
            if skip_unserved:
                continue
            raise
        for obj in objs:
            secret_ref = ((obj.get("spec") or {}).get("secretRef") or {}).get("name")
            if with_credentials and kind in kinds.SOURCES and secret_ref:
                secret = await _secret(client, obj["metadata"]["namespace"], secret_ref)
                if secret is not None and secret not in exported:
                    exported.append(secret)
            exported.append(clean(obj))
    return exported


def export(
    wanted: list[kinds.Kind],
    target: session.Target,
    name: str | None,
    every: bool,
    with_credentials: bool,
    skip_unserved: bool = False,
) -> None:
    if every == bool(name):
        raise CliError("name one object, or pass --all (not both)")

    async def work(client: KubeClient) -> list[JSON]:
        return await collect(client, wanted, target, name, with_credentials, skip_unserved)

    objects = session.run(target, work)
    if not objects:
        where = "any namespace" if target.all_namespaces else f"{target.namespace} namespace"
        output.warning(f"no objects found in {where}")
        return
    output.echo(output.dump_documents(objects))


@app.callback()
def everything(
    ctx: typer.Context,
    with_credentials: WithCredentials = False,
    namespace: session.Namespace = session.DEFAULT_NAMESPACE,
    all_namespaces: session.AllNamespaces = False,
    kubeconfig: session.Kubeconfig = None,
    context: session.Context = None,
) -> None:
    """Export every GitOps object (all kinds kidp serves) as YAML."""
    if ctx.invoked_subcommand is not None:
        return
    target = session.Target(kubeconfig, context, namespace, all_namespaces)
    export(list(kinds.ALL), target, None, True, with_credentials, skip_unserved=True)


@source_app.command("git")
def source_git(
    name: perkind.Name = None,
    every: perkind.All = False,
    with_credentials: WithCredentials = False,
    namespace: session.Namespace = session.DEFAULT_NAMESPACE,
    all_namespaces: session.AllNamespaces = False,
    kubeconfig: session.Kubeconfig = None,
    context: session.Context = None,
) -> None:
    """Export GitRepository objects (and, if asked, their credentials) as YAML."""
    target = session.Target(kubeconfig, context, namespace, all_namespaces)
    export([kinds.GIT_REPOSITORY], target, name, every, with_credentials)


def _command(kind: kinds.Kind) -> perkind.Command:
    def act(target: session.Target, name: str | None, every: bool) -> None:
        export([kind], target, name, every, False)

    return perkind.selecting(act, f"Export {kind.kind} objects as YAML.")


source_app.command("oci")(_command(kinds.OCI_REPOSITORY))
source_app.command("bucket")(_command(kinds.BUCKET))
perkind.add_commands(app, _command, source_app=source_app, sources=())
