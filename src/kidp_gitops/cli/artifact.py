"""`kidp push|pull|tag artifact` and `kidp list artifacts`: Flux's OCI artifacts, with the
flags of `flux push artifact` and friends.

    kidp push artifact oci://ghcr.io/org/manifests/app:$(git rev-parse --short HEAD) \\
        --path ./deploy --source "$(git config --get remote.origin.url)" \\
        --revision "main@sha1:$(git rev-parse HEAD)"
    kidp tag artifact oci://ghcr.io/org/manifests/app:3f2a1b0 --tag latest
    kidp list artifacts oci://ghcr.io/org/manifests/app --filter-semver '>=1.0.0'
    kidp pull artifact oci://ghcr.io/org/manifests/app:latest --output ./out

Credentials: `--creds user[:password]`, else the docker config (`$DOCKER_CONFIG` or
~/.docker/config.json) entry of the registry, as the flux CLI's default keychain. Only the
`generic` provider is served; others are refused.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from kidp_gitops.cli import output
from kidp_gitops.cli.errors import CliError

if TYPE_CHECKING:
    from kidp_gitops.oci.client import Client
    from kidp_gitops.oci.reference import Reference, Repository
    from kidp_gitops.runtime.registryauth import Credentials

T = TypeVar("T")

push_app = typer.Typer(help="Push artifacts to an OCI registry.", no_args_is_help=True)
pull_app = typer.Typer(help="Pull artifacts from an OCI registry.", no_args_is_help=True)
tag_app = typer.Typer(help="Tag artifacts in an OCI registry.", no_args_is_help=True)
list_app = typer.Typer(help="List artifacts in an OCI registry.", no_args_is_help=True)

Url = Annotated[str, typer.Argument(help="The artifact, oci://<host>/<repository>[:<tag>].")]
Creds = Annotated[
    str | None,
    typer.Option("--creds", help="Credentials for the registry: <username>[:<password>]."),
]
Provider = Annotated[
    str, typer.Option("--provider", help="Who provides the credentials (only 'generic').")
]
Insecure = Annotated[
    bool, typer.Option("--insecure-registry", help="Talk to the registry over plain HTTP.")
]
Timeout = Annotated[float, typer.Option("--timeout", help="Seconds for the whole operation.")]
OutputFormat = Annotated[
    str | None, typer.Option("--output", "-o", help="Print the result as 'json' or 'yaml'.")
]


@push_app.command("artifact")
def push_artifact(
    url: Url,
    path: Annotated[str, typer.Option("--path", "-f", help="The directory or file to push.")] = "",
    source: Annotated[
        str, typer.Option("--source", help="Where the content comes from, e.g. the Git URL.")
    ] = "",
    revision: Annotated[
        str, typer.Option("--revision", help="The source revision, e.g. '<branch>@sha1:<commit>'.")
    ] = "",
    annotations: Annotated[
        list[str] | None,
        typer.Option("--annotations", "-a", help="An OCI annotation, key=value (repeatable)."),
    ] = None,
    ignore_paths: Annotated[
        list[str] | None,
        typer.Option(
            "--ignore-paths",
            help="Paths to leave out, in .gitignore format (comma-separated, repeatable);"
            " default: VCS files, images and archives.",
        ),
    ] = None,
    reproducible: Annotated[
        bool,
        typer.Option(
            "--reproducible", help="Set the created time to the epoch: same content, same digest."
        ),
    ] = False,
    creds: Creds = None,
    provider: Provider = "generic",
    insecure: Insecure = False,
    output_format: OutputFormat = None,
    timeout: Timeout = 300.0,
) -> None:
    """Pack a directory as a Flux OCI artifact and push it."""
    from kidp_gitops.oci import artifact, reference

    if not source:
        raise CliError("--source is required")
    if not revision:
        raise CliError("--revision is required")
    if not path:
        raise CliError(f"invalid path {path!r}")
    if not Path(path).exists():
        raise CliError(f"invalid path '{path}', must point to an existing directory or file")
    notes: dict[str, str] = {}
    for note in annotations or []:
        key, sep, value = note.partition("=")
        if not sep or not key or "=" in value:
            raise CliError(f"invalid annotation {note}, must be in the format key=value")
        notes[key] = value
    ignore = None
    if ignore_paths is not None:
        ignore = [p for item in ignore_paths for p in item.split(",") if p]
    ref = _reference(url)
    tag = ref.tag or "latest"
    if output_format is None:
        output.step(f"pushing artifact to {reference.PREFIX}{ref.repository.canonical}:{tag}")

    async def work(client: Client) -> str:
        return await artifact.push(
            client,
            tag,
            Path(path),
            source=source,
            revision=revision,
            annotations=notes,
            ignore_paths=ignore,
            created="1970-01-01T00:00:00Z" if reproducible else None,
        )

    digest = _run(ref.repository, creds, provider, insecure, timeout, work)
    canonical = ref.repository.canonical
    info = {
        "url": f"{reference.PREFIX}{canonical}@{digest}",
        "repository": canonical,
        "tag": tag,
        "digest": digest,
    }
    if output_format is None:
        output.success(f"artifact successfully pushed to {canonical}@{digest}")
    else:
        output.echo(output.dump(info, _format(output_format)))


@pull_app.command("artifact")
def pull_artifact(
    url: Url,
    out: Annotated[
        str, typer.Option("--output", "-o", help="The directory to extract the content into.")
    ] = "",
    creds: Creds = None,
    provider: Provider = "generic",
    insecure: Insecure = False,
    timeout: Timeout = 300.0,
) -> None:
    """Pull a Flux OCI artifact and extract its content."""
    import tempfile

    from kidp_gitops.oci import artifact

    if not out:
        raise CliError("invalid output path ''")
    ref = _reference(url)
    output.step(f"pulling artifact from {url}")

    async def work(client: Client) -> artifact.Metadata:
        with tempfile.TemporaryDirectory(prefix="kidp-pull-") as scratch:
            return await artifact.pull(client, ref.ref, Path(out), Path(scratch))

    meta = _run(ref.repository, creds, provider, insecure, timeout, work)
    if meta.source:
        output.success(f"source {meta.source}")
    if meta.revision:
        output.success(f"revision {meta.revision}")
    output.success(f"digest {ref.repository.canonical}@{meta.digest}")
    output.success(f"artifact content extracted to {out}")


@tag_app.command("artifact")
def tag_artifact(
    url: Url,
    tags: Annotated[
        list[str] | None, typer.Option("--tag", help="A tag to add (comma-separated, repeatable).")
    ] = None,
    creds: Creds = None,
    provider: Provider = "generic",
    insecure: Insecure = False,
    timeout: Timeout = 300.0,
) -> None:
    """Give an artifact more tags."""
    wanted = [t for item in tags or [] for t in item.split(",") if t]
    if not wanted:
        raise CliError("--tag is required")
    ref = _reference(url)
    output.step("tagging artifact")

    async def work(client: Client) -> None:
        for tag in wanted:
            await client.tag(ref.ref, tag)

    _run(ref.repository, creds, provider, insecure, timeout, work)
    for tag in wanted:
        output.success(f"artifact tagged as {ref.repository.canonical}:{tag}")


@list_app.command("artifacts")
def list_artifacts(
    url: Url,
    filter_semver: Annotated[
        str | None, typer.Option("--filter-semver", help="Only tags in this semver range.")
    ] = None,
    filter_regex: Annotated[
        str | None, typer.Option("--filter-regex", help="Only tags matching this expression.")
    ] = None,
    creds: Creds = None,
    provider: Provider = "generic",
    insecure: Insecure = False,
    output_format: OutputFormat = None,
    timeout: Timeout = 300.0,
) -> None:
    """List the tags of a repository with their digest, source and revision."""
    from kidp_gitops.oci import artifact
    from kidp_gitops.runtime import tenantregex
    from kidp_gitops.vcs import giterrors, semver

    repository = _repository(url)
    try:
        wanted = semver.parse_range(filter_semver) if filter_semver else None
        # RE2, as the flux CLI's Go regexp: the same syntax, linear time.
        pattern = tenantregex.compile(filter_regex) if filter_regex else None
    except (giterrors.InvalidRef, tenantregex.InvalidPattern) as err:
        raise CliError(f"invalid filter: {err}") from err

    async def work(client: Client) -> list[dict[str, str]]:
        rows = []
        for tag in await client.tags():
            if pattern is not None and not pattern.search(tag):
                continue
            if wanted is not None:
                version = semver.parse_version(tag)
                if version is None or not wanted.matches(version):
                    continue
            meta = artifact.Metadata.of(await client.manifest(tag))
            rows.append(
                {
                    "url": f"{repository.canonical}:{tag}",  # as flux lists them, no scheme
                    "digest": meta.digest,
                    "source": meta.source or "",
                    "revision": meta.revision or "",
                }
            )
        return rows

    rows = _run(repository, creds, provider, insecure, timeout, work)
    if output_format is not None:
        output.echo(output.dump(rows, _format(output_format)))
        return
    output.print_table(
        ["ARTIFACT", "DIGEST", "SOURCE", "REVISION"],
        [[r["url"], r["digest"], r["source"], r["revision"]] for r in rows],
    )


# ---- shared -----------------------------------------------------------------------------


def _format(text: str) -> output.Format:
    try:
        return output.Format(text)
    except ValueError:
        raise CliError(f"--output {text!r}: use json or yaml") from None


def _reference(url: str) -> Reference:
    from kidp_gitops.oci import errors, reference

    try:
        return reference.parse_reference(url)
    except errors.OCIError as err:
        raise CliError(err.message) from err


def _repository(url: str) -> Repository:
    from kidp_gitops.oci import errors, reference

    try:
        return reference.parse_repository(url)
    except errors.OCIError as err:
        raise CliError(err.message) from err


def _credentials(creds: str | None, host: str) -> Credentials | None:
    from kidp_gitops.runtime import registryauth

    if creds:
        username, _, password = creds.partition(":")
        return registryauth.Credentials(username or None, password or None)
    directory = os.environ.get("DOCKER_CONFIG") or str(Path.home() / ".docker")
    config = Path(directory) / "config.json"
    if not config.is_file():
        return None
    try:
        return registryauth.from_pull_secret(
            {".dockerconfigjson": config.read_bytes()}, host, str(config)
        )
    except registryauth.AuthError as err:
        raise CliError(str(err)) from err


def _run(
    repository: Repository,
    creds: str | None,
    provider: str,
    insecure: bool,
    timeout: float,
    work: Callable[[Client], Awaitable[T]],
) -> T:
    """Run `work` with a client of `repository`; registry errors become CliErrors."""
    from kidp_gitops.oci import client, errors
    from kidp_gitops.runtime import outbound

    if provider != "generic":
        raise CliError(f"--provider {provider!r} is not supported: use 'generic' with --creds")

    async def main() -> T:
        http = outbound.Outbound()
        try:
            registry = client.Client(
                repository,
                _credentials(creds, repository.host),
                insecure=insecure,
                timeout=timeout,
                http=http,
            )
            async with asyncio.timeout(timeout):
                return await work(registry)
        finally:
            await http.close()

    try:
        return asyncio.run(main())
    except errors.OCIError as err:
        raise CliError(err.message) from err
    except TimeoutError:
        raise CliError(f"timed out after {timeout:g}s") from None
