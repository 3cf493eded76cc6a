"""From an extracted artifact to the objects to apply: build, decrypt, substitute.

    keys        `spec.decryption.secretRef`'s age and PGP keys, read before the build
    build       the real kustomize over `spec.path`, with Flux's overlay fields, after
                the SOPS files it reads are decrypted into a scratch copy (generatorfiles)
    decrypt     SOPS-encrypted documents, and sops files inside generated Secrets
    substitute  `${var}` from `spec.postBuild.substitute` and `substituteFrom`

Each failure is a `RenderError` carrying Flux's reason (BuildFailed, DecryptionFailed)
and a message that names the file or variable — never a secret value. Nothing is
applied when any step fails.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from pathlib import Path
from typing import Any

from kidp_gitops import sops
from kidp_gitops.api import kustomize as api
from kidp_gitops.kube.client import JSON, KubeClient
from kidp_gitops.render import build, errors, substitute
from kidp_gitops.render.overlay import Overlay
from kidp_gitops.runtime import conditions, redact, secrets
from kidp_gitops.sops import fileformat

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
    keyring = await _keyring(client, namespace, spec.decryption)
    owner = redact.owner_key("Kustomization", namespace, obj["metadata"]["name"])
    try:
        objects: list[JSON] = await asyncio.to_thread(
            build.build,
            root,
            spec.effective_path(),
            overlay,
            allow_remote_bases=allow_remote_bases,
            timeout=spec.effective_timeout().seconds,
            keyring=keyring,
        )
        objects = await asyncio.to_thread(_decrypt, spec.decryption, keyring, objects)
    except errors.BuildError as err:
        raise RenderError(conditions.BUILD_FAILED, str(err)) from err
    except sops.DecryptionError as err:
        raise RenderError(DECRYPTION_FAILED, str(err)) from err
    finally:
        if keyring is not None:  # whatever was decrypted, into any kind, even if it failed
            redact.REDACTOR.remember(owner, keyring.revealed)
    if spec.post_build is not None:
        variables = await _variables(client, namespace, spec.post_build)
        redact.REDACTOR.remember(owner, [variables.values[n] for n in variables.secret])
        if spec.post_build.substitutes(len(variables.values)):
            try:
                objects = substitute.substitute(objects, variables)
            except errors.SubstitutionError as err:
                raise RenderError(conditions.BUILD_FAILED, str(err)) from err
    redact.REDACTOR.remember(owner, secret_values(objects))
    return objects


async def _keyring(
    client: KubeClient, namespace: str, decryption: api.Decryption | None
) -> sops.Keyring | None:
    """The keys of spec.decryption.secretRef, read before the build (the files kustomize
    reads may need them); None without spec.decryption, empty without a secretRef."""
    if decryption is None:
        return None
    if decryption.secret_ref is None:
        return sops.Keyring()
    name = f"{namespace}/{decryption.secret_ref.name}"
    data = await secrets.read(client, namespace, decryption.secret_ref.name)
    if data is None:
        raise RenderError(DECRYPTION_FAILED, f"decryption Secret '{name}' not found")
    try:
        return await asyncio.to_thread(sops.Keyring.from_secret_data, data)
    except sops.DecryptionError as err:
        raise RenderError(DECRYPTION_FAILED, f"decryption Secret '{name}': {err}") from err


def _decrypt(
    decryption: api.Decryption | None, keyring: sops.Keyring | None, objects: list[JSON]
) -> list[JSON]:
    """Decrypt SOPS-encrypted objects, and the SOPS files a generated Secret holds in its
    data (from generators the build could not decrypt first, e.g. in remote bases)."""
    encrypted = [i for i, o in enumerate(objects) if sops.is_encrypted(o)]
    if encrypted and (decryption is None or decryption.secret_ref is None or keyring is None):
        names = ", ".join(_name(objects[i]) for i in encrypted)
        raise RenderError(
            DECRYPTION_FAILED,
            f"SOPS-encrypted objects ({names}) but spec.decryption.secretRef is not set",
        )
    if keyring is None:
        return objects
    out = list(objects)
    try:
        with keyring.session():
            for i, obj in enumerate(objects):
                if i in encrypted:
                    # kustomize may have changed labels or namespaces of the built object,
                    # which the MAC covers; like Flux, the MAC of built objects is not checked.
                    out[i] = sops.decrypt_document(
                        obj, keyring, source=_name(obj), verify_mac=False
                    )
                elif obj.get("kind") == "Secret" and isinstance(obj.get("data"), dict):
                    out[i] = _decrypt_secret_data(obj, keyring)
    except sops.DecryptionError as err:
        raise RenderError(DECRYPTION_FAILED, str(err)) from err
    return out


_DATA_FORMATS: tuple[fileformat.FileFormat, ...] = ("dotenv", "yaml", "json", "ini")


def _decrypt_secret_data(obj: JSON, keyring: sops.Keyring) -> JSON:
    """A Secret whose data values that are whole sops files are decrypted, each written
    in the format its key's extension names (Flux's rule for generated Secrets)."""
    data: dict[str, Any] = obj["data"]
    changed: dict[str, Any] = {}
    for key, value in data.items():
        try:
            raw = base64.b64decode(value, validate=True) if isinstance(value, str) else b""
        except binascii.Error:
            continue  # the API server reports it
        found = next((f for f in _DATA_FORMATS if fileformat.has_sops_marker(raw, f)), None)
        if found is None:
            continue
        plain = sops.decrypt_file(
            raw,
            found,
            keyring,
            source=f"{_name(obj)} data '{key}'",
            output=fileformat.format_for_path(key),
        )
        changed[key] = base64.b64encode(plain).decode("ascii")
    return {**obj, "data": {**data, **changed}} if changed else obj


async def _variables(
    client: KubeClient, namespace: str, post: api.PostBuild
) -> substitute.Variables:
    """substituteFrom in order (later wins), then substitute on top, as Flux merges them.
    Values from Secrets stay marked secret, so no error message shows them."""
    sources: list[tuple[dict[str, str], bool]] = []
    for ref in post.substitute_from:
        found = await secrets.read(client, namespace, ref.name, ref.kind)
        where = f"{ref.kind} '{namespace}/{ref.name}'"
        if found is None and not ref.optional:
            raise RenderError(conditions.BUILD_FAILED, f"{where} not found")
        data: dict[str, str] = {}
        for key, value in (found or {}).items():
            try:
                data[key] = value.decode()
            except UnicodeDecodeError:
                raise RenderError(
                    conditions.BUILD_FAILED, f"key '{key}' of {where} is not UTF-8 text"
                ) from None
        sources.append((data, ref.kind == "Secret"))
    sources.append((dict(post.substitute), False))
    try:
        return substitute.merge_variables(sources)
    except errors.SubstitutionError as err:
        raise RenderError(conditions.BUILD_FAILED, str(err)) from err


def secret_values(objects: list[JSON]) -> list[str]:
    """The values of the Secrets a build made (decrypted ones included): wherever else
    they appear, they are secrets too."""
    found: list[str] = []
    for o in objects:
        if o.get("kind") != "Secret" or o.get("apiVersion") != "v1":
            continue
        for value in (o.get("stringData") or {}).values():
            found.append(str(value))
        for value in (o.get("data") or {}).values():
            try:
                found.append(base64.b64decode(str(value)).decode())
            except (binascii.Error, UnicodeDecodeError):
                continue  # not text: it cannot be quoted in a message as text either
    return found


def _name(obj: JSON) -> str:
    meta = obj.get("metadata") or {}
    where = f"{meta.get('namespace')}/" if meta.get("namespace") else ""
    return f"{obj.get('kind')}/{where}{meta.get('name')}"
