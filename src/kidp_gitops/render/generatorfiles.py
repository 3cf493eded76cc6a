"""SOPS-encrypted files that kustomize reads while it builds, decrypted before it runs.

kustomize-controller decrypts more than the objects a build outputs: before kustomize
runs, it walks the kustomization of `spec.path` and every local kustomization it reaches
through `resources` and `components`, and decrypts in its scratch copy

    secretGenerator  files:  the file after `=`, in the format of the *key* (before `=`)
    secretGenerator  envs:   dotenv, unless the name says yaml, json or ini
    patches          path:   in the format of its name (usually YAML)

A file is decrypted only when it carries the sops marker of that format; any other file
is left as it is. ConfigMap generators are never decrypted (a Secret's value must not
land in a ConfigMap). The same rules hold here; `decrypt` returns the plaintext of each
file by its real path, and the build writes them into its scratch mirror of the artifact
(the artifact itself is never written). Unlike a built object, a file is decrypted whole,
so its MAC is checked: a file changed after sops wrote it is refused.

Errors are :class:`~kidp_gitops.sops.native.DecryptionError`s whose source is the
file's path relative to the artifact root; they never hold a decrypted value.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kidp_gitops import sops
from kidp_gitops.goyaml import yamlio
from kidp_gitops.render import inputs, kustomization, reading
from kidp_gitops.sops import fileformat
from kidp_gitops.sops.fileformat import FileFormat

MAX_FILE_SIZE = 5 << 20
"""The largest encrypted file decrypted (Flux's limit)."""


@dataclass(frozen=True, slots=True)
class Source:
    """One file a kustomization may need decrypted."""

    path: Path
    """Its real path, inside the artifact root."""
    where: str
    """Its path relative to the root, for messages."""
    format: FileFormat


def sources(root: Path, directory: Path, text: str) -> list[Source]:
    """The files Flux would decrypt for the kustomization `text` of `directory` and the
    local kustomizations it reaches. `root` and `directory` are real paths; references
    are expected to have passed `inputs.collect` already, and any that leaves the root
    (or does not exist) is skipped here rather than reported twice."""
    walk = _Walk(root)
    walk.visit(directory, _document(text))
    return walk.found


def decrypt(found: list[Source], keyring: sops.Keyring) -> dict[Path, bytes]:
    """The plaintext of every source that sops encrypted, by real path."""
    plain: dict[Path, bytes] = {}
    with keyring.session():
        for source in found:
            if source.path in plain:
                continue
            data = _read(source)
            if data is None or not fileformat.has_sops_marker(data, source.format):
                continue
            if len(data) > MAX_FILE_SIZE:
                raise sops.DecryptionError(
                    source.where, f"is larger than the {MAX_FILE_SIZE >> 20} MiB a sops file may be"
                )
            plain[source.path] = sops.decrypt_file(
                data, source.format, keyring, source=source.where, verify_mac=True
            )
    return plain


def _read(source: Source) -> bytes | None:
    try:
        if not source.path.is_file():
            return None  # kustomize reports a directory or a special file in its place
        return reading.read(source.path, source.where)
    except OSError:
        return None


def _document(text: str | bytes) -> Any:
    try:
        docs = [doc for doc in yamlio.load_text_tree(text) if doc is not None]
    except yaml.YAMLError:
        return None  # the build reports it
    return docs[0] if len(docs) == 1 and isinstance(docs[0], dict) else None


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        yield from (item for item in value if isinstance(item, str))


def _mappings(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, list):
        yield from (item for item in value if isinstance(item, dict))


class _Walk:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.visited: set[Path] = set()
        self.found: list[Source] = []

    def visit(self, directory: Path, doc: Any) -> None:
        self.visited.add(directory)
        if not isinstance(doc, dict):
            return
        for generator in _mappings(doc.get("secretGenerator")):
            for entry in _strings(generator.get("files")):
                key, sep, path = entry.partition("=")
                self.add(directory, path if sep else key, fileformat.format_for_path(key))
            for entry in (*_strings(generator.get("envs")), *_strings(generator.get("env"))):
                fmt = fileformat.format_for_path(entry)
                self.add(directory, entry, "dotenv" if fmt == "binary" else fmt)
        for patch in _mappings(doc.get("patches")):
            for entry in _strings(patch.get("path")):
                if not kustomization.is_remote(entry):
                    self.add(directory, entry, fileformat.format_for_path(entry))
        for name in ("resources", "components"):
            for entry in _strings(doc.get(name)):
                if not kustomization.is_remote(entry):
                    self.enter(directory, entry)

    def local(self, directory: Path, entry: str) -> Path | None:
        if os.path.isabs(entry):
            return None
        real = Path(os.path.realpath(directory / entry))
        return real if inputs.within(real, self.root) and real.exists() else None

    def add(self, directory: Path, entry: str, fmt: FileFormat) -> None:
        real = self.local(directory, entry)
        if real is not None:
            self.found.append(Source(real, inputs.relative(real, self.root), fmt))

    def enter(self, directory: Path, entry: str) -> None:
        real = self.local(directory, entry)
        if real is None or not real.is_dir() or real in self.visited:
            return
        found = kustomization.find(real)
        if found is None:
            self.visited.add(real)
            return
        try:
            text = reading.read(found, inputs.relative(found, self.root))
        except OSError:
            self.visited.add(real)
            return
        self.visit(real, _document(text))
