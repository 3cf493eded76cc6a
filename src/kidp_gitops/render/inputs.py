"""Every file a build reads, found by following a kustomization's references, and the
rule that none of them lies outside the artifact.

Flux lets kustomize load files from anywhere in the artifact (LoadRestrictionsNone) but
gives it a filesystem that refuses anything outside. We run the kustomize program, which
has no such filesystem, so we walk the references first: resources, bases, components,
patches, generator files, replacements, crds, configurations, openapi and the file
fields of generator/transformer/validator configs. A reference that is absolute, climbs
out with `..`, or resolves through a symlink to somewhere else stops the build before
kustomize starts. Remote references are refused unless allowed, and then only recorded.

The same walk tells `digest` exactly which files a build depends on.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kidp_gitops.goyaml import yamlio
from kidp_gitops.render import errors, kustomization, reading

_FILE_LIST_FIELDS = ("crds", "configurations")
_PATH_ITEM_FIELDS = ("patches", "patchesJson6902", "replacements")
_PLUGIN_FIELDS = ("generators", "transformers", "validators")
_PLUGIN_KEYS = frozenset(
    {"path", "paths", "files", "envs", "env", "valuesFile", "additionalValuesFiles", "chartHome"}
)


@dataclass(frozen=True, slots=True)
class Inputs:
    """What a build reads: real paths of files and kustomization directories, referenced
    paths that do not exist (root-relative), and remote references."""

    files: frozenset[Path]
    directories: frozenset[Path]
    missing: frozenset[str]
    remote: frozenset[str]


def collect(root: Path, directory: Path, top: Any, where: str, *, allow_remote: bool) -> Inputs:
    """Follow the references of `top` (the kustomization of `directory`, as a text tree)
    and of every kustomization it reaches. `root` and `directory` must be real paths."""
    walk = _Walk(root, allow_remote)
    walk.visited.add(directory)
    walk.directories.add(directory)
    walk.kustomization(directory, top, where, plugin=False)
    walk.plugin_configs()
    return Inputs(
        frozenset(walk.files),
        frozenset(walk.directories),
        frozenset(walk.missing),
        frozenset(walk.remote),
    )


def within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def relative(path: Path, root: Path) -> str:
    return "." if path == root else path.relative_to(root).as_posix()


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        yield from (item for item in value if isinstance(item, str))


def _mappings(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, list):
        yield from (item for item in value if isinstance(item, dict))


@dataclass
class _Walk:
    root: Path
    allow_remote: bool
    files: set[Path] = field(default_factory=set)
    directories: set[Path] = field(default_factory=set)
    missing: set[str] = field(default_factory=set)
    remote: set[str] = field(default_factory=set)
    visited: set[Path] = field(default_factory=set)
    plugins: list[tuple[Path, Path, str]] = field(default_factory=list)

    def kustomization(self, directory: Path, doc: Any, where: str, *, plugin: bool) -> None:
        if doc is None:
            return
        if not isinstance(doc, dict):
            raise errors.InvalidKustomization(f"{where}: a kustomization must be a YAML mapping")
        for name in ("resources", "bases", "components"):
            for entry in _strings(doc.get(name)):
                self.reference(directory, entry, where, name, plugin=plugin, remote_ok=True)
        for name in _PATH_ITEM_FIELDS:
            for item in _mappings(doc.get(name)):
                for entry in _strings(item.get("path")):
                    self.reference(directory, entry, where, name)
        for entry in _strings(doc.get("patchesStrategicMerge")):
            if "\n" not in entry:
                self.reference(directory, entry, where, "patchesStrategicMerge")
        for name in ("configMapGenerator", "secretGenerator"):
            for item in _mappings(doc.get(name)):
                for entry in _strings(item.get("files")):
                    self.reference(directory, entry.partition("=")[2] or entry, where, name)
                for entry in (*_strings(item.get("envs")), *_strings(item.get("env"))):
                    self.reference(directory, entry, where, name)
        for name in _FILE_LIST_FIELDS:
            for entry in _strings(doc.get(name)):
                self.reference(directory, entry, where, name)
        openapi = doc.get("openapi")
        if isinstance(openapi, dict):
            for entry in _strings(openapi.get("path")):
                self.reference(directory, entry, where, "openapi")
        for name in ("helmCharts", "helmGlobals", "helmChartInflationGenerator"):
            self.plugin_keys(doc.get(name), [directory], where, name)
        for name in _PLUGIN_FIELDS:
            for entry in _strings(doc.get(name)):
                # An entry is a file, a directory, or an inline config (even on one line).
                if "\n" not in entry:
                    self.reference(directory, entry, where, name, plugin=True, remote_ok=True)
                if "\n" in entry or not os.path.lexists(directory / entry):
                    self.inline_plugin(entry, directory, where, name)

    def reference(
        self,
        directory: Path,
        entry: str,
        where: str,
        name: str,
        *,
        plugin: bool = False,
        remote_ok: bool = False,
    ) -> None:
        if remote_ok and kustomization.is_remote(entry):
            local = kustomization.local_target(entry)
            if local is not None:
                raise errors.PathEscape(
                    f"{where}: {name} entry {entry!r} {local}: it would read a repository "
                    "outside the artifact, which is never allowed"
                )
            if not self.allow_remote:
                raise errors.RemoteReference(
                    f"{where}: {name} entry {entry!r} is a remote reference, "
                    "and remote bases are not allowed"
                )
            self.remote.add(entry)
            return
        path = self.local(directory, entry, where, name)
        if path is None:
            return
        if path.is_dir():
            if remote_ok:
                self.kustomization_dir(path, plugin=plugin)
            return
        self.files.add(path)
        if plugin:
            self.plugins.append((path, directory, where))

    def local(self, directory: Path, entry: str, where: str, name: str) -> Path | None:
        """The real path of a local reference, None if it does not exist."""
        if "\0" in entry:  # no file has one; os.path.realpath raises ValueError on it
            raise errors.InvalidKustomization(f"{where}: {name} entry {entry!r} holds a NUL")
        if os.path.isabs(entry):
            raise errors.PathEscape(
                f"{where}: {name} entry {entry!r} is an absolute path; "
                "references must stay inside the artifact"
            )
        lexical = Path(os.path.normpath(directory / entry))
        real = Path(os.path.realpath(directory / entry))
        if not within(real, self.root):
            how = "climbs out of" if not within(lexical, self.root) else "is a symlink out of"
            raise errors.PathEscape(f"{where}: {name} entry {entry!r} {how} the artifact")
        if not real.exists():
            self.missing.add(relative(real, self.root))
            return None
        return real

    def kustomization_dir(self, directory: Path, *, plugin: bool) -> None:
        if directory in self.visited:
            return
        self.visited.add(directory)
        self.directories.add(directory)
        found = kustomization.find(directory)
        if found is None:
            return
        where = relative(directory / found.name, self.root)
        real = Path(os.path.realpath(found))
        if not within(real, self.root):
            raise errors.PathEscape(f"{where} is a symlink out of the artifact")
        self.files.add(real)
        docs = self.load(real, where)
        self.kustomization(directory, docs[0] if docs else None, where, plugin=plugin)

    def load(self, path: Path, where: str) -> list[Any]:
        try:
            data = reading.read(path, where)
            return [doc for doc in yamlio.load_text_tree(data) if doc is not None]
        except yamlio.TooLarge as err:
            raise errors.InvalidKustomization(f"{where}: refused: {yamlio.describe(err)}") from err
        except yaml.YAMLError as err:
            detail = yamlio.describe(err)
            raise errors.InvalidKustomization(f"{where}: not valid YAML: {detail}") from err

    def inline_plugin(self, text: str, directory: Path, where: str, name: str) -> None:
        try:
            docs = yamlio.load_text_tree(text)
        except yaml.YAMLError:
            return  # kustomize reports it
        for doc in docs:
            self.plugin_keys(doc, [directory], where, name)

    def plugin_configs(self) -> None:
        """Scan every plugin config file reached for the files it names; kustomize may
        resolve those against the kustomization or the config's own directory."""
        for path, directory, where in self.plugins:
            for doc in self.load(path, relative(path, self.root)):
                self.plugin_keys(doc, [directory, path.parent], where, "plugin config")

    def plugin_keys(self, value: Any, bases: Iterable[Path], where: str, name: str) -> None:
        bases = list(bases)
        if isinstance(value, dict):
            for key, item in value.items():
                if key in _PLUGIN_KEYS:
                    for entry in _strings(item):
                        target = entry.partition("=")[2] if key == "files" else ""
                        for base in bases:
                            self.reference(base, target or entry, where, f"{name} {key}")
                self.plugin_keys(item, bases, where, name)
        elif isinstance(value, list):
            for item in value:
                self.plugin_keys(item, bases, where, name)
