"""The kustomization file a build runs: the one in the directory, amended with Flux's
overlay fields, or one generated the way Flux generates it.

Generation walks the directory in lexical order, as Go's filepath.Walk does: a
sub-directory holding a kustomization file is listed whole and not entered; `.yaml` and
`.yml` files are listed when they hold Kubernetes manifests. Unlike Flux, which stops
with "failed to decode Kubernetes YAML" on a file like `.sops.yaml` or `.gitlab-ci.yml`,
a file none of whose documents looks like an object (no `kind`, nor `apiVersion` with
`metadata`) is left out; a file that cannot be parsed, or that looks like an object with
a mistake in it, stays in, so kustomize reports it rather than the object being pruned.

Amending edits the parsed node tree, so every value the user wrote keeps its exact
spelling (kustomize reads `newTag: 1.20` differently from `newTag: "1.20"`).
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from kidp_gitops.goyaml import yamlio
from kidp_gitops.render import errors, reading
from kidp_gitops.render.overlay import Overlay

FILE_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
"""The names kustomize recognises, in the order Flux looks for them."""

API_VERSION = "kustomize.config.k8s.io/v1beta1"
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_MAP_TAG = "tag:yaml.org,2002:map"
_REMOTE = re.compile(
    r"^(?:git::|[A-Za-z][A-Za-z0-9+.-]*://|[^/\s:@]+@[^/\s:]+:|(?:www\.)?github\.com[/:])"
)


def find(directory: Path) -> Path | None:
    """The kustomization file of a directory, if it has one."""
    for name in FILE_NAMES:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


def present(directory: Path) -> list[str]:
    """Every kustomization file name present (kustomize refuses more than one)."""
    return [name for name in FILE_NAMES if (directory / name).is_file()]


def is_remote(entry: str) -> bool:
    """Whether kustomize would fetch this resources/components entry over the network."""
    return _REMOTE.match(entry) is not None


def local_target(entry: str) -> str | None:
    """Why a remote-looking entry would in fact read this machine (None when it would
    not): a file URL, a local path behind `git::`, or a loopback host. kustomize runs on
    the engine's host, next to the engine's mirrors of every tenant's repositories and
    its own servers, so none of these is a remote base."""
    rest = entry.removeprefix("git::")
    if rest.startswith("file:"):
        return "is a file URL"
    if rest != entry and not _REMOTE.match(rest):
        return "is a local path behind git::"
    host = _host(rest)
    if host is not None and _loopback(host):
        return f"names this machine ({host})"
    return None


_URL_HOST = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://(?:[^@/?#]*@)?(\[[^\]]*\]|[^:/?#]*)")
_SCP_HOST = re.compile(r"^[^/\s:@]+@([^/\s:]+):")


def _host(url: str) -> str | None:
    found = _URL_HOST.match(url) or _SCP_HOST.match(url)
    return found.group(1).strip("[]").lower() if found else None


def _loopback(host: str) -> bool:
    """Whether `host`, as written, names this machine. Literal forms only, the legacy
    ones included (127.1, 2130706433, 0x7f000001, ::ffff:127.0.0.1, a trailing dot): a
    DNS name that resolves here is not seen — with remote bases off, a build has no
    network at all (docs/security.md)."""
    host = host.rstrip(".")
    if host in ("localhost", "ip6-localhost", "ip6-loopback") or host.endswith(".localhost"):
        return True
    address: ipaddress.IPv4Address | ipaddress.IPv6Address
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        try:  # the forms C's inet_aton accepts, as git's and Go's resolvers may
            address = ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback or address.is_unspecified or address.is_link_local


@dataclass(frozen=True)
class Candidate:
    """A `.yaml`/`.yml` file found while generating, with its bytes (None if unreadable)."""

    entry: str
    path: Path
    data: bytes | None

    @cached_property
    def documents(self) -> list[Any] | None:
        """The file's objects as kustomize reads them, or None when only kustomize can
        read it faithfully (see `yamlio.load_manifests`)."""
        if self.data is None:
            return None
        try:
            return yamlio.load_manifests(self.data, strict=True)
        except (yaml.YAMLError, yamlio.Unsupported):
            return None

    @cached_property
    def is_manifest(self) -> bool:
        """Whether generation lists the file (see the module docstring)."""
        if self.data is None:
            return True
        if self.documents is not None:
            return not self.documents or any(is_object_like(d) for d in self.documents)
        return looks_like_manifests(self.data)


@dataclass(frozen=True, slots=True)
class Scan:
    """What generation found: resources entries in order (files and kustomization
    directories, spelt `./a/b.yaml` as Flux spells them) and every YAML file it read."""

    entries: tuple[str | Candidate, ...]

    @property
    def candidates(self) -> tuple[Candidate, ...]:
        return tuple(e for e in self.entries if isinstance(e, Candidate))

    def resources(self) -> list[str]:
        """The generated `resources` list."""
        return [
            e if isinstance(e, str) else e.entry
            for e in self.entries
            if isinstance(e, str) or e.is_manifest
        ]


def scan(directory: Path, root: Path) -> Scan:
    """Walk `directory` as Flux does when it generates a kustomization. A file that
    resolves outside `root` is not read (the reference check then refuses it)."""
    return Scan(tuple(_walk(directory, ".", root)))


def _walk(directory: Path, prefix: str, root: Path) -> Iterator[str | Candidate]:
    with os.scandir(directory) as listing:
        entries = sorted(listing, key=lambda e: e.name)
    for entry in entries:
        rel = f"{prefix}/{entry.name}"
        if entry.is_dir(follow_symlinks=False):
            if find(Path(entry.path)) is not None:
                yield rel
            else:
                yield from _walk(Path(entry.path), rel, root)
        elif entry.name.endswith((".yaml", ".yml")):
            real = Path(os.path.realpath(entry.path))
            data: bytes | None = None
            if real == root or root in real.parents:
                try:
                    data = reading.read(real, Path(os.path.relpath(real, root)).as_posix())
                except OSError:
                    data = None
            yield Candidate(rel, Path(entry.path), data)


def looks_like_manifests(data: bytes) -> bool:
    """False only for YAML that parses and holds nothing resembling a Kubernetes object."""
    try:
        docs = yamlio.load_text_tree(data)
    except yaml.YAMLError:
        return True
    present = [doc for doc in docs if doc is not None]
    return not present or any(is_object_like(doc) for doc in present)


def is_object_like(doc: Any) -> bool:
    return isinstance(doc, dict) and ("kind" in doc or ("apiVersion" in doc and "metadata" in doc))


@dataclass(frozen=True, slots=True)
class Rendered:
    """The kustomization a build runs for a directory."""

    text: str
    """Its text."""
    written: bool
    """Whether it differs from the directory's own file (generated or amended), so a
    build must write it into a scratch copy rather than use the directory as it is."""
    source: Path | None
    """The directory's kustomization file, or None when generated."""
    scan: Scan | None
    """The generation walk, when generated."""


