"""`kidp create source git|helm | kustomization | helmrelease NAME …`: write a GitOps
object from flags, as `flux create` does — printed with `--export` (to commit to Git),
else applied (created or updated) and waited for until Ready.

    kidp create source git podinfo --url https://github.com/stefanprodan/podinfo --branch master
    kidp create kustomization podinfo --source GitRepository/podinfo --path ./kustomize --prune
    kidp create helmrelease podinfo --source HelmRepository/podinfo --chart podinfo --export
    kidp create helmrelease operators --source GitRepository/infra --chart ./charts/operators

Every object is checked against its API type before anything is applied, so a bad
flag value fails with the field it breaks (`spec.url: …`).
"""

from __future__ import annotations

import asyncio
import base64
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import yaml

from kidp_gitops.cli import output, perkind, reconcile, session
from kidp_gitops.cli.errors import CliError
from kidp_gitops.views import kinds

if TYPE_CHECKING:
    from kidp_gitops.kube import KubeClient

JSON = dict[str, Any]
FIELD_MANAGER = "kidp"
# Ready=False reasons that a later reconcile resolves by itself: keep waiting.
_STILL_WAITING = {"DependencyNotReady", "ArtifactFailed"}

app = typer.Typer(help="Create or update GitOps objects.", no_args_is_help=True)
source_app = typer.Typer(help="Create or update sources.", no_args_is_help=True)
app.add_typer(source_app, name="source")

Name = Annotated[str, typer.Argument(help="The object's name.")]
Export = Annotated[bool, typer.Option("--export", help="Print the YAML, apply nothing.")]
Interval = Annotated[str, typer.Option("--interval", help="How often to reconcile.")]
Labels = Annotated[
    list[str] | None, typer.Option("--label", help="A label key=value (repeatable).")
]
Wait = Annotated[bool, typer.Option("--wait/--no-wait", help="Wait until the object is Ready.")]
DependsOn = Annotated[
    list[str] | None,
    typer.Option("--depends-on", help="Objects to wait for: name or namespace/name (repeatable)."),
]
IgnorePaths = Annotated[
    list[str] | None, typer.Option("--ignore-paths", help="Paths to leave out (repeatable).")
]
CertRef = Annotated[
    str | None, typer.Option("--cert-ref", help="Existing Secret with ca.crt/tls.crt/tls.key.")
]
TargetNamespace = Annotated[
    str | None, typer.Option("--target-namespace", help="Namespace of the applied objects.")
]


def metadata(name: str, namespace: str, labels: list[str] | None) -> JSON:
    meta: JSON = {"name": name, "namespace": namespace}
    parsed = {}
    for label in labels or []:
        key, sep, value = label.partition("=")
        if not sep or not key:
            raise CliError(f"--label {label!r}: write key=value")
        parsed[key] = value
    if parsed:
        meta["labels"] = parsed
    return meta


def manifest(kind: kinds.Kind, meta: JSON, spec: JSON) -> JSON:
    """An object of `kind` with this metadata and spec."""
    return {"apiVersion": kind.api_version, "kind": kind.kind, "metadata": meta, "spec": spec}


def validated(obj: JSON) -> JSON:
    """The object, after checking it against its API type."""
    from kidp_gitops.api import kinds as api_kinds

    try:
        api_kinds.parse_object(obj)
    except api_kinds.ManifestError as err:
        raise CliError(f"invalid {err}") from err
    return obj


def source_ref(text: str, allowed: tuple[str, ...]) -> JSON:
    """`Kind/name`, `Kind/name.namespace` (flux's form) or `Kind/namespace/name`."""
    kind, _, rest = text.partition("/")
    if not rest or kind not in allowed:
        raise CliError(f"--source {text!r}: write Kind/name with Kind one of {', '.join(allowed)}")
    ref: JSON = {"kind": kind}
    if "/" in rest:
        ref["namespace"], ref["name"] = rest.split("/", 1)
    elif "." in rest:
        ref["name"], ref["namespace"] = rest.split(".", 1)
    else:
        ref["name"] = rest
    return ref


def depends_on(items: list[str] | None) -> list[JSON]:
    out = []
    for item in items or []:
        namespace, _, name = item.rpartition("/")
        out.append({"name": name, **({"namespace": namespace} if namespace else {})})
    return out


