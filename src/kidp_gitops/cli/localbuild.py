"""Render a local checkout the way the Kustomization controller renders its artifact.

`kidp build` and `kidp diff` answer "what would the cluster get from this directory?".
They take the Kustomization from the cluster (or from `--kustomization-file`), put the
local `--path` in place of its `spec.path`, and run the controller's own pipeline
(`kustomize.pipeline.render`: kustomize with Flux's overlay fields, SOPS decryption,
post-build substitution with the variables of its ConfigMaps and Secrets), then add the
owner labels the controller adds. Offline (`client=None`) there is no cluster to read
variables or keys from: only `spec.postBuild.substitute` is substituted, nothing is
decrypted.

The build root is the local repository (the nearest directory holding `.git`), so
references such as `../base` resolve as they do in the artifact; outside a repository
it is the current directory when `--path` is under it, else `--path` itself.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from kidp_gitops.cli import session
from kidp_gitops.cli.errors import CliError
from kidp_gitops.views import kinds

if TYPE_CHECKING:
    from kidp_gitops.api import kustomize as api
    from kidp_gitops.kube import KubeClient

JSON = dict[str, Any]


def read_kustomization_file(file: Path, name: str, namespace: str) -> JSON:
    """The Kustomization named `name` in a local YAML file (flux's --kustomization-file)."""
    try:
        docs = [d for d in yaml.safe_load_all(file.read_text()) if isinstance(d, dict)]
    except OSError as err:
        raise CliError(f"cannot read {file}: {err.strerror or err}") from err
    except yaml.YAMLError as err:
        raise CliError(f"{file} is not valid YAML: {str(err).splitlines()[0]}") from err
    found = [d for d in docs if d.get("kind") == kinds.KUSTOMIZATION.kind]
    named = [d for d in found if (d.get("metadata") or {}).get("name") == name]
    if not named:
        raise CliError(f"{file} holds no Kustomization named {name!r}")
    obj = dict(named[0])
    obj.setdefault("metadata", {}).setdefault("namespace", namespace)
    return obj


async def kustomization(
    client: KubeClient | None, name: str, namespace: str, file: Path | None
) -> JSON:
    if file is not None:
        return read_kustomization_file(file, name, namespace)
    if client is None:
        raise CliError("offline builds need --kustomization-file")
    return await session.get_object(client, kinds.KUSTOMIZATION, namespace, name)


def spec_of(obj: JSON) -> api.KustomizationSpec:
    from pydantic import ValidationError

    from kidp_gitops.api import kinds as api_kinds
    from kidp_gitops.api import kustomize as api

    try:
        return api.Kustomization.model_validate(obj).spec
    except ValidationError as err:
        problems = "; ".join(api_kinds.describe(err))
        raise CliError(f"invalid Kustomization {kinds.object_id(obj)}: {problems}") from err


def local_root(path: Path) -> tuple[Path, str]:
    """The build root for a local `--path`, and the path relative to it."""
    directory = path.resolve()
    if not directory.is_dir():
        raise CliError(f"--path {path}: no such directory")
    root = next((p for p in (directory, *directory.parents) if (p / ".git").exists()), None)
    if root is None:
        cwd = Path.cwd().resolve()
        root = cwd if directory.is_relative_to(cwd) else directory
    return root, os.path.relpath(directory, root)


async def render(
    client: KubeClient | None,
    obj: JSON,
    path: Path,
    *,
    allow_remote_bases: bool = True,
) -> list[JSON]:
    """The objects the controller would apply for `obj` if its source held `path`."""
    from kidp_gitops.kustomize import pipeline
    from kidp_gitops.kustomize.apply import with_owner
    from kidp_gitops.render import errors

    spec = spec_of(obj)
    root, relative = local_root(path)
    local = spec.model_copy(update={"path": relative})
    meta = obj["metadata"]
    try:
        if client is not None:
            objects = await pipeline.render(
                client, obj, local, root, allow_remote_bases=allow_remote_bases
            )
        else:
            objects = await asyncio.to_thread(_offline, local, root, allow_remote_bases)
    except pipeline.RenderError as err:
        raise CliError(f"build failed: {err}") from err
    except (errors.BuildError, errors.SubstitutionError) as err:
        raise CliError(f"build failed: {err}") from err
    return [with_owner(o, meta["name"], meta["namespace"]) for o in objects]


def _offline(spec: api.KustomizationSpec, root: Path, allow_remote_bases: bool) -> list[JSON]:
    from kidp_gitops.render import build, substitute
    from kidp_gitops.render.overlay import Overlay

    objects = build.build(
        root, spec.effective_path(), Overlay.from_spec(spec), allow_remote_bases=allow_remote_bases
    )
    post = spec.post_build
    if post is not None and (post.substitute or post.substitute_from):
        objects = substitute.substitute(objects, dict(post.substitute))
    return objects
