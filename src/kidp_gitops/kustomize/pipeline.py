"""From an extracted artifact to the objects to apply: build, decrypt, substitute.

    build       the real kustomize over `spec.path`, with Flux's overlay fields
    decrypt     SOPS-encrypted documents, with the keys of `spec.decryption.secretRef`
    substitute  `${var}` from `spec.postBuild.substitute` and `substituteFrom`

Each failure is a `RenderError` carrying Flux's reason (BuildFailed, DecryptionFailed)
and a message that names the file or variable — never a secret value. Nothing is
applied when any step fails.
"""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

from kidp_gitops.api import kustomize as api
from kidp_gitops.kube.client import JSON, KubeClient
from kidp_gitops.kube.errors import ApiError
from kidp_gitops.kustomize import build, errors, sops, substitute
from kidp_gitops.kustomize.overlay import Overlay
from kidp_gitops.runtime import conditions

DECRYPTION_FAILED = "DecryptionFailed"


class RenderError(Exception):
    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


async def render(
    client: KubeClient,
    obj: JSON,
    spec: api.KustomizationSpec,
    root: Path,
    *,
    allow_remote_bases: bool,
) -> list[JSON]:
    namespace = obj["metadata"]["namespace"]
    overlay = Overlay.from_spec(spec)
    try:
        objects: list[JSON] = await asyncio.to_thread(
            build.build, root, spec.effective_path(), overlay, allow_remote_bases=allow_remote_bases
        )
    except errors.BuildError as err:
        raise RenderError(conditions.BUILD_FAILED, str(err)) from err
    objects = await _decrypt(client, namespace, spec, objects)
    if spec.post_build is not None:
        variables = await _variables(client, namespace, spec.post_build)
        try:
            objects = substitute.substitute(objects, variables)
        except errors.SubstitutionError as err:
            raise RenderError(conditions.BUILD_FAILED, str(err)) from err
    return objects


async def _decrypt(
    client: KubeClient, namespace: str, spec: api.KustomizationSpec, objects: list[JSON]
) -> list[JSON]:
    encrypted = [i for i, o in enumerate(objects) if sops.is_encrypted(o)]
    if not encrypted:
        return objects
    decryption = spec.decryption
    if decryption is None or decryption.secret_ref is None:
        names = ", ".join(_name(objects[i]) for i in encrypted)
        raise RenderError(
            DECRYPTION_FAILED,
            f"SOPS-encrypted objects ({names}) but spec.decryption.secretRef is not set",
        )
    secret = await _read(client, namespace, "Secret", decryption.secret_ref.name, False)
    keyring = sops.Keyring.from_secret_data({k: base64.b64decode(v) for k, v in secret.items()})
    out = list(objects)
    for i in encrypted:
        try:
            # kustomize may have changed labels or namespaces of the built object, which
            # the MAC covers; like Flux, the MAC of built objects is not checked.
            out[i] = sops.decrypt_document(
                objects[i], keyring, source=_name(objects[i]), verify_mac=False
            )
        except sops.DecryptionError as err:
            raise RenderError(DECRYPTION_FAILED, str(err)) from err
    return out


async def _variables(
    client: KubeClient, namespace: str, post: api.PostBuild
) -> substitute.Variables:
    """substituteFrom in order (later wins), then substitute on top, as Flux merges them.
    Values from Secrets stay marked secret, so no error message shows them."""
    sources: list[tuple[dict[str, str], bool]] = []
    for ref in post.substitute_from:
        data = await _read(client, namespace, ref.kind, ref.name, ref.optional)
        if ref.kind == "Secret":
            data = {k: base64.b64decode(v).decode() for k, v in data.items()}
        sources.append((data, ref.kind == "Secret"))
    sources.append((dict(post.substitute), False))
    try:
        return substitute.merge_variables(sources)
    except errors.SubstitutionError as err:
        raise RenderError(conditions.BUILD_FAILED, str(err)) from err


async def _read(
    client: KubeClient, namespace: str, kind: str, name: str, optional: bool
) -> dict[str, Any]:
    plural = "secrets" if kind == "Secret" else "configmaps"
    try:
        found = await client.get(f"/api/v1/namespaces/{namespace}/{plural}/{name}")
    except ApiError as err:
        if err.not_found and optional:
            return {}
        if err.not_found:
            raise RenderError(
                conditions.BUILD_FAILED, f"{kind} '{namespace}/{name}' not found"
            ) from err
        raise
    return dict(found.get("data") or {})


def _name(obj: JSON) -> str:
    meta = obj.get("metadata") or {}
    where = f"{meta.get('namespace')}/" if meta.get("namespace") else ""
    return f"{obj.get('kind')}/{where}{meta.get('name')}"