async def apply_and_wait(
    client: KubeClient, objects: list[JSON], wait: bool, timeout: float
) -> None:
    """Apply the objects in order (Secrets before sources); wait for the last one."""
    from kidp_gitops.kube import RestMapper
    from kidp_gitops.kube.ssa import Policy, ResourceManager

    manager = ResourceManager(client, RestMapper(client), Policy(FIELD_MANAGER))
    for obj in objects:
        meta = obj["metadata"]
        kind = kinds.by_kind(obj["kind"])
        path = (
            kind.path(meta["namespace"], meta["name"])
            if kind is not None
            else f"/api/v1/namespaces/{meta['namespace']}/secrets/{meta['name']}"
        )
        output.step(f"applying {obj['kind']} {meta['name']}")
        await manager.put(obj, path)
        output.success(f"{obj['kind']} {meta['name']} created or updated")
    last = objects[-1]
    kind = kinds.by_kind(last["kind"])
    if not wait or kind is None:
        return
    output.waiting(f"waiting for {last['kind']} reconciliation")
    with output.spinner(f"waiting for {last['kind']} {last['metadata']['name']}"):
        done = await wait_ready(
            client, kind, last["metadata"]["namespace"], last["metadata"]["name"], timeout
        )
    output.success(f"{last['kind']} reconciliation completed")
    revision = kinds.revision(done)
    if revision:
        verb = "fetched" if kind in kinds.SOURCES else "applied"
        output.success(f"{verb} revision {revision}")


async def wait_ready(
    client: KubeClient, kind: kinds.Kind, namespace: str, name: str, timeout: float
) -> JSON:
    """Until Ready=True for the current generation; Ready=False fails with the reason."""
    deadline = time.monotonic() + timeout
    while True:
        obj = await session.get_object(client, kind, namespace, name)
        status = obj.get("status") or {}
        current = status.get("observedGeneration") == obj["metadata"].get("generation")
        ready = kinds.condition(obj)
        if current and ready.get("status") == "True":
            return obj
        waiting = ready.get("reason") in _STILL_WAITING
        if current and ready.get("status") == "False" and not waiting:
            raise CliError(f"{kind.kind} '{namespace}/{name}' failed: {ready.get('message')}")
        if time.monotonic() > deadline:
            message = ready.get("message") or "no controller reported on it"
            raise CliError(f"{kind.kind} '{namespace}/{name}' not ready in time: {message}")
        await asyncio.sleep(0.25)


def finish(
    objects: list[JSON], export: bool, wait: bool, timeout: str, target: session.Target
) -> None:
    objects = [validated(o) if kinds.by_kind(o["kind"]) else o for o in objects]
    if export:
        output.echo(output.dump_documents(objects))
        return
    limit = reconcile.seconds(timeout)
    output.step(f"generating {objects[-1]['kind']}")

    async def work(client: KubeClient) -> None:
        await apply_and_wait(client, objects, wait, limit)

    session.run(target, work)


@source_app.command("git")
def source_git(
    name: Name,
    url: Annotated[str, typer.Option("--url", help="Repository address (http(s):// or ssh://).")],
    branch: Annotated[str | None, typer.Option("--branch", help="Branch to follow.")] = None,
    tag: Annotated[str | None, typer.Option("--tag", help="Tag to check out.")] = None,
    tag_semver: Annotated[
        str | None, typer.Option("--tag-semver", help="Semver range of tags to follow.")
    ] = None,
    commit: Annotated[str | None, typer.Option("--commit", help="Commit to check out.")] = None,
    secret_ref: Annotated[
        str | None, typer.Option("--secret-ref", help="Existing Secret with the credentials.")
    ] = None,
    username: Annotated[str | None, typer.Option("--username", "-u", help="Basic auth.")] = None,
    password: Annotated[str | None, typer.Option("--password", "-p", help="Basic auth.")] = None,
    ignore_paths: IgnorePaths = None,
    interval: Interval = "1m",
    label: Labels = None,
    export: Export = False,
    wait: Wait = True,
    timeout: reconcile.Timeout = reconcile.DEFAULT_TIMEOUT,
    namespace: session.Namespace = session.DEFAULT_NAMESPACE,
    kubeconfig: session.Kubeconfig = None,
    context: session.Context = None,
) -> None:
    """Create or update a GitRepository."""
    ref = {
        k: v
        for k, v in (("branch", branch), ("tag", tag), ("semver", tag_semver), ("commit", commit))
        if v
    }
    spec: JSON = {"url": url, "interval": interval, **({"ref": ref} if ref else {})}
    objects = secret(name, namespace, spec, secret_ref, username=username, password=password)
    transport(spec, ignore_paths)
    objects.append(manifest(kinds.GIT_REPOSITORY, metadata(name, namespace, label), spec))
    finish(objects, export, wait, timeout, session.Target(kubeconfig, context, namespace))


