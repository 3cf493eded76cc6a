"""Build a path of an extracted artifact into objects, as kustomize-controller does.

    build(root, path, overlay, allow_remote_bases=…)   -> list of objects (dicts)
    digest(root, path, overlay)                         -> "sha256:…" of everything it reads

A build (1) resolves spec.path inside the artifact, (2) takes the directory's
kustomization, or generates one, and writes the overlay into it, (3) follows every
reference to check that none leaves the artifact and, unless allowed, that none is
remote, (4) runs kustomize, in a scratch directory when the kustomization was generated
or amended (the artifact is never written), and (5) sets commonMetadata on the objects.
A directory of plain manifests, or a kustomization that only lists local resources, with
nothing to write into the kustomization, is read in process instead (`direct`), with the
same result and without starting kustomize.

Both functions do blocking file and process work; the controller runs them in a worker
thread (`asyncio.to_thread`). Errors are `errors.BuildError`s.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kidp_gitops import sops
from kidp_gitops.goyaml import yamlio
from kidp_gitops.render import (
    direct,
    errors,
    generatorfiles,
    inputs,
    kustomization,
    reading,
    runner,
)
from kidp_gitops.render.errors import BuildError
from kidp_gitops.render.overlay import CommonMetadata, Image, Overlay, Patch, PatchTarget

__all__ = [
    "BuildError",
    "CommonMetadata",
    "Image",
    "Overlay",
    "Patch",
    "PatchTarget",
    "build",
    "digest",
]

DEFAULT_TIMEOUT = 120.0
_DIGEST_FORMAT = b"kidp-kustomize-build/1"


def build(
    root: Path,
    path: str,
    overlay: Overlay,
    *,
    allow_remote_bases: bool,
    timeout: float = DEFAULT_TIMEOUT,
    keyring: sops.Keyring | None = None,
    kustomize: runner.Kustomize = runner.run,
) -> list[dict[str, Any]]:
    """The objects kustomize-controller would build from `path` of the artifact at `root`.
    With a `keyring` (spec.decryption is set), the SOPS-encrypted files kustomize reads
    are decrypted first (`generatorfiles`); a failure raises `sops.DecryptionError`.
    `kustomize` runs the program (tests hand in their own)."""
    plan = _plan(root, path, overlay, allow_remote=allow_remote_bases)
    objects = _in_process(plan, overlay)
    if objects is None:
        objects = _kustomize(plan, timeout, keyring, kustomize, network=allow_remote_bases)
    return _set_common_metadata(objects, overlay.common_metadata)


def _in_process(plan: _Plan, overlay: Overlay) -> list[dict[str, Any]] | None:
    """The objects read without kustomize (see `direct`), or None when only kustomize
    can build them. No generator is read in process, so no file needs decrypting."""
    if overlay.changes_kustomization():
        return None
    try:
        if plan.rendered.scan is not None:
            return direct.read(plan.rendered.scan, plan.directory, plan.root)
        if not plan.rendered.written:
            return direct.read_kustomization(plan.directory, plan.root)
    except direct.NeedsKustomize:
        pass
    return None


def digest(root: Path, path: str, overlay: Overlay) -> str:
    """A hash of exactly what `build` reads: the overlay, the kustomization it runs, and
    every file and kustomization directory its references reach (absent ones by name).
    Equal digests mean an equal build, except that remote bases are hashed by their
    URL only: with remote references present, their content can change unseen."""
    plan = _plan(root, path, overlay, allow_remote=True)
    hasher = hashlib.sha256()

    def feed(*parts: str | bytes) -> None:
        for part in parts:
            data = part.encode() if isinstance(part, str) else part
            hasher.update(len(data).to_bytes(8, "big") + data)

    feed(_DIGEST_FORMAT, plan.where, overlay.canonical(), plan.rendered.text)
    if plan.rendered.scan is not None:
        for candidate in plan.rendered.scan.candidates:
            feed("scanned", candidate.entry, _sha(candidate.data))
    for directory in sorted(plan.inputs.directories):
        names = kustomization.present(directory)
        feed("dir", inputs.relative(directory, plan.root), ",".join(names))
    for file in sorted(plan.inputs.files):
        try:
            content: bytes | None = reading.read(file, inputs.relative(file, plan.root))
        except OSError:
            content = None
        feed("file", inputs.relative(file, plan.root), _sha(content))
    for missing in sorted(plan.inputs.missing):
        feed("missing", missing)
    for remote in sorted(plan.inputs.remote):
        feed("remote", remote)
    return "sha256:" + hasher.hexdigest()


def _sha(data: bytes | None) -> str:
    return "unreadable" if data is None else hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class _Plan:
    root: Path
    """The artifact root, symlinks resolved."""
    directory: Path
    """spec.path, resolved; inside `root`."""
    where: str
    """spec.path relative to the root, for messages."""
    rendered: kustomization.Rendered
    inputs: inputs.Inputs


def _plan(root: Path, path: str, overlay: Overlay, *, allow_remote: bool) -> _Plan:
    real_root, directory = resolve(root, path)
    where = inputs.relative(directory, real_root)
    rendered = kustomization.render(directory, overlay, real_root)
    if rendered.source is None:
        top_where = f"{where} (generated kustomization)"
    else:
        top_where = inputs.relative(directory / rendered.source.name, real_root)
    try:
        docs = [doc for doc in yamlio.load_text_tree(rendered.text) if doc is not None]
    except yamlio.TooLarge as err:
        raise errors.InvalidKustomization(f"{top_where}: refused: {yamlio.describe(err)}") from err
    except yaml.YAMLError as err:
        raise errors.InvalidKustomization(
            f"{top_where}: not valid YAML: {yamlio.describe(err)}"
        ) from err
    if len(docs) > 1:
        raise errors.InvalidKustomization(f"{top_where}: holds more than one YAML document")
    found = inputs.collect(
        real_root, directory, docs[0] if docs else None, top_where, allow_remote=allow_remote
    )
    for file in found.files:  # kustomize reads them itself: held to the limit first
        reading.check(file, inputs.relative(file, real_root))
    return _Plan(real_root, directory, where, rendered, found)


def resolve(root: Path, path: str) -> tuple[Path, Path]:
    """The real artifact root and the real directory `path` names inside it."""
    real_root = Path(os.path.realpath(root))
    if not real_root.is_dir():
        raise errors.PathNotFound(f"the artifact at {root} is not a directory")
    spec = path or "./"
    if os.path.isabs(spec):
        raise errors.PathEscape(f"spec.path {path!r} is absolute; it must be relative")
    if not inputs.within(Path(os.path.normpath(real_root / spec)), real_root):
        raise errors.PathEscape(f"spec.path {path!r} climbs out of the artifact")
    directory = Path(os.path.realpath(real_root / spec))
    if not inputs.within(directory, real_root):
        raise errors.PathEscape(f"spec.path {path!r} leads out of the artifact through a symlink")
    if not directory.exists():
        raise errors.PathNotFound(f"spec.path {path!r} does not exist in the artifact")
    if not directory.is_dir():
        raise errors.PathNotFound(f"spec.path {path!r} is a file, not a directory")
    return real_root, directory


def _kustomize(
    plan: _Plan,
    timeout: float,
    keyring: sops.Keyring | None,
    kustomize: runner.Kustomize,
    *,
    network: bool,
) -> list[dict[str, Any]]:
    """Run kustomize on the plan; it sees the artifact and its scratch tree, nothing
    else, and the network only when remote bases are allowed."""
    replacements = {str(plan.root): ""}
    plain: dict[Path, bytes] = {}
    if keyring is not None:
        found = generatorfiles.sources(plan.root, plan.directory, plan.rendered.text)
        plain = generatorfiles.decrypt(found, keyring)
    if not plan.rendered.written and not plain:
        output = kustomize(
            plan.directory,
            timeout=timeout,
            replacements=replacements,
            readable=[plan.root],
            network=network,
        )
    else:
        with tempfile.TemporaryDirectory(prefix="kidp-kustomize-") as scratch:
            mirror = Path(scratch) / "src"
            target = _mirror(plan.root, plan.directory, mirror, plan.rendered.text, plain)
            replacements[str(mirror)] = ""
            replacements[os.path.realpath(mirror)] = ""
            output = kustomize(
                target,
                timeout=timeout,
                replacements=replacements,
                readable=[plan.root, mirror],
                network=network,
            )
    try:
        docs = yamlio.load_manifests(output)
    except yaml.YAMLError as err:
        raise BuildError(f"cannot read kustomize's output: {yamlio.describe(err)}") from err
    return [doc for doc in docs if isinstance(doc, dict)]


def _mirror(
    root: Path, directory: Path, mirror: Path, text: str, files: Mapping[Path, bytes]
) -> Path:
    """A scratch tree where `directory` holds `text` as its kustomization, each real path
    of `files` holds its new content, and everything else links into the artifact: only
    the directories from the root down to those are real, so relative references resolve
    exactly as in the artifact. A symlink that leads to a new file, or to a directory on
    the way to one, leads to the same place inside the mirror."""
    target = mirror / directory.relative_to(root)
    written = {mirror / path.relative_to(root): content for path, content in files.items()}
    towards = {d for path in written for d in path.parents if mirror in d.parents}
    real_dirs = {mirror, target, *towards, *(d for d in target.parents if mirror in d.parents)}
    redirect = towards | set(written)
    mirror.mkdir()
    pending = [(root, mirror)]
    while pending:
        real, copy = pending.pop()
        skip = set(kustomization.FILE_NAMES) if copy == target else set()
        for name in os.listdir(real):
            source, entry = real / name, copy / name
            if entry in real_dirs:
                entry.mkdir()
                pending.append((source, entry))
            elif entry in written:
                entry.write_bytes(written[entry])
            elif name not in skip:
                os.symlink(_link_target(source, root, mirror, redirect), entry)
    (target / "kustomization.yaml").write_text(text, encoding="utf-8")
    return target


def _link_target(source: Path, root: Path, mirror: Path, redirect: set[Path]) -> Path:
    if not redirect or not source.is_symlink():
        return source
    resolved = Path(os.path.realpath(source))
    if not inputs.within(resolved, root):
        return source
    inside = mirror / resolved.relative_to(root)
    return inside if inside in redirect else source


def _set_common_metadata(
    objects: list[dict[str, Any]], metadata: CommonMetadata | None
) -> list[dict[str, Any]]:
    """Flux's commonMetadata: the objects' own labels and annotations, nothing nested."""
    if not metadata:
        return objects
    for obj in objects:
        meta = obj.setdefault("metadata", {})
        for field, values in (("labels", metadata.labels), ("annotations", metadata.annotations)):
            if values:
                meta[field] = {**(meta.get(field) or {}), **values}
    return objects
