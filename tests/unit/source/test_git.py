"""The git layer against real servers: sshd (host keys checked) and git http-backend."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from kidp_gitops.runtime import credentials
from kidp_gitops.source import git
from kidp_gitops.vcs import gitenv, giterrors
from tests.gitserver import GitHttpServer, GitRepos, SshGitServer, generate_keypair
from tests.gitserver.keys import self_signed_certificate
from tests.gitserver.sshd import free_port

Auth, Ref = git.Auth, git.Ref


@dataclass
class Remote:
    """One transport to the shared repositories, with working credentials."""

    transport: str
    url: Callable[[str], str]
    auth: git.Auth
    secrets: list[str] = field(repr=False)


@pytest.fixture(params=["ssh", "http"])
def remote(request: pytest.FixtureRequest) -> Remote:
    if request.param == "ssh":
        ssh: SshGitServer = request.getfixturevalue("ssh_git")
        auth = Auth(identity=ssh.client.private_key, known_hosts=ssh.known_hosts)
        return Remote("ssh", ssh.url, auth, [ssh.client.private_key.decode()])
    http: GitHttpServer = request.getfixturevalue("http_git")
    auth = Auth(username=http.username, password=http.password)
    return Remote("http", http.url, auth, [http.password])


@dataclass
class App:
    """A repository with history: v1.0.0 (annotated) → v1.1.0 → v2.0.0-rc.1 on main,
    a `feature` branch, and a pull-request ref."""

    name: str
    first: str
    second: str
    third: str
    feature: str


@pytest.fixture
def app(git_repos: GitRepos, unique_repo: Callable[[str], str]) -> App:
    name = unique_repo("app")
    with git_repos.worktree(name) as wt:
        wt.write({"deploy/app.yaml": "replicas: 1\n", "docs/guide.md": "# guide\n"})
        first = wt.commit("first")
        wt.tag("v1.0.0", annotated=True)
        wt.write({"deploy/app.yaml": "replicas: 2\n"})
        second = wt.commit("second")
        wt.tag("v1.1.0")
        wt.tag("not-a-version")
        wt.write({"deploy/app.yaml": "replicas: 3\n"})
        third = wt.commit("third")
        wt.tag("v2.0.0-rc.1", annotated=True)
        wt.push()
        wt.checkout("feature")
        wt.write({"feature.txt": "wip\n"})
        feature = wt.commit("feature work")
        wt.push()
        wt.git("push", "-q", "origin", "HEAD:refs/pull/1/head")
    return App(name, first, second, third, feature)


@pytest.fixture
def client(tmp_path: Path) -> git.Git:
    return git.Git(tmp_path / "mirrors", timeout=30)


def files(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


# --- every kind of ref -----------------------------------------------------------------


async def test_ls_remote_resolves_every_kind_of_ref(
    client: git.Git, remote: Remote, app: App
) -> None:
    url = remote.url(app.name)
    cases = {
        Ref(): f"main@sha1:{app.third}",
        Ref(branch="main"): f"main@sha1:{app.third}",
        Ref(branch="feature"): f"feature@sha1:{app.feature}",
        Ref(tag="v1.0.0"): f"v1.0.0@sha1:{app.first}",  # annotated: peeled to its commit
        Ref(tag="v1.1.0"): f"v1.1.0@sha1:{app.second}",
        Ref(semver=">=1.0.0 <2.0.0"): f"v1.1.0@sha1:{app.second}",
        Ref(semver="*"): f"v1.1.0@sha1:{app.second}",  # the pre-release is skipped
        Ref(semver=">=2.0.0-0"): f"v2.0.0-rc.1@sha1:{app.third}",
        Ref(semver="~1.0.0"): f"v1.0.0@sha1:{app.first}",
        Ref(name="refs/pull/1/head"): f"refs/pull/1/head@sha1:{app.feature}",
        Ref(name="refs/tags/v1.0.0"): f"refs/tags/v1.0.0@sha1:{app.first}",
        Ref(commit=app.second): f"sha1:{app.second}",
        Ref(branch="main", commit=app.second): f"main@sha1:{app.second}",
        Ref(branch="main", tag="v1.0.0", semver="^1"): f"v1.1.0@sha1:{app.second}",
    }
    for ref, revision in cases.items():
        assert str(await client.ls_remote(url, remote.auth, ref)) == revision, ref


async def test_fetch_checks_out_the_tree_of_each_kind_of_ref(
    client: git.Git, remote: Remote, app: App, tmp_path: Path
) -> None:
    url = remote.url(app.name)
    cases = [
        (Ref(branch="main"), app.third, "replicas: 3\n"),
        (Ref(tag="v1.0.0"), app.first, "replicas: 1\n"),
        (Ref(semver="1.x"), app.second, "replicas: 2\n"),
        (Ref(commit=app.second), app.second, "replicas: 2\n"),
        (Ref(name="refs/pull/1/head"), app.feature, "replicas: 3\n"),
    ]
    for i, (ref, sha, content) in enumerate(cases):
        dest = tmp_path / f"out{i}"
        checkout = await client.fetch(url, remote.auth, ref, dest)
        assert checkout.revision.sha == sha, ref
        assert checkout.path == dest
        assert (dest / "deploy" / "app.yaml").read_text() == content, ref
        assert not (dest / ".git").exists()
    assert (tmp_path / "out4" / "feature.txt").exists()
    assert len(list((tmp_path / "mirrors").iterdir())) == 1  # one mirror per URL


async def test_a_push_is_seen_by_the_next_ls_remote_and_fetch(
    client: git.Git, remote: Remote, app: App, git_repos: GitRepos, tmp_path: Path
) -> None:
    url = remote.url(app.name)
    before = await client.fetch(url, remote.auth, Ref(branch="main"), tmp_path / "before")
    assert before.revision.sha == app.third
    with git_repos.worktree(app.name) as wt:
        wt.delete("docs")
        wt.write({"deploy/app.yaml": "replicas: 4\n", "deploy/new.yaml": "new: true\n"})
        pushed = wt.commit("fourth")
        wt.tag("v1.2.0")
        wt.push()

    assert (await client.ls_remote(url, remote.auth, Ref())).sha == pushed
    assert (await client.ls_remote(url, remote.auth, Ref(semver="^1"))).name == "v1.2.0"
    after = await client.fetch(url, remote.auth, Ref(branch="main"), tmp_path / "after")
    assert after.fetched
    assert str(after.revision) == f"main@sha1:{pushed}"
    assert files(tmp_path / "after") == {
        "deploy/app.yaml": "replicas: 4\n",
        "deploy/new.yaml": "new: true\n",
    }


async def test_an_unchanged_remote_costs_only_ls_remote(
    client: git.Git, http_git: GitHttpServer, app: App, tmp_path: Path
) -> None:
    url, auth = http_git.url(app.name), Auth(username="flux", password=http_git.password)

    def upload_pack_posts() -> int:
        return http_git.served("git-upload-pack")

    start = upload_pack_posts()
    await client.ls_remote(url, auth, Ref(branch="main"))
    per_ls_remote = upload_pack_posts() - start

    first = await client.fetch(url, auth, Ref(branch="main"), tmp_path / "one")
    assert first.fetched
    mirror = next((tmp_path / "mirrors").iterdir())
    objects = sorted(p.name for p in (mirror / "objects").rglob("*"))

    before = upload_pack_posts()
    again = await client.fetch(url, auth, Ref(branch="main"), tmp_path / "two")
    assert not again.fetched
    assert again.revision == first.revision
    assert upload_pack_posts() - before == per_ls_remote  # ls-remote, and no fetch
    assert sorted(p.name for p in (mirror / "objects").rglob("*")) == objects
    assert files(tmp_path / "two") == files(tmp_path / "one")


async def test_a_new_commit_costs_one_listing_when_fetch_is_handed_the_ls_remote_answer(
    client: git.Git, http_git: GitHttpServer, app: App, git_repos: GitRepos, tmp_path: Path
) -> None:
    url, auth = http_git.url(app.name), Auth(username="flux", password=http_git.password)

    def upload_pack_posts() -> int:
        return http_git.served("git-upload-pack")

    def push(content: str) -> str:
        with git_repos.worktree(app.name) as wt:
            wt.write({"deploy/app.yaml": content})
            sha = wt.commit(content)
            wt.push()
        return sha

    start = upload_pack_posts()
    await client.ls_remote(url, auth, Ref(branch="main"))
    per_ls_remote = upload_pack_posts() - start

    # Asked afresh, as any caller without a listing: listing, then the fetch.
    pushed = push("replicas: 4\n")
    before = upload_pack_posts()
    fresh = await client.fetch(url, auth, Ref(branch="main"), tmp_path / "fresh")
    per_fetch = upload_pack_posts() - before
    assert fresh.fetched
    assert fresh.revision.sha == pushed

    # As the GitRepository does: ls-remote, compare, then fetch with that answer.
    pushed = push("replicas: 5\n")
    before = upload_pack_posts()
    revision = await client.ls_remote(url, auth, Ref(branch="main"))
    handed = await client.fetch(
        url, auth, Ref(branch="main"), tmp_path / "handed", resolved=revision
    )
    assert handed.fetched
    assert str(handed.revision) == f"main@sha1:{pushed}"
    assert (tmp_path / "handed" / "deploy" / "app.yaml").read_text() == "replicas: 5\n"
    assert upload_pack_posts() - before == per_fetch  # the ls-remote replaced the listing
    assert per_ls_remote > 0


async def test_a_branch_that_moved_after_ls_remote_is_fetched_at_its_newer_commit(
    client: git.Git, http_git: GitHttpServer, app: App, git_repos: GitRepos, tmp_path: Path
) -> None:
    url, auth = http_git.url(app.name), Auth(username="flux", password=http_git.password)
    listed = await client.ls_remote(url, auth, Ref(branch="main"))
    with git_repos.worktree(app.name) as wt:
        wt.write({"deploy/app.yaml": "replicas: 9\n"})
        moved = wt.commit("moved")
        wt.push()
    checkout = await client.fetch(url, auth, Ref(branch="main"), tmp_path / "out", resolved=listed)
    assert listed.sha == app.third
    assert checkout.revision.sha == moved
    assert (tmp_path / "out" / "deploy" / "app.yaml").read_text() == "replicas: 9\n"


async def test_concurrent_fetches_of_one_url_share_the_mirror(
    client: git.Git, http_git: GitHttpServer, app: App, tmp_path: Path
) -> None:
    url, auth = http_git.url(app.name), Auth(username="flux", password=http_git.password)
    checkouts = await asyncio.gather(
        *(client.fetch(url, auth, Ref(branch="main"), tmp_path / f"c{i}") for i in range(5))
    )
    assert [c.fetched for c in checkouts].count(True) == 1
    assert {c.revision.sha for c in checkouts} == {app.third}
    assert all((c.path / "deploy" / "app.yaml").exists() for c in checkouts)


async def test_sparse_checkout_takes_only_the_given_directories(
    client: git.Git, remote: Remote, app: App, tmp_path: Path
) -> None:
    url = remote.url(app.name)
    checkout = await client.fetch(
        url, remote.auth, Ref(branch="main"), tmp_path / "sparse", sparse=["./deploy/"]
    )
    assert files(checkout.path) == {"deploy/app.yaml": "replicas: 3\n"}
    with pytest.raises(giterrors.RefNotFound, match="'nope' does not exist"):
        await client.fetch(url, remote.auth, Ref(branch="main"), tmp_path / "x", sparse=["nope"])
    with pytest.raises(giterrors.InvalidRef):
        await client.fetch(url, remote.auth, Ref(), tmp_path / "y", sparse=["../etc"])


async def test_submodules_are_checked_out_when_asked(
    client: git.Git,
    remote: Remote,
    git_repos: GitRepos,
    unique_repo: Callable[[str], str],
    tmp_path: Path,
) -> None:
    lib, nested, top = unique_repo("lib"), unique_repo("nested"), unique_repo("top")
    with git_repos.worktree(nested) as wt:
        wt.write({"deep.txt": "deep\n"})
        wt.commit("nested")
        wt.push()
    with git_repos.worktree(lib) as wt:
        wt.write({"lib.txt": "v1\n"})
        wt.add_submodule(f"../{nested}.git", "vendor/nested")
        lib_sha = wt.commit("lib")
        wt.push()
    with git_repos.worktree(top) as wt:
        wt.write({"app.txt": "app\n"})
        wt.add_submodule(f"../{lib}.git", "libs/lib")
        wt.commit("top")
        wt.push()
    with git_repos.worktree(lib) as wt:  # lib moves on; top still pins lib_sha
        wt.write({"lib.txt": "v2\n"})
        wt.commit("lib v2")
        wt.push()

    url = remote.url(top)
    plain = await client.fetch(url, remote.auth, Ref(), tmp_path / "plain")
    assert not any((plain.path / "libs" / "lib").iterdir())
    full = await client.fetch(url, remote.auth, Ref(), tmp_path / "full", submodules=True)
    assert files(full.path) == {
        ".gitmodules": files(plain.path)[".gitmodules"],
        "app.txt": "app\n",
        "libs/lib/.gitmodules": files(full.path)["libs/lib/.gitmodules"],
        "libs/lib/lib.txt": "v1\n",
        "libs/lib/vendor/nested/deep.txt": "deep\n",
    }
    assert lib_sha  # the pinned commit, not lib's newer head, was checked out


async def test_a_submodule_on_this_machine_is_never_cloned(
    client: git.Git,
    http_git: GitHttpServer,
    git_repos: GitRepos,
    unique_repo: Callable[[str], str],
    tmp_path: Path,
) -> None:
    """A tenant's `.gitmodules` naming a path on the engine's host (another tenant's
    mirror) is refused: only http, https and ssh are allowed."""
    private, top = unique_repo("private"), unique_repo("top")
    with git_repos.worktree(private) as wt:
        wt.write({"secret.txt": "other tenant\n"})
        wt.commit("private")
        wt.push()
    with git_repos.worktree(top) as wt:
        wt.write({"app.txt": "app\n"})
        wt.add_submodule(f"file://{git_repos.path(private)}", "stolen")
        wt.commit("top")
        wt.push()
    url = http_git.url(top)
    auth = Auth(username=http_git.username, password=http_git.password)
    with pytest.raises(giterrors.GitError, match="URL scheme 'file' is not supported"):
        await client.fetch(url, auth, Ref(), tmp_path / "full", submodules=True)
    assert not (tmp_path / "full" / "stolen" / "secret.txt").exists()


# --- credentials -----------------------------------------------------------------------


async def test_a_passphrase_protected_key_is_decrypted_without_a_prompt(
    client: git.Git, ssh_git: SshGitServer, app: App
) -> None:
    key = generate_keypair(passphrase="correct horse")
    ssh_git.authorize(key)
    auth = Auth(identity=key.private_key, password="correct horse", known_hosts=ssh_git.known_hosts)
    assert (await client.ls_remote(ssh_git.url(app.name), auth, Ref())).sha == app.third

    wrong = Auth(identity=key.private_key, password="wrong horse", known_hosts=ssh_git.known_hosts)
    with pytest.raises(giterrors.AuthenticationFailed, match="passphrase is wrong") as err:
        await client.ls_remote(ssh_git.url(app.name), wrong, Ref())
    assert "wrong horse" not in str(err.value)


async def test_bearer_token_and_password_in_url_are_used_and_never_shown(
    client: git.Git, http_git: GitHttpServer, app: App
) -> None:
    token = http_git.bearer_token or ""
    url = http_git.url(app.name)
    assert (await client.ls_remote(url, Auth(bearer_token=token), Ref())).sha == app.third

    with_password = url.replace("://", f"://flux:{http_git.password}@")
    assert (await client.ls_remote(with_password, None, Ref())).sha == app.third
    wrong = url.replace("://", "://flux:hunter2-wrong@")
    with pytest.raises(giterrors.AuthenticationFailed) as err:
        await client.ls_remote(wrong, None, Ref())
    assert "hunter2-wrong" not in str(err.value)
    assert "flux@127.0.0.1" in str(err.value)


async def test_https_trusts_the_ca_in_the_secret(
    client: git.Git, https_git: GitHttpServer, app: App, tmp_path: Path
) -> None:
    assert https_git.certificate is not None
    url = https_git.url(app.name)
    auth = Auth(username="flux", password=https_git.password, ca_cert=https_git.certificate.cert)
    checkout = await client.fetch(url, auth, Ref(tag="v1.1.0"), tmp_path / "tls")
    assert (checkout.path / "deploy" / "app.yaml").read_text() == "replicas: 2\n"

    untrusted = Auth(username="flux", password=https_git.password)
    with pytest.raises(giterrors.TLSVerificationFailed, match="add the certificate authority"):
        await client.ls_remote(url, untrusted, Ref())


async def test_the_ca_in_the_secret_adds_to_the_systems_roots(
    request: pytest.FixtureRequest,
    client: git.Git,
    https_git: GitHttpServer,
    app: App,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As go-git, which appends a Secret's CA to the system pool: a server the system
    # trusts stays trusted when the Secret names another CA (here the "system" bundle
    # is the server's own CA, through SSL_CERT_FILE).
    assert https_git.certificate is not None
    system = tmp_path / "system.pem"
    system.write_bytes(https_git.certificate.cert)
    monkeypatch.setenv("SSL_CERT_FILE", str(system))
    gitenv._system_roots.cache_clear()  # read once per process: read this one
    request.addfinalizer(gitenv._system_roots.cache_clear)
    other = self_signed_certificate("127.0.0.2").cert
    auth = Auth(username="flux", password=https_git.password, ca_cert=other)
    assert (await client.ls_remote(https_git.url(app.name), auth, Ref(tag="v1.1.0"))).sha


def secret_auth(data: dict[str, bytes]) -> git.Auth:
    """The git credentials of a GitRepository's secretRef, as the controller reads them."""
    tls = credentials.tls_data(data, "ns/git", legacy=credentials.LEGACY_GIT)
    return Auth.from_secret(data, tls)


