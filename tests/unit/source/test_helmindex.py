"""Reading a Helm repository index and choosing a chart version, as helm and Flux do."""

from __future__ import annotations

import re

import pytest
import yaml

from kidp_gitops.source import helmindex

INDEX = yaml.safe_dump(
    {
        "apiVersion": "v1",
        "entries": {
            "podinfo": [
                {"version": v, "urls": [f"podinfo-{v}.tgz"], "digest": f"d{v}"}
                for v in ("6.0.0", "6.1.0", "6.2.0-rc.1", "5.9.0", "not-a-version")
            ]
            + [{"version": "7.0.0", "urls": ["https://cdn.example.com/podinfo-7.0.0.tgz"]}],
            "empty": [{"version": "1.0.0"}],
        },
    }
).encode()


@pytest.mark.parametrize(
    ("wanted", "picked"),
    [
        ("", "7.0.0"),
        ("*", "7.0.0"),
        ("6.x", "6.1.0"),
        (">=6.0.0 <6.1.0", "6.0.0"),
        ("~5", "5.9.0"),
        ("6.2.0-rc.1", "6.2.0-rc.1"),
        (">=6.2.0-0 <7", "6.2.0-rc.1"),
    ],
)
def test_select_picks_the_newest_version_in_range(wanted: str, picked: str) -> None:
    index = helmindex.parse_index(INDEX)
    assert helmindex.select(index, "podinfo", wanted).version == picked


def test_select_says_what_is_missing() -> None:
    index = helmindex.parse_index(INDEX)
    with pytest.raises(
        helmindex.ChartNotFound, match=re.escape("no 'podinfo' chart with version matching '9.*'")
    ):
        helmindex.select(index, "podinfo", "9.*")
    with pytest.raises(helmindex.ChartNotFound, match=re.escape("no chart named 'nginx'")):
        helmindex.select(index, "nginx", "*")
    with pytest.raises(helmindex.ChartNotFound, match=re.escape("has no download URL")):
        helmindex.select(index, "empty", "*")
    with pytest.raises(helmindex.ChartNotFound, match=re.escape("invalid version range")):
        helmindex.select(index, "podinfo", ">>1")


@pytest.mark.parametrize(
    "data",
    [b"{not yaml: [", b"just: a map\n", b"- a list\n", b"apiVersion: v1\nentries: [1]\n"],
)
def test_what_is_not_an_index_is_refused(data: bytes) -> None:
    with pytest.raises(helmindex.InvalidIndex):
        helmindex.parse_index(data)


def test_revision_is_the_sha256_of_the_bytes() -> None:
    assert helmindex.revision(b"x") == (
        "sha256:2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"
    )


@pytest.mark.parametrize(
    ("repo", "ref", "url"),
    [
        ("https://charts.example.com", "a-1.0.0.tgz", "https://charts.example.com/a-1.0.0.tgz"),
        ("https://example.com/charts/", "a.tgz", "https://example.com/charts/a.tgz"),
        ("https://example.com/charts", "sub/a.tgz", "https://example.com/charts/sub/a.tgz"),
        ("https://example.com/charts", "/abs/a.tgz", "https://example.com/abs/a.tgz"),
        ("https://example.com/charts", "https://cdn.io/a.tgz", "https://cdn.io/a.tgz"),
    ],
)
def test_chart_urls_resolve_against_the_repository(repo: str, ref: str, url: str) -> None:
    assert helmindex.chart_url(repo, ref) == url


def test_hosts_and_display_urls() -> None:
    assert helmindex.same_host("https://a.io/x/y.tgz", "https://a.io/charts")
    assert not helmindex.same_host("https://cdn.a.io/y.tgz", "https://a.io/charts")
    assert not helmindex.same_host("http://a.io/y.tgz", "https://a.io/charts")
    assert helmindex.display_url("https://u:secret@a.io:8443/c") == "https://a.io:8443/c"
    assert helmindex.display_url("https://a.io/c") == "https://a.io/c"
