"""Names of things in a registry: a repository (`oci://host/path`), and a reference to one
manifest in it (a tag or a digest).

Docker Hub's short names are read as the docker CLI reads them (`docker.io`, `library/`);
its API lives on another host (`registry-1.docker.io`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kidp_gitops.oci.errors import OCIError

PREFIX = "oci://"
DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"

_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")


def is_tag(text: str) -> bool:
    """Whether `text` is a tag by the distribution spec's grammar (≤ 128 characters, no
    slash, no dot first): what a registry lists is used in `/manifests/<tag>` paths."""
    return _TAG.fullmatch(text) is not None


@dataclass(frozen=True)
class Repository:
    """A repository: `host` as the registry is named, `path` inside it."""

    host: str
    path: str

    @property
    def canonical(self) -> str:
        return f"{self.host}/{self.path}"

    @property
    def api_host(self) -> str:
        return DOCKER_HUB_API if self.host == DOCKER_HUB else self.host

    def url(self) -> str:
        return PREFIX + self.canonical


@dataclass(frozen=True)
class Reference:
    """One manifest of a repository, named by tag, by digest, or both (`tag@digest`)."""

    repository: Repository
    tag: str | None = None
    digest: str | None = None

    @property
    def ref(self) -> str:
        """What the registry API takes in `/manifests/<ref>`: the digest when known."""
        return self.digest or self.tag or "latest"

    def __str__(self) -> str:
        text = self.repository.canonical
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def valid_path(path: str) -> bool:
    """Whether every component of a repository path fits the distribution spec."""
    return all(_COMPONENT.match(part) for part in path.split("/"))


def parse_repository(url: str) -> Repository:
    """The repository of an `oci://host/path` URL (no tag, no digest)."""
    if not url.startswith(PREFIX):
        raise OCIError(f"URL '{url}' must start with {PREFIX}")
    text = url[len(PREFIX) :].strip().rstrip("/")
    if "@" in text or ":" in text.rpartition("/")[2]:
        raise OCIError(f"URL '{url}' must not name a tag or digest (use the ref fields)")
    return _split(text, url)


def parse_reference(url: str) -> Reference:
    """`oci://host/path:tag`, `oci://host/path@sha256:…` or both; `latest` when neither."""
    if not url.startswith(PREFIX):
        raise OCIError(f"URL '{url}' must start with {PREFIX}")
    text = url[len(PREFIX) :].strip()
    name, _, digest = text.partition("@")
    if digest and not DIGEST.match(digest):
        raise OCIError(f"'{digest}' in '{url}' is not a sha256 digest")
    head, slash, last = name.rpartition("/")
    tag = None
    if ":" in last:
        last, _, tag = last.partition(":")
        if not _TAG.match(tag):
            raise OCIError(f"'{tag}' in '{url}' is not a valid tag")
    repository = _split(f"{head}{slash}{last}", url)
    if tag is None and not digest:
        tag = "latest"
    return Reference(repository, tag, digest or None)


def _split(text: str, url: str) -> Repository:
    first, _, rest = text.partition("/")
    if not rest or not ("." in first or ":" in first or first == "localhost"):
        raise OCIError(f"URL '{url}' must name a registry host and a repository")
    host, path = first, rest
    if host in ("index.docker.io", DOCKER_HUB_API):
        host = DOCKER_HUB
    if host == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    if not valid_path(path):
        raise OCIError(f"'{path}' in '{url}' is not a valid repository name")
    return Repository(host, path)
