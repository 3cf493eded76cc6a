"""Remote URLs as Flux accepts them, and what git's ls-remote answers mean."""

from __future__ import annotations

import pytest

from kidp_gitops.source import gitrefs
from kidp_gitops.vcs import gitenv, giterrors, giturl


def test_http_https_and_ssh_urls_are_accepted() -> None:
    ssh = giturl.parse("ssh://git@example.com:2222/org/repo.git")
    assert (ssh.scheme, ssh.host, ssh.port, ssh.username) == ("ssh", "example.com", 2222, "git")
    assert ssh.hostport == "example.com:2222"
    assert giturl.parse("https://example.com/org/repo").url == "https://example.com/org/repo"


def test_a_password_is_taken_out_of_the_url() -> None:
    remote = giturl.parse("https://bot:s3cr%40t@example.com/org/repo.git")
    assert remote.url == "https://bot@example.com/org/repo.git"
    assert remote.password == "s3cr@t"
    assert "s3cr" not in repr(remote)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("git@github.com:org/repo.git", "use ssh://git@github.com/org/repo.git"),
        ("gitlab.com:group/sub/repo", "use ssh://gitlab.com/group/sub/repo"),
        ("file:///srv/repo.git", "scheme 'file' is not supported"),
        ("git://example.com/repo.git", "scheme 'git' is not supported"),
        ("/srv/repo.git", "is not a URL"),
        ("", "empty"),
        ("https:///repo.git", "has no host"),
        ("https://u:hunter2@host:99999/x", "not a valid URL"),
    ],
)
def test_malformed_urls_are_rejected_with_what_to_do(url: str, says: str) -> None:
    with pytest.raises(giterrors.InvalidURL, match=says) as err:
        giturl.parse(url)
    assert err.value.reason == "URLInvalid"
    assert err.value.stalled
    assert "hunter2" not in str(err.value)


@pytest.mark.parametrize(
    ("relative", "resolved"),
    [
        ("../lib.git", "https://h/org/lib.git"),
        ("../../other/lib.git", "https://h/other/lib.git"),
        ("./sub.git", "https://h/org/app.git/sub.git"),
        ("https://elsewhere/x.git", "https://elsewhere/x.git"),
    ],
)
def test_relative_submodule_urls_resolve_like_git(relative: str, resolved: str) -> None:
    assert giturl.resolve_relative("https://h/org/app.git", relative) == resolved


def test_scrub_removes_passwords_and_secrets() -> None:
    text = "fatal: https://bot:tok123@h/x failed; token tok123 and key AAAAKEY"
    assert gitenv.scrub(text, ["tok123", "AAAAKEY"]) == (
        "fatal: https://bot:***@h/x failed; token *** and key ***"
    )


LISTING = """ref: refs/heads/main\tHEAD
1111111111111111111111111111111111111111\tHEAD
1111111111111111111111111111111111111111\trefs/heads/main
2222222222222222222222222222222222222222\trefs/tags/v1.0.0
3333333333333333333333333333333333333333\trefs/tags/v1.0.0^{}
4444444444444444444444444444444444444444\trefs/tags/v1.1.0
"""


def test_revisions_read_from_ls_remote_use_fluxs_format() -> None:
    url = "https://h/app.git"
    assert str(gitrefs.resolve(gitrefs.Ref(), LISTING, url)) == "main@sha1:" + "1" * 40
    tag = gitrefs.resolve(gitrefs.Ref(tag="v1.0.0"), LISTING, url)
    assert (tag.sha, tag.ref) == ("3" * 40, "refs/tags/v1.0.0")  # the annotated tag, peeled
    assert gitrefs.resolve(gitrefs.Ref(semver="^1"), LISTING, url).name == "v1.1.0"
    commit = gitrefs.Revision("a" * 64)
    assert str(commit) == "sha256:" + "a" * 64
    with pytest.raises(giterrors.RefNotFound, match=f"branch 'nope' not found in {url}"):
        gitrefs.resolve(gitrefs.Ref(branch="nope"), LISTING, url)
    with pytest.raises(giterrors.RefNotFound, match="has no default branch"):
        gitrefs.resolve(gitrefs.Ref(), "", url)


@pytest.mark.parametrize(
    "ref",
    [
        gitrefs.Ref(commit="abc"),
        gitrefs.Ref(branch="-evil"),
        gitrefs.Ref(tag="a..b"),
        gitrefs.Ref(name="heads/main"),
        gitrefs.Ref(branch="main", commit="z" * 40),
        gitrefs.Ref(semver="not a range"),
    ],
)
def test_refs_that_name_nothing_are_rejected_before_any_network(ref: gitrefs.Ref) -> None:
    with pytest.raises(giterrors.InvalidRef) as err:
        ref.validate()
    assert err.value.stalled