def render(directory: Path, overlay: Overlay, root: Path) -> Rendered:
    """The kustomization for `directory` with the overlay applied, Flux's way. `root`
    and `directory` are real paths; `directory` lies inside `root`."""
    source = find(directory)
    if source is None:
        found = scan(directory, root)
        doc: dict[str, Any] = {
            "apiVersion": API_VERSION,
            "kind": "Kustomization",
            "resources": found.resources(),
        }
        text: str = yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=2**30)
        if not overlay.changes_kustomization():
            return Rendered(text, True, None, found)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        assert isinstance(node, MappingNode)
        _amend(node, overlay, directory)
        return Rendered(_serialize(node), True, None, found)
    where = Path(os.path.relpath(source, root)).as_posix()
    real = Path(os.path.realpath(source))
    if real != root and root not in real.parents:
        raise errors.PathEscape(f"{where} is a symlink out of the artifact")
    text = reading.read(source, where).decode("utf-8", errors="replace")
    try:
        # Bounded (yamlio.TooLarge): the reference walk that follows is recursive, and
        # exponential in a few hundred bytes of nested aliases.
        node = yamlio.compose(text)
    except yamlio.TooLarge as err:
        raise errors.InvalidKustomization(f"{where}: refused: {yamlio.describe(err)}") from err
    except yaml.YAMLError as err:
        raise errors.InvalidKustomization(
            f"{where}: not valid YAML: {yamlio.describe(err)}"
        ) from err
    if node is None:
        node = MappingNode(_MAP_TAG, [])
    if not isinstance(node, MappingNode):
        raise errors.InvalidKustomization(f"{where}: a kustomization must be a YAML mapping")
    if not overlay.changes_kustomization() and not _is_empty(node):
        return Rendered(text, False, source, None)
    _amend(node, overlay, directory)
    return Rendered(_serialize(node), True, source, None)