async def test_https_presents_the_client_certificate_of_the_secret(
    client: git.Git, mtls_git: GitHttpServer, app: App, tmp_path: Path
) -> None:
    assert mtls_git.certificate is not None
    assert mtls_git.client_certificate is not None
    url, pair = mtls_git.url(app.name), mtls_git.client_certificate
    login = {"username": b"flux", "password": mtls_git.password.encode()}
    # As Flux: `tls.crt` and `tls.key`, and the CA as `ca.crt` or (deprecated) `caFile`.
    auth = secret_auth(
        {**login, "caFile": mtls_git.certificate.cert, "tls.crt": pair.cert, "tls.key": pair.key}
    )
    checkout = await client.fetch(url, auth, Ref(tag="v1.1.0"), tmp_path / "mtls")
    assert (checkout.path / "deploy" / "app.yaml").read_text() == "replicas: 2\n"
    # `certFile`/`keyFile` are older names for a HelmRepository; a GitRepository never
    # read them, so no certificate is presented and the server refuses the handshake.
    legacy = secret_auth(
        {**login, "ca.crt": mtls_git.certificate.cert, "certFile": pair.cert, "keyFile": pair.key}
    )
    assert legacy.client_cert is None
    with pytest.raises(giterrors.GitError) as err:
        await client.ls_remote(url, legacy, Ref())
    assert pair.key.decode().splitlines()[1] not in str(err.value)
    with pytest.raises(credentials.CredentialsError, match=r"holds 'tls\.crt' but no 'tls\.key'"):
        secret_auth({**login, "tls.crt": pair.cert})


