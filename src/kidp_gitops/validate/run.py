"""One validation run over a repository, offline: the order of the checks.

1. read every YAML file: syntax errors, duplicate keys (`documents`)
2. Flux objects against kidp's types (`flux`); patches as fragments
3. plaintext Secrets and sops files (`secrets`)
4. build each Kustomization of this repository (`builds`), then check every built
   object: Flux kinds against kidp's types, the rest against Kubernetes' schemas or
   a CRD of the repository (`schemas`); objects built twice for one cluster
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from kidp_gitops import sops
from kidp_gitops.api import kinds
from kidp_gitops.render import kustomization
from kidp_gitops.validate import builds, documents, flux, schemas, secrets
from kidp_gitops.validate.documents import Document, identity, mapping
from kidp_gitops.validate.findings import Finding, Report

DEFAULT_KUBERNETES_VERSION = "1.36"


@dataclass(frozen=True)
class Options:
    kubernetes_version: str = DEFAULT_KUBERNETES_VERSION
    sources: Sequence[str] = ()
    """Names of the GitRepositories that serve this repository (`--source`)."""
    keyring: sops.Keyring | None = None
    """Keys to decrypt sops files with, so their MACs are checked too."""


def validate(root: Path, options: Options = Options()) -> Report:
    """Every finding for the repository at `root`. Raises NotADirectoryError and
    schemas.UnsupportedVersion for what is wrong with the call itself."""
    if not root.is_dir():
        raise NotADirectoryError(f"{root} is not a directory")
    root = Path(os.path.realpath(root))
    catalog = schemas.Catalog(options.kubernetes_version)
    report = Report(str(root), catalog.version)
    paths = list(documents.walk(root))
    docs: list[Document] = []
    for path in paths:
        if path.suffix in documents.YAML_SUFFIXES:
            report.files += 1
            found, problems = documents.load_file(path, root)
            docs += found
            report.extend(problems)
    _check_documents(report, docs, catalog)
    for path in secrets.candidates(paths, docs, root):
        report.extend(secrets.sops_file(path, root, options.keyring))
    _check_builds(report, root, docs, catalog, options.sources)
    return report


def _check_documents(report: Report, docs: list[Document], catalog: schemas.Catalog) -> None:
    patches = _patch_files(docs)
    seen: dict[tuple[str, str], Document] = {}
    for doc in docs:
        report.extend(flux.check(doc, fragment=doc.file in patches))
        report.extend(secrets.plaintext(doc))
        if not doc.is_object or doc.file in patches or sops.is_encrypted(doc.data):
            continue
        if doc.data["kind"] == "CustomResourceDefinition":
            catalog.add_crd(doc.data)
        key = (str(PurePosixPath(doc.file).parent), _key(doc.data))
        if key in seen:
            first = seen[key]
            report.add(
                Finding(
                    doc.file,
                    doc.line,
                    "error",
                    "duplicate",
                    identity(doc.data),
                    f"declared twice in one directory (also at {first.file}:{first.line})",
                )
            )
        else:
            seen[key] = doc
    report.extend(flux.kubeconfig_maps(docs))


def _key(obj: Mapping[str, Any]) -> str:
    meta = mapping(obj, "metadata")
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    return f"{group}/{obj.get('kind')}/{meta.get('namespace') or ''}/{meta.get('name')}"


def _patch_files(docs: list[Document]) -> set[str]:
    """Files that kustomization files list as patches: partial objects."""
    found: set[str] = set()
    for doc in docs:
        if PurePosixPath(doc.file).name not in kustomization.FILE_NAMES:
            continue
        if not isinstance(doc.data, Mapping):
            continue
        here = PurePosixPath(doc.file).parent
        names: list[Any] = list(doc.data.get("patchesStrategicMerge") or [])
        for entry in [*(doc.data.get("patches") or []), *(doc.data.get("patchesJson6902") or [])]:
            if isinstance(entry, Mapping):
                names.append(entry.get("path"))
        for name in names:
            if isinstance(name, str) and "\n" not in name:
                found.add(os.path.normpath(here / name).replace(os.sep, "/"))
    return found


def _check_builds(
    report: Report,
    root: Path,
    docs: list[Document],
    catalog: schemas.Catalog,
    sources: Sequence[str],
) -> None:
    targets, findings = builds.targets(root, docs, sources)
    report.extend(findings)
    rendered = []
    for target in targets:
        result = builds.render(root, target)
        report.builds.append(target.label)
        report.extend(result.findings)
        rendered.append((target, result.objects))
        for obj in result.objects:
            if obj.get("kind") == "CustomResourceDefinition":
                catalog.add_crd(obj)
    by_name: dict[tuple[str, str], list[Document]] = {}
    patches = _patch_files(docs)
    for doc in docs:
        if (
            doc.file not in patches
            and doc.is_object
            and isinstance(doc.data.get("metadata"), Mapping)
        ):
            by_name.setdefault(
                (doc.data["kind"], str(doc.data["metadata"].get("name"))), []
            ).append(doc)
    built_by: dict[tuple[str, str], str] = {}
    skipped: set[tuple[str, str]] = set()
    for target, objects in rendered:
        for obj in objects:
            report.objects += 1
            source = _source_of(obj, by_name)
            _check_built(report, obj, target, source, catalog, skipped)
            key = (target.group, _key(obj))
            if key in built_by and built_by[key] != target.label:
                report.add(
                    Finding(
                        target.file,
                        target.line,
                        "error",
                        "duplicate",
                        identity(obj),
                        f"built by both {built_by[key]} and {target.label}: "
                        "they would fight over it",
                    )
                )
            built_by.setdefault(key, target.label)


def _source_of(
    obj: Mapping[str, Any], by_name: dict[tuple[str, str], list[Document]]
) -> Document | None:
    meta = mapping(obj, "metadata")
    found = by_name.get((str(obj.get("kind")), str(meta.get("name"))), [])
    exact = [d for d in found if d.data["metadata"].get("namespace") == meta.get("namespace")]
    if len(exact) == 1:
        return exact[0]
    return found[0] if len(found) == 1 else None


def _check_built(
    report: Report,
    obj: dict[str, Any],
    target: builds.Target,
    source: Document | None,
    catalog: schemas.Catalog,
    skipped: set[tuple[str, str]],
) -> None:
    subject = identity(obj)

    def at(path: str) -> tuple[str, int]:
        if source is None:
            return target.file, target.line
        return source.file, source.line_of(path) if path != "<object>" else source.line

    if source is None:
        report.extend(secrets.plaintext_built(obj, target.file, target.line, target.label))
    api_version = str(obj.get("apiVersion", ""))
    if kinds.is_ours(api_version):
        if kinds.model_for(api_version, str(obj.get("kind"))) is None:
            return  # reported by the Flux check of its file
        try:
            kinds.parse_object(obj)
        except kinds.ManifestError as err:
            for problem in err.problems:
                file, line = at(problem.partition(": ")[0])
                report.add_new(Finding(file, line, "error", "flux", subject, problem))
        return
    outcome = catalog.check(obj)
    if outcome.skipped:
        kind = (api_version, str(obj.get("kind")))
        if kind not in skipped:
            skipped.add(kind)
            file, line = at("kind")
            report.add(Finding(file, line, "skipped", "schema", subject, outcome.skipped))
        return
    if outcome.error:
        file, line = at("apiVersion")
        report.add(Finding(file, line, "error", "schema", subject, outcome.error))
        return
    for path, message in outcome.problems:
        file, line = at(path)
        report.add_new(Finding(file, line, "error", "schema", subject, message))