def _amend(root: MappingNode, overlay: Overlay, directory: Path) -> None:
    if overlay.target_namespace:
        _set(root, "namespace", overlay.target_namespace)
    if overlay.name_prefix:
        _set(root, "namePrefix", overlay.name_prefix)
    if overlay.name_suffix:
        _set(root, "nameSuffix", overlay.name_suffix)
    for patch in overlay.patches:
        _list(root, "patches").value.append(_node(patch.to_kustomize()))
    for image in overlay.images:
        images = _list(root, "images")
        new = _node(image.to_kustomize())
        for i, item in enumerate(images.value):
            if isinstance(item, MappingNode) and _scalar(item, "name") == image.name:
                images.value[i] = new
                break
        else:
            images.value.append(new)
    for component in overlay.components:
        if os.path.isabs(component) or is_remote(component) or component.startswith("file:"):
            raise errors.PathEscape(
                f"spec.components entry {component!r} must be a local path relative to spec.path"
            )
        if overlay.ignore_missing_components and not os.path.exists(directory / component):
            continue
        _list(root, "components").value.append(_node(component))
    if _is_empty(root):
        _set_node(root, "resources", SequenceNode("tag:yaml.org,2002:seq", []))


def _is_empty(root: MappingNode) -> bool:
    """kustomize refuses a kustomization with nothing but apiVersion and kind in it."""
    return all(_key(k) in ("apiVersion", "kind") for k, _ in root.value)


def _key(node: Node) -> str | None:
    return node.value if isinstance(node, ScalarNode) else None


def _scalar(mapping: MappingNode, key: str) -> str | None:
    for k, v in mapping.value:
        if _key(k) == key and isinstance(v, ScalarNode):
            return str(v.value)
    return None


def _node(value: Any) -> Node:
    node = yaml.compose(
        yaml.safe_dump(value, allow_unicode=True, width=2**30), Loader=yaml.SafeLoader
    )
    assert node is not None
    return node


def _set(root: MappingNode, key: str, value: str) -> None:
    _set_node(root, key, _node(value))


def _set_node(root: MappingNode, key: str, value: Node) -> None:
    for i, (k, _) in enumerate(root.value):
        if _key(k) == key:
            root.value[i] = (k, value)
            return
    root.value.append((_node(key), value))


def _list(root: MappingNode, key: str) -> SequenceNode:
    for k, v in root.value:
        if _key(k) == key:
            if isinstance(v, SequenceNode):
                return v
            if isinstance(v, ScalarNode) and v.tag == "tag:yaml.org,2002:null":
                break
            raise errors.InvalidKustomization(f"the kustomization's {key!r} must be a list")
    seq = SequenceNode("tag:yaml.org,2002:seq", [])
    _set_node(root, key, seq)
    return seq


def _serialize(node: Node) -> str:
    text: str = yaml.serialize(node, Dumper=yaml.SafeDumper, allow_unicode=True, width=2**30)
    return text