async def test_credentials_never_reach_a_command_line(
    client: git.Git,
    ssh_git: SshGitServer,
    http_git: GitHttpServer,
    app: App,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every git, ssh and ssh-keygen run goes through a shim that logs its arguments."""
    key = generate_keypair(passphrase="pass-phrase-42")  # made before the shims log
    ssh_git.authorize(key)
    shims, log = tmp_path / "shims", tmp_path / "argv.log"
    shims.mkdir()
    for program in ("git", "ssh", "ssh-keygen"):
        real = shutil.which(program)
        assert real is not None
        shim = shims / program
        shim.write_text(f'#!/bin/sh\nprintf "%s %s\\n" "$0" "$*" >> {log}\nexec {real} "$@"\n')
        shim.chmod(0o755)
    monkeypatch.setenv("PATH", f"{shims}:{os.environ['PATH']}")
    ssh_auth = Auth(
        identity=key.private_key, password="pass-phrase-42", known_hosts=ssh_git.known_hosts
    )
    http_auth = Auth(username="flux", password=http_git.password)
    token_auth = Auth(bearer_token=http_git.bearer_token)
    await client.fetch(ssh_git.url(app.name), ssh_auth, Ref(), tmp_path / "ssh")
    await client.fetch(http_git.url(app.name), http_auth, Ref(), tmp_path / "http")
    await client.ls_remote(http_git.url(app.name), token_auth, Ref())

    argv = log.read_text()
    assert "git ls-remote" in argv
    assert "git --git-dir" in argv
    assert "ssh -F /dev/null" in argv
    assert "ssh-keygen -q -p -N  -f" in argv  # the passphrase went through askpass
    for secret in ["pass-phrase-42", http_git.password, http_git.bearer_token or "-"]:
        assert secret not in argv
    for line in key.private_key.decode().splitlines()[1:-1]:
        assert line not in argv


def test_auth_never_shows_its_secrets() -> None:
    auth = Auth(
        username="u",
        password="p4ss-word",
        bearer_token="t0ken-xyz",
        identity=b"KEY-BYTES",
        client_key=b"CLIENT-KEY-BYTES",
    )
    assert "p4ss-word" not in repr(auth)
    assert "t0ken-xyz" not in repr(auth)
    assert "KEY-BYTES" not in repr(auth)
    assert "CLIENT-KEY-BYTES" in auth.secrets()  # scrubbed from what git prints


# --- errors ----------------------------------------------------------------------------


@dataclass
class Case:
    url: str
    auth: git.Auth | None
    ref: git.Ref
    error: type[giterrors.GitError]
    reason: str
    says: str


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel does) but never says a word."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield int(s.getsockname()[1])


async def test_each_failure_names_its_cause_and_never_a_secret(
    client: git.Git,
    ssh_git: SshGitServer,
    http_git: GitHttpServer,
    app: App,
    tmp_path: Path,
) -> None:
    ssh_url, http_url = ssh_git.url(app.name), http_git.url(app.name)
    key, known = ssh_git.client.private_key, ssh_git.known_hosts
    good_ssh = Auth(identity=key, known_hosts=known)
    good_http = Auth(username="flux", password=http_git.password)
    stranger = generate_keypair().private_key
    impostor = f"[127.0.0.1]:{ssh_git.port} {generate_keypair().public_key}\n"
    refused = free_port()
    cases = [
        Case(http_url, Auth(username="flux", password="wr0ng-pass"), Ref(),
             giterrors.AuthenticationFailed, "AuthenticationFailed", "username/password"),
        Case(http_url, None, Ref(),
             giterrors.AuthenticationFailed, "AuthenticationFailed", "none were given"),
        Case(http_url, Auth(bearer_token="wr0ng-token"), Ref(),
             giterrors.AuthenticationFailed, "AuthenticationFailed", "token"),
        Case(ssh_url, Auth(identity=stranger, known_hosts=known), Ref(),
             giterrors.AuthenticationFailed, "AuthenticationFailed", "rejected the SSH key"),
        Case(ssh_url, Auth(identity=key, known_hosts=impostor), Ref(),
             giterrors.HostKeyVerificationFailed, "AuthenticationFailed", "does not match"),
        Case(ssh_url, Auth(identity=key), Ref(),
             giterrors.HostKeyVerificationFailed, "AuthenticationFailed", "has no key"),
        Case(http_git.url("missing"), good_http, Ref(),
             giterrors.RepositoryNotFound, "GitOperationFailed", "repository not found"),
        Case(ssh_git.url("missing"), good_ssh, Ref(),
             giterrors.RepositoryNotFound, "GitOperationFailed", "repository not found"),
        Case(http_url, good_http, Ref(branch="nope"),
             giterrors.RefNotFound, "GitOperationFailed", f"branch 'nope' not found in {http_url}"),
        Case(ssh_url, good_ssh, Ref(tag="v9"),
             giterrors.RefNotFound, "GitOperationFailed", f"tag 'v9' not found in {ssh_url}"),
        Case(http_url, good_http, Ref(semver=">=3.0.0"),
             giterrors.RefNotFound, "GitOperationFailed", "no tag in"),
        Case(http_url, good_http, Ref(name="refs/pull/9/head"),
             giterrors.RefNotFound, "GitOperationFailed", "'refs/pull/9/head' not found"),
        Case(http_url, good_http, Ref(branch="nope", commit=app.first),
             giterrors.RefNotFound, "GitOperationFailed", "branch 'nope' not found"),
        Case(f"http://127.0.0.1:{refused}/x.git", good_http, Ref(),
             giterrors.Unreachable, "GitOperationFailed", "cannot reach 127.0.0.1"),
        Case(f"ssh://git@127.0.0.1:{refused}/x.git", good_ssh, Ref(),
             giterrors.Unreachable, "GitOperationFailed", "Connection refused"),
        Case("git@github.com:org/repo.git", None, Ref(),
             giterrors.InvalidURL, "URLInvalid", "use ssh://git@github.com/org/repo.git"),
        Case("file:///etc/repo.git", None, Ref(),
             giterrors.InvalidURL, "URLInvalid", "'file' is not supported"),
        Case(http_url, good_http, Ref(commit="abc123"),
             giterrors.InvalidRef, "GitOperationFailed", "not a full commit id"),
        Case(http_url, good_http, Ref(semver=">=banana"),
             giterrors.InvalidRef, "GitOperationFailed", "semver range"),
    ]  # fmt: skip
    secrets = [http_git.password, "wr0ng-pass", "wr0ng-token", key.decode(), stranger.decode()]
    for case in cases:
        with pytest.raises(case.error) as caught:
            await client.ls_remote(case.url, case.auth, case.ref)
        err = caught.value
        assert err.reason == case.reason, case
        assert case.says in str(err), (case, str(err))
        for secret in secrets:
            assert secret not in str(err), case
            assert secret not in repr(err), case
        for line in key.decode().splitlines()[1:-1]:
            assert line not in str(err)


async def test_a_commit_the_remote_does_not_have_is_not_found(
    client: git.Git, remote: Remote, app: App, tmp_path: Path
) -> None:
    url = remote.url(app.name)
    missing = "0123456789abcdef0123456789abcdef01234567"
    with pytest.raises(giterrors.RefNotFound, match=f"commit '{missing}' not found") as err:
        await client.fetch(url, remote.auth, Ref(commit=missing), tmp_path / "out")
    assert all(secret not in str(err.value) for secret in remote.secrets)


@pytest.mark.parametrize("scheme", ["http", "ssh"])
async def test_a_silent_host_times_out_and_git_is_stopped(
    client: git.Git, ssh_git: SshGitServer, silent_port: int, scheme: str
) -> None:
    url = f"{scheme}://git@127.0.0.1:{silent_port}/x.git"
    auth = Auth(identity=ssh_git.client.private_key, known_hosts=ssh_git.known_hosts)
    began = time.monotonic()
    with pytest.raises(giterrors.GitTimeout, match="timed out after 1s") as err:
        await client.ls_remote(url, auth, Ref(), timeout=1)
    assert time.monotonic() - began < 5
    assert err.value.reason == "GitOperationFailed"