def transport(
    spec: JSON, ignore_paths: list[str] | None, cert_ref: str | None = None, insecure: bool = False
) -> None:
    """The fields sources share: what to leave out, the TLS Secret, plain HTTP."""
    if ignore_paths:
        spec["ignore"] = "\n".join(ignore_paths)
    if cert_ref:
        spec["certSecretRef"] = {"name": cert_ref}
    if insecure:
        spec["insecure"] = True


_FLAGS = {"accesskey": "--access-key", "secretkey": "--secret-key"}


def secret(
    name: str, namespace: str, spec: JSON, secret_ref: str | None, **given: str | None
) -> list[JSON]:
    """Set `spec.secretRef`; with credentials given on the command line (--username and
    --password, --access-key and --secret-key: `given`, by their keys in the Secret), the
    Secret (named as the source) to apply before it."""
    objects: list[JSON] = []
    if any(v is not None for v in given.values()):
        if secret_ref:
            flags = " and ".join(_FLAGS.get(k, f"--{k}") for k in given)
            raise CliError(f"pass --secret-ref or {flags}, not both")
        secret_ref = name
        data = {k: v or "" for k, v in given.items()}
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": name, "namespace": namespace},
                "type": "Opaque",
                "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
            }
        )
    if secret_ref:
        spec["secretRef"] = {"name": secret_ref}
    return objects


@source_app.command("helm")
def source_helm(
    name: Name,
    url: Annotated[
        str, typer.Option("--url", help="Chart repository address (http(s):// or oci://).")
    ],
    secret_ref: Annotated[
        str | None, typer.Option("--secret-ref", help="Existing Secret with the credentials.")
    ] = None,
    username: Annotated[str | None, typer.Option("--username", "-u", help="Basic auth.")] = None,
    password: Annotated[str | None, typer.Option("--password", "-p", help="Basic auth.")] = None,
    pass_credentials: Annotated[
        bool,
        typer.Option("--pass-credentials", help="Send the credentials to chart URLs elsewhere."),
    ] = False,
    interval: Interval = "1m",
    label: Labels = None,
    export: Export = False,
    wait: Wait = True,
    timeout: reconcile.Timeout = reconcile.DEFAULT_TIMEOUT,
    namespace: session.Namespace = session.DEFAULT_NAMESPACE,
    kubeconfig: session.Kubeconfig = None,
    context: session.Context = None,
) -> None:
    """Create or update a HelmRepository."""
    spec: JSON = {"url": url, "interval": interval}
    objects = secret(name, namespace, spec, secret_ref, username=username, password=password)
    if pass_credentials:
        spec["passCredentials"] = True
    if url.startswith("oci://"):
        spec["type"] = "oci"  # as flux create source helm infers it from the URL
    objects.append(manifest(kinds.HELM_REPOSITORY, metadata(name, namespace, label), spec))
    finish(objects, export, wait, timeout, session.Target(kubeconfig, context, namespace))


