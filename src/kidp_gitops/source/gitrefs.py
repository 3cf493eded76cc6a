"""Which commit a GitRepository's `spec.ref` means, read from one `git ls-remote`.

A `Ref` mirrors `spec.ref`: when several fields are set, commit wins over name, name over
semver, semver over tag, tag over branch, as in Flux. An empty Ref means the remote's
default branch (its HEAD). `Ref.ls_remote_args` and `Ref.patterns` say what to ask the
remote for, and `resolve` reads the answer into a `Revision`, whose str() is Flux's
revision format:
`main@sha1:<id>`, `v1.2.0@sha1:<id>`, `refs/pull/1/head@sha1:<id>`, or `sha1:<id>`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kidp_gitops.vcs import giterrors, semver

_COMMIT = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
# What git check-ref-format forbids, plus a leading dash (it would read as an option).
_BAD_REF = re.compile(r"(^-|\.\.|[\x00-\x20\x7f~^:?*\[\\]|@\{|/$|\.lock$|^/|//|\.$)")


@dataclass(frozen=True)
class Ref:
    branch: str | None = None
    tag: str | None = None
    semver: str | None = None
    name: str | None = None
    commit: str | None = None

    @property
    def kind(self) -> str:
        """The field that decides: commit, name, semver, tag, branch, or head."""
        for kind in ("commit", "name", "semver", "tag", "branch"):
            if getattr(self, kind):
                return kind
        return "head"

    def describe(self) -> str:
        match self.kind:
            case "commit":
                return f"commit '{self.commit}'"
            case "name":
                return f"reference '{self.name}'"
            case "semver":
                return f"semver range '{self.semver}'"
            case "tag":
                return f"tag '{self.tag}'"
            case "branch":
                return f"branch '{self.branch}'"
        return "the default branch (HEAD)"

    def validate(self) -> None:
        """Raise giterrors.InvalidRef when the spec cannot name anything."""
        kind = self.kind
        if kind == "commit":
            if not _COMMIT.match(self.commit or ""):
                raise giterrors.InvalidRef(
                    f"commit '{self.commit}' is not a full commit id"
                    " (40 or 64 lower-case hex digits)"
                )
            if self.branch:
                _check_name(self.branch, "branch")
        elif kind == "semver":
            semver.parse_range(self.semver or "")
        elif kind == "name":
            name = self.name or ""
            if name != "HEAD" and not name.startswith("refs/"):
                raise giterrors.InvalidRef(
                    f"reference '{name}' must be a full name like refs/heads/main"
                )
            _check_name(name, "reference")
        elif kind in ("tag", "branch"):
            _check_name(getattr(self, kind), kind)

    def ls_remote_args(self) -> list[str]:
        """The options of `git ls-remote` for this ref; they go before the URL, and
        `patterns` after it. One call answers for the ref, in one round trip; `--heads`
        and `--tags` also let the server send only that part of its refs."""
        match self.kind:
            case "commit":
                return ["--heads"] if self.branch else []
            case "semver" | "tag":
                return ["--tags"]
            case "branch":
                return ["--heads"]
            case "head":
                return ["--symref"]
        return []

    def patterns(self) -> list[str]:
        """Exact ref names; `^{}` asks for an annotated tag's commit too."""
        match self.kind:
            case "commit":
                return [f"refs/heads/{self.branch}"] if self.branch else ["HEAD"]
            case "name":
                return [self.name or "", f"{self.name}^{{}}"]
            case "semver":
                return []
            case "tag":
                return [f"refs/tags/{self.tag}", f"refs/tags/{self.tag}^{{}}"]
            case "branch":
                return [f"refs/heads/{self.branch}"]
        return ["HEAD"]


def _check_name(name: str, what: str) -> None:
    if not name or _BAD_REF.search(name):
        raise giterrors.InvalidRef(f"{what} '{name}' is not a valid git ref name")


@dataclass(frozen=True)
class Revision:
    """A resolved ref: the commit id, the name people know it by, the remote ref to fetch
    (None when the commit is fetched by id)."""

    sha: str
    name: str | None = None
    ref: str | None = None

    @property
    def algorithm(self) -> str:
        return "sha256" if len(self.sha) == 64 else "sha1"

    def __str__(self) -> str:
        digest = f"{self.algorithm}:{self.sha}"
        return f"{self.name}@{digest}" if self.name else digest


def _parse(listing: str) -> tuple[dict[str, str], dict[str, str]]:
    """ls-remote output → ({ref name: id, peeled where a tag is annotated}, {symref: target})."""
    refs: dict[str, str] = {}
    peeled: dict[str, str] = {}
    symrefs: dict[str, str] = {}
    for line in listing.splitlines():
        left, _, name = line.partition("\t")
        if left.startswith("ref: "):
            symrefs[name] = left[5:]
        elif name.endswith("^{}"):
            peeled[name[:-3]] = left
        elif name:
            refs[name] = left
    return {**refs, **{n: sha for n, sha in peeled.items() if n in refs}}, symrefs


def resolve(ref: Ref, listing: str, url: str) -> Revision:
    """The revision `ref` names in the ls-remote `listing` of `url`, or giterrors.RefNotFound."""
    refs, symrefs = _parse(listing)
    kind = ref.kind
    if kind == "commit":
        commit = (ref.commit or "").lower()
        if ref.branch and f"refs/heads/{ref.branch}" not in refs:
            raise giterrors.RefNotFound(f"branch '{ref.branch}' not found in {url}")
        return Revision(commit, ref.branch)
    if kind == "head":
        if "HEAD" not in refs:
            raise giterrors.RefNotFound(
                f"{url} has no default branch: the repository is empty, or its HEAD"
                " names a branch that does not exist; set spec.ref.branch"
            )
        target = symrefs.get("HEAD", "HEAD")
        return Revision(refs["HEAD"], target.removeprefix("refs/heads/"), target)
    if kind == "semver":
        return _best_tag(ref.semver or "", refs, url)
    full, shown = {
        "name": (ref.name, ref.name),
        "tag": (f"refs/tags/{ref.tag}", ref.tag),
        "branch": (f"refs/heads/{ref.branch}", ref.branch),
    }[kind]
    if full not in refs:
        raise giterrors.RefNotFound(f"{ref.describe()} not found in {url}")
    return Revision(refs[full], shown, full)


def _best_tag(text: str, refs: dict[str, str], url: str) -> Revision:
    wanted = semver.parse_range(text)
    versions = {}
    for name in refs:
        if name.startswith("refs/tags/"):
            version = semver.parse_version(name.removeprefix("refs/tags/"))
            if version is not None:
                versions[name.removeprefix("refs/tags/")] = version
    tag = wanted.best(versions)
    if tag is None:
        raise giterrors.RefNotFound(
            f"no tag in {url} matches semver range '{text}' ({len(versions)} version tags found)"
        )
    return Revision(refs[f"refs/tags/{tag}"], tag, f"refs/tags/{tag}")
