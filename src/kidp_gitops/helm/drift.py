"""Drift of a release: the objects of its manifest, as Helm stored it, against the cluster.

    await detect(client, mapper, manifest, release, namespace, ignore) -> list[Drift]
    await correct(client, drifts) -> None                      re-applies them

Each object of the release manifest is read from the cluster. One that is gone has
drifted (correcting creates it from the manifest). One that is there is compared with a
server-side apply dry-run of the manifest's object under Helm's own field manager
(`helm`, forced): if the dry-run would change anything, a person or another controller
changed a field the chart sets. Each object carries what Helm adds when it applies and
the stored manifest lacks: the `app.kubernetes.io/managed-by: Helm` label and the
`meta.helm.sh/release-name` and `-namespace` annotations. Status and bookkeeping
metadata are left out of the compare. At the `ignore` rules' JSON pointers the applied
object carries the live values, so those fields neither count as drift nor change when
drift is corrected (and Helm does not give them up). Correcting applies that object for
real, under the same field manager, so Helm keeps owning its fields and the next
`helm upgrade` meets no conflict.

A drift names the object and the JSON pointers that differ, never a value: a release
holds Secrets.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from kidp_gitops.api import helm as api
from kidp_gitops.kube.client import JSON, KubeClient
from kidp_gitops.kube.errors import ApiError
from kidp_gitops.kube.mapper import RestMapper, UnknownKind

HELM_FIELD_MANAGER = "helm"
"""The field manager helm v4 applies with (its program's name)."""
MANAGED_BY = ("app.kubernetes.io/managed-by", "Helm")
RELEASE_NAME_ANNOTATION = "meta.helm.sh/release-name"
RELEASE_NAMESPACE_ANNOTATION = "meta.helm.sh/release-namespace"
MAX_POINTERS = 5
_BOOKKEEPING = ("managedFields", "resourceVersion", "generation", "uid", "creationTimestamp")


class DriftError(Exception):
    """The release's objects could not be read or compared; the message says which."""


@dataclass(frozen=True)
class Drift:
    ref: str
    """Kind/namespace/name (Kind/name when cluster-scoped)."""
    path: str
    desired: JSON
    """The manifest's object, without the ignored paths: what correcting applies."""
    missing: bool
    pointers: tuple[str, ...]

    def describe(self) -> str:
        if self.missing:
            return f"{self.ref} is missing"
        shown = ", ".join(self.pointers[:MAX_POINTERS])
        more = len(self.pointers) - MAX_POINTERS
        return f"{self.ref} changed at {shown}" + (f" and {more} more" if more > 0 else "")


def objects(manifest: str) -> list[JSON]:
    """The objects of a release manifest (Helm joins them with '---')."""
    try:
        docs = list(yaml.safe_load_all(manifest))
    except yaml.YAMLError as err:
        raise DriftError("the stored release manifest is not valid YAML") from err
    return [d for d in docs if isinstance(d, dict) and d.get("kind")]


async def detect(
    client: KubeClient,
    mapper: RestMapper,
    manifest: str,
    release: str,
    namespace: str,
    ignore: list[api.IgnoreRule],
) -> list[Drift]:
    found = []
    for obj in objects(manifest):
        meta = obj.setdefault("metadata", {})
        key, value = MANAGED_BY
        meta["labels"] = {**(meta.get("labels") or {}), key: value}
        meta["annotations"] = {
            **(meta.get("annotations") or {}),
            RELEASE_NAME_ANNOTATION: release,
            RELEASE_NAMESPACE_ANNOTATION: namespace,
        }
        drift = await _check(client, mapper, obj, namespace, ignore)
        if drift is not None:
            found.append(drift)
    return found


async def correct(client: KubeClient, drifts: list[Drift]) -> None:
    for drift in drifts:
        try:
            await client.apply(
                drift.path, drift.desired, field_manager=HELM_FIELD_MANAGER, force=True
            )
        except ApiError as err:
            raise DriftError(f"could not correct {drift.ref}: {err}") from err


async def _check(
    client: KubeClient, mapper: RestMapper, obj: JSON, namespace: str, ignore: list[api.IgnoreRule]
) -> Drift | None:
    desired = copy.deepcopy(obj)
    meta = desired.setdefault("metadata", {})
    try:
        resource = await mapper.resource_for(desired)
    except UnknownKind as err:
        raise DriftError(f"unknown kind {desired.get('apiVersion')}/{desired['kind']}") from err
    if resource.namespaced:
        meta["namespace"] = meta.get("namespace") or namespace
    ref = "/".join(
        [desired["kind"], *([meta["namespace"]] if resource.namespaced else []), meta["name"]]
    )
    pointers = [p for rule in ignore if _selects(rule.target, desired) for p in rule.paths]
    path = resource.path(meta.get("namespace"), meta["name"])
    try:
        live = await client.get(path)
    except ApiError as err:
        if err.not_found:
            return Drift(ref, path, desired, missing=True, pointers=())
        raise DriftError(f"could not read {ref}: {err}") from err
    for pointer in pointers:
        _take(desired, live, pointer)
    try:
        would_be = await client.apply(
            path, desired, field_manager=HELM_FIELD_MANAGER, force=True, dry_run=True
        )
    except ApiError as err:
        raise DriftError(f"could not dry-run {ref}: {err}") from err
    differ = list(_differences(_comparable(live, pointers), _comparable(would_be, pointers)))
    if not differ:
        return None
    return Drift(ref, path, desired, missing=False, pointers=tuple(differ))


def _comparable(obj: JSON, pointers: list[str]) -> JSON:
    out = copy.deepcopy(obj)
    out.pop("status", None)
    meta = out.get("metadata") or {}
    for key in _BOOKKEEPING:
        meta.pop(key, None)
    for pointer in pointers:
        _remove(out, pointer)
    return out


def _differences(a: Any, b: Any, at: str = "") -> Iterator[str]:
    """JSON pointers where `a` and `b` differ (the shallowest that do)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            yield from _differences(a.get(key), b.get(key), f"{at}/{_escape(str(key))}")
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            yield from _differences(x, y, f"{at}/{i}")
    elif a != b:
        yield at or "/"


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _tokens(pointer: str) -> list[str]:
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer.split("/")[1:]]


def _take(desired: JSON, live: JSON, pointer: str) -> None:
    """Give `desired` the live value at `pointer` (or none, when live has none)."""
    tokens = _tokens(pointer)
    node: Any = live
    for token in tokens:
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            _remove(desired, pointer)
            return
    target: Any = desired
    for token in tokens[:-1]:
        if isinstance(target, dict):
            target = target.setdefault(token, {})
        elif isinstance(target, list) and token.isdigit() and int(token) < len(target):
            target = target[int(token)]
        else:
            return
    if isinstance(target, dict) and tokens:
        target[tokens[-1]] = copy.deepcopy(node)
    elif (
        isinstance(target, list)
        and tokens
        and tokens[-1].isdigit()
        and int(tokens[-1]) < len(target)
    ):
        target[int(tokens[-1])] = copy.deepcopy(node)


def _remove(obj: JSON, pointer: str) -> None:
    """Delete the value at a JSON pointer, if there is one."""
    tokens = _tokens(pointer)
    node: Any = obj
    for token in tokens[:-1]:
        if isinstance(node, dict):
            node = node.get(token)
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return
    if not tokens:
        return
    last = tokens[-1]
    if isinstance(node, dict):
        node.pop(last, None)
    elif isinstance(node, list) and last.isdigit() and int(last) < len(node):
        del node[int(last)]


def _selects(target: Any, obj: JSON) -> bool:
    """Whether an ignore rule's target (a kustomize selector) selects `obj`; no target
    selects everything. Group, version and kind match exactly, name and namespace as
    regular expressions; label and annotation selectors are `key=value` lists."""
    if target is None:
        return True
    group, _, version = str(obj.get("apiVersion", "")).rpartition("/")
    meta = obj.get("metadata") or {}
    checks = [
        (target.group, group, False),
        (target.version, version, False),
        (target.kind, obj.get("kind"), False),
        (target.name, meta.get("name"), True),
        (target.namespace, meta.get("namespace"), True),
    ]
    for wanted, actual, regex in checks:
        if wanted is None:
            continue
        if regex and not re.fullmatch(wanted, str(actual or "")):
            return False
        if not regex and wanted != actual:
            return False
    return _matches(target.label_selector, meta.get("labels")) and _matches(
        target.annotation_selector, meta.get("annotations")
    )


def _matches(selector: str | None, values: dict[str, str] | None) -> bool:
    if not selector:
        return True
    values = values or {}
    for term in (t.strip() for t in selector.split(",")):
        if "!=" in term:
            key, _, value = term.partition("!=")
            if values.get(key.strip()) == value.strip():
                return False
        elif "=" in term:
            key, _, value = term.partition("=")
            if values.get(key.strip()) != value.strip().lstrip("="):
                return False
        elif term and term.startswith("!"):
            if term[1:] in values:
                return False
        elif term and term not in values:
            return False
    return True
