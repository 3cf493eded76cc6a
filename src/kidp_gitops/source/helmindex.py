"""A Helm chart repository's index.yaml: reading it, choosing a chart version, and
finding where that version's archive lives.

    index = parse_index(data)                    # InvalidIndex when it is not an index
    entry = select(index, "podinfo", "6.x")      # ChartNotFound saying what is missing
    url = chart_url(repo_url, entry.urls[0])     # relative URLs resolve against the repo

The revision of an index is the sha256 of its bytes, as Flux's source-controller reports
it (`sha256:<hex>`): the same index, byte for byte, is the same revision.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import yaml

from kidp_gitops.vcs import giterrors, semver

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when there

MAX_INDEX_SIZE = 50 * 1024 * 1024
"""The largest index accepted, as Flux's default (--helm-index-max-size)."""


class InvalidIndex(ValueError):
    """The document is not a Helm repository index."""


class ChartNotFound(LookupError):
    """The index has no such chart, or no version of it in the range."""


@dataclass(frozen=True)
class ChartVersion:
    """One entry of the index: a version of a chart and where to download it."""

    name: str
    version: str
    urls: tuple[str, ...]
    digest: str | None
    """The sha256 (hex) of the chart archive, when the index gives one."""


Index = Mapping[str, tuple[ChartVersion, ...]]


def revision(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def parse_index(data: bytes) -> Index:
    """The chart versions of an index.yaml document, by chart name."""
    try:
        doc = yaml.load(data, Loader=_Loader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise InvalidIndex(f"index.yaml is not valid YAML{where}") from err
    if not isinstance(doc, dict) or not doc.get("apiVersion"):
        raise InvalidIndex("index.yaml has no apiVersion: not a Helm repository index")
    entries = doc.get("entries") or {}
    if not isinstance(entries, dict):
        raise InvalidIndex("index.yaml: 'entries' is not a map of chart names")
    index: dict[str, tuple[ChartVersion, ...]] = {}
    for name, versions in entries.items():
        if not isinstance(versions, list):
            raise InvalidIndex(f"index.yaml: the entry of chart '{name}' is not a list")
        index[str(name)] = tuple(
            entry for v in versions if (entry := _entry(str(name), v)) is not None
        )
    return index


def _entry(name: str, raw: Any) -> ChartVersion | None:
    if not isinstance(raw, dict) or raw.get("version") in (None, ""):
        return None  # helm skips entries it cannot read, and so do we
    urls = raw.get("urls") or []
    digest = raw.get("digest")
    return ChartVersion(
        name=name,
        version=str(raw["version"]),
        urls=tuple(str(u) for u in urls if u) if isinstance(urls, list) else (),
        digest=str(digest) if digest else None,
    )


def select(index: Index, chart: str, version_range: str) -> ChartVersion:
    """The newest version of `chart` in `version_range` (semver, `*` when empty)."""
    text = version_range.strip() or "*"
    try:
        wanted = semver.parse_range(text)
    except giterrors.InvalidRef as err:
        raise ChartNotFound(f"invalid version range for chart '{chart}': {err}") from err
    versions = index.get(chart)
    if not versions:
        raise ChartNotFound(f"no chart named '{chart}' in the repository index")
    parsed = {
        str(i): v
        for i, entry in enumerate(versions)
        if (v := semver.parse_version(entry.version)) is not None
    }
    best = wanted.best(parsed)
    if best is None:
        raise ChartNotFound(f"no '{chart}' chart with version matching '{text}' found")
    entry = versions[int(best)]
    if not entry.urls:
        raise ChartNotFound(f"chart '{chart}' version '{entry.version}' has no download URL")
    return entry


def chart_url(repo_url: str, ref: str) -> str:
    """Where a chart archive is: `ref` as given when absolute, else relative to the
    repository URL (taken as a directory, as helm does)."""
    if urlsplit(ref).scheme:
        return ref
    return urljoin(repo_url.rstrip("/") + "/", ref)


def same_host(a: str, b: str) -> bool:
    """Whether two URLs name the same scheme, host and port (credentials go only there
    unless the HelmRepository passes them on)."""
    left, right = urlsplit(a), urlsplit(b)
    return (left.scheme, left.hostname, left.port) == (right.scheme, right.hostname, right.port)


def display_url(url: str) -> str:
    """`url` without any user:password part, for messages."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return parts._replace(netloc=netloc).geturl()