@source_app.command("oci")
def source_oci(
    name: Name,
    url: Annotated[str, typer.Option("--url", help="The repository, oci://<host>/<path>.")],
    tag: Annotated[str | None, typer.Option("--tag", help="Tag to follow.")] = None,
    tag_semver: Annotated[
        str | None, typer.Option("--tag-semver", help="Semver range of tags to follow.")
    ] = None,
    digest: Annotated[
        str | None, typer.Option("--digest", help="Manifest digest to pin (sha256:…).")
    ] = None,
    secret_ref: Annotated[
        str | None,
        typer.Option("--secret-ref", help="Existing docker-registry Secret with the credentials."),
    ] = None,
    cert_ref: CertRef = None,
    service_account: Annotated[
        str | None,
        typer.Option("--service-account", help="ServiceAccount whose imagePullSecrets to use."),
    ] = None,
    ignore_paths: IgnorePaths = None,
    insecure: Annotated[
        bool, typer.Option("--insecure", help="Talk to the registry over plain HTTP.")
    ] = False,
    interval: Interval = "1m",
    label: Labels = None,
    export: Export = False,
    wait: Wait = True,
    timeout: reconcile.Timeout = reconcile.DEFAULT_TIMEOUT,
    namespace: session.Namespace = session.DEFAULT_NAMESPACE,
    kubeconfig: session.Kubeconfig = None,
    context: session.Context = None,
) -> None:
    """Create or update an OCIRepository."""
    ref = {k: v for k, v in (("tag", tag), ("semver", tag_semver), ("digest", digest)) if v}
    spec: JSON = {"url": url, "interval": interval, **({"ref": ref} if ref else {})}
    if secret_ref:
        spec["secretRef"] = {"name": secret_ref}
    if service_account:
        spec["serviceAccountName"] = service_account
    transport(spec, ignore_paths, cert_ref, insecure)
    obj = manifest(kinds.OCI_REPOSITORY, metadata(name, namespace, label), spec)
    finish([obj], export, wait, timeout, session.Target(kubeconfig, context, namespace))


@source_app.command("bucket")
def source_bucket(
    name: Name,
    bucket_name: Annotated[str, typer.Option("--bucket-name", help="Name of the bucket.")],
    endpoint: Annotated[str, typer.Option("--endpoint", help="The server's host[:port].")],
    provider: Annotated[
        str, typer.Option("--provider", help="generic (any S3 API), or aws with static keys.")
    ] = "generic",
    region: Annotated[
        str | None, typer.Option("--region", help="Region to sign requests for.")
    ] = None,
    prefix: Annotated[
        str | None, typer.Option("--prefix", help="Only the objects under this key prefix.")
    ] = None,
    secret_ref: Annotated[
        str | None,
        typer.Option("--secret-ref", help="Existing Secret with accesskey and secretkey."),
    ] = None,
    access_key: Annotated[
        str | None, typer.Option("--access-key", help="Access key (creates the Secret).")
    ] = None,
    secret_key: Annotated[
        str | None, typer.Option("--secret-key", help="Secret key (creates the Secret).")
    ] = None,
    cert_ref: CertRef = None,
    ignore_paths: IgnorePaths = None,
    insecure: Annotated[
        bool, typer.Option("--insecure", help="Talk to the server over plain HTTP.")
    ] = False,
    interval: Interval = "1m",
    label: Labels = None,
    export: Export = False,
    wait: Wait = True,
    timeout: reconcile.Timeout = reconcile.DEFAULT_TIMEOUT,
    namespace: session.Namespace = session.DEFAULT_NAMESPACE,
    kubeconfig: session.Kubeconfig = None,
    context: session.Context = None,
) -> None:
    """Create or update a Bucket."""
    spec: JSON = {
        "provider": provider,
        "bucketName": bucket_name,
        "endpoint": endpoint,
        "interval": interval,
    }
    optional = (("region", region), ("prefix", prefix))
    spec.update({k: v for k, v in optional if v})
    objects = secret(name, namespace, spec, secret_ref, accesskey=access_key, secretkey=secret_key)
    transport(spec, ignore_paths, cert_ref, insecure)
    objects.append(manifest(kinds.BUCKET, metadata(name, namespace, label), spec))
    finish(objects, export, wait, timeout, session.Target(kubeconfig, context, namespace))


