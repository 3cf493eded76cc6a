"""What the repository's Kustomizations would build, with the controller's own build.

    targets(root, documents, sources)   the builds to check: each Flux Kustomization whose
                                        source is this repository, or, when there is none,
                                        every directory holding a kustomization file
    render(root, target)                the built objects, substituted with the inline
                                        `spec.postBuild.substitute` values

Which GitRepository is "this repository" cannot be known offline. With `sources` (the
`--source` names) a Kustomization whose sourceRef names one of them is this repository's;
without, any Kustomization whose sourceRef is a GitRepository and whose `spec.path`
exists here is assumed to be. Remote bases are not fetched (no network): such a build is
reported as skipped. Variables that only `substituteFrom` can set are reported as a
warning and left as written (`${name}`); schema checks ignore the values that hold them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from kidp_gitops.api import kinds
from kidp_gitops.api import kustomize as api
from kidp_gitops.render import build, errors, kustomization, substitute
from kidp_gitops.render.overlay import Overlay
from kidp_gitops.validate.documents import Document, identity, relative, walk
from kidp_gitops.validate.findings import Finding, Severity

_MAX_UNRESOLVED = 200


@dataclass(frozen=True)
class Target:
    """One build to check and where it is declared."""

    label: str
    file: str
    line: int
    path: str
    overlay: Overlay
    group: str
    """The directory of the declaring file: Kustomizations declared side by side are
    applied to one cluster, so an object built twice among them is a conflict."""
    post_build: api.PostBuild | None = None


@dataclass
class Rendered:
    objects: list[dict[str, Any]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


def targets(
    root: Path, documents: Sequence[Document], sources: Sequence[str]
) -> tuple[list[Target], list[Finding]]:
    found: list[Target] = []
    findings: list[Finding] = []
    for doc in documents:
        if not doc.is_object or doc.data["kind"] != "Kustomization":
            continue
        if not kinds.is_ours(doc.data["apiVersion"]):
            continue
        try:
            obj = kinds.parse_object(doc.data)
        except kinds.ManifestError:
            continue  # reported by the Flux check
        if not isinstance(obj, api.Kustomization):
            continue
        target, finding = _from_kustomization(root, doc, obj, sources)
        if target is not None:
            found.append(target)
        if finding is not None:
            findings.append(finding)
    if not found and not any(f.severity == "error" for f in findings):
        found = _kustomization_directories(root)
    return found, findings


def _from_kustomization(
    root: Path, doc: Document, obj: api.Kustomization, sources: Sequence[str]
) -> tuple[Target | None, Finding | None]:
    spec = obj.spec
    subject = identity(doc.data)
    ref = spec.source_ref
    line = doc.line_of("spec.sourceRef")
    if ref.kind != "GitRepository" or (sources and ref.name not in sources):
        why = f"its source is {ref.kind} {ref.name}, not this repository"
        return None, Finding(doc.file, line, "skipped", "build", subject, why)
    path = spec.effective_path()
    exists = (root / path).is_dir() and not PurePosixPath(path).is_absolute()
    if not exists:
        if sources:
            message = f"spec.path {path!r} is not a directory of this repository"
            return None, Finding(
                doc.file, doc.line_of("spec.path"), "error", "build", subject, message
            )
        message = (
            f"spec.path {path!r} is not in this repository: assumed to build another one "
            "(name this repository's GitRepository with --source to make it an error)"
        )
        return None, Finding(
            doc.file, doc.line_of("spec.path"), "skipped", "build", subject, message
        )
    target = Target(
        label=subject,
        file=doc.file,
        line=doc.line,
        path=path,
        overlay=Overlay.from_spec(spec),
        group=str(PurePosixPath(doc.file).parent),
        post_build=spec.post_build,
    )
    return target, None


def _kustomization_directories(root: Path) -> list[Target]:
    found = []
    for path in walk(root):
        if path.name in kustomization.FILE_NAMES:
            where = relative(path.parent, root) if path.parent != root else "."
            found.append(
                Target(
                    label=f"kustomization {where}",
                    file=relative(path, root),
                    line=1,
                    path=where,
                    overlay=Overlay(),
                    group=f"<directory {where}>",
                )
            )
    return found


def render(root: Path, target: Target) -> Rendered:
    """Build one target, then substitute what can be substituted offline."""
    out = Rendered()

    def finding(severity: Severity, message: str) -> None:
        out.findings.append(
            Finding(target.file, target.line, severity, "build", target.label, message)
        )

    try:
        objects = build.build(root, target.path, target.overlay, allow_remote_bases=False)
    except errors.RemoteReference as err:
        finding("skipped", f"not built offline: {err}")
        return out
    except errors.BuildError as err:
        finding("error", f"build failed: {err}")
        return out
    post = target.post_build
    if post is None:
        out.objects = objects
        return out
    values = dict(post.substitute)
    unresolved: list[str] = []
    for obj in objects:
        while True:
            try:
                (done,) = substitute.substitute([obj], substitute.Variables.of(values))
                out.objects.append(done)
                break
            except errors.VariableNotSet as err:
                if len(unresolved) >= _MAX_UNRESOLVED:
                    finding("error", str(err))
                    break
                unresolved.append(err.variable)
                values[err.variable] = "${" + err.variable + "}"
            except errors.SubstitutionError as err:
                finding("error", str(err))
                break
    if unresolved:
        names = ", ".join(sorted(set(unresolved)))
        if post.substitute_from:
            sources = ", ".join(f"{r.kind} {r.name}" for r in post.substitute_from)
            finding(
                "warning",
                f"variables not set inline, left unresolved (they may come from "
                f"substituteFrom {sources}, which is not read offline): {names}",
            )
        else:
            finding(
                "error",
                f"variables set nowhere and without a default (the build fails): {names}",
            )
    return out