def kustomization(
    name: Name,
    source: Annotated[
        str,
        typer.Option(
            "--source", help="Source to build: GitRepository/… or OCIRepository/name[.namespace]."
        ),
    ],
    path: Annotated[str, typer.Option("--path", help="Path in the source.")] = "./",
    prune: Annotated[bool, typer.Option("--prune", help="Delete what leaves Git.")] = False,
    wait_healthy: Annotated[
        bool, typer.Option("--health-wait", help="Wait for every applied object to be healthy.")
    ] = False,
    target_namespace: TargetNamespace = None,
    service_account: Annotated[
        str | None, typer.Option("--service-account", help="Apply as this service account.")
    ] = None,
    depends: DependsOn = None,
    interval: Interval = "10m",
    label: Labels = None,
    export: Export = False,
    wait: Wait = True,
    timeout: reconcile.Timeout = reconcile.DEFAULT_TIMEOUT,
    namespace: session.Namespace = session.DEFAULT_NAMESPACE,
    kubeconfig: session.Kubeconfig = None,
    context: session.Context = None,
) -> None:
    """Create or update a Kustomization."""
    spec: JSON = {
        "interval": interval,
        "path": path,
        "prune": prune,
        "sourceRef": source_ref(source, ("GitRepository", "OCIRepository", "Bucket")),
    }
    if wait_healthy:
        spec["wait"] = True
    if target_namespace:
        spec["targetNamespace"] = target_namespace
    if service_account:
        spec["serviceAccountName"] = service_account
    if depends:
        spec["dependsOn"] = depends_on(depends)
    obj = manifest(kinds.KUSTOMIZATION, metadata(name, namespace, label), spec)
    finish([obj], export, wait, timeout, session.Target(kubeconfig, context, namespace))


def helmrelease(
    name: Name,
    source: Annotated[
        str,
        typer.Option(
            "--source",
            help="Chart source: HelmRepository/name[.namespace], or GitRepository/… or Bucket/…",
        ),
    ],
    chart: Annotated[
        str, typer.Option("--chart", help="Chart name, or path in a Git source (./charts/app).")
    ],
    chart_version: Annotated[
        str | None, typer.Option("--chart-version", help="Semver range of the chart.")
    ] = None,
    release_name: Annotated[
        str | None, typer.Option("--release-name", help="Helm release name.")
    ] = None,
    values: Annotated[
        list[Path] | None, typer.Option("--values", help="Values file to merge (repeatable).")
    ] = None,
    target_namespace: TargetNamespace = None,
    depends: DependsOn = None,
    interval: Interval = "1m",
    label: Labels = None,
    export: Export = False,
    wait: Wait = True,
    timeout: reconcile.Timeout = reconcile.DEFAULT_TIMEOUT,
    namespace: session.Namespace = session.DEFAULT_NAMESPACE,
    kubeconfig: session.Kubeconfig = None,
    context: session.Context = None,
) -> None:
    """Create or update a HelmRelease."""
    chart_spec: JSON = {
        "chart": chart,
        "sourceRef": source_ref(source, ("HelmRepository", "GitRepository", "Bucket")),
    }
    if chart_version:
        chart_spec["version"] = chart_version
    spec: JSON = {"interval": interval, "chart": {"spec": chart_spec}}
    for key, value in (("releaseName", release_name), ("targetNamespace", target_namespace)):
        if value:
            spec[key] = value
    if depends:
        spec["dependsOn"] = depends_on(depends)
    from kidp_gitops.runtime import transform  # here: `kidp --help` loads no more

    merged: JSON = {}
    for file in values or []:
        merged = transform.merge_maps(merged, _read_values(file))
    if merged:
        spec["values"] = merged
    obj = manifest(kinds.HELM_RELEASE, metadata(name, namespace, label), spec)
    finish([obj], export, wait, timeout, session.Target(kubeconfig, context, namespace))


def _read_values(file: Path) -> JSON:
    try:
        loaded = yaml.safe_load(file.read_text()) or {}
    except OSError as err:
        raise CliError(f"--values {file}: {err.strerror or err}") from err
    except yaml.YAMLError as err:
        raise CliError(f"--values {file}: not valid YAML: {str(err).splitlines()[0]}") from err
    if not isinstance(loaded, dict):
        raise CliError(f"--values {file}: not a YAML mapping")
    return loaded


for _kind, _names in perkind.APPLIERS:
    _create = kustomization if _kind is kinds.KUSTOMIZATION else helmrelease
    for _i, _alias in enumerate(_names):
        app.command(_alias, hidden=_i > 0)(_create)
