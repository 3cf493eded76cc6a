"""pytest fixtures over the test git servers; a conftest imports the ones it needs.

    from tests.gitserver.fixtures import git_repos, http_git, https_git, mtls_git, ssh_git

The servers live for the whole session: one repository root, served by one sshd, one
HTTP and two HTTPS servers (one of them asks for a client certificate), all stopped
when the session ends. Tests make repositories
with unique names (`unique_repo`) so they never see each other's pushes.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from tests.gitserver.http import GitHttpServer
from tests.gitserver.keys import self_signed_certificate
from tests.gitserver.repos import GitRepos
from tests.gitserver.sshd import SshGitServer, have_sshd


@pytest.fixture(scope="session")
def git_repos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitRepos]:
    repos = GitRepos(tmp_path_factory.mktemp("git-repos"))
    yield repos
    repos.cleanup()


@pytest.fixture(scope="session")
def ssh_git(
    git_repos: GitRepos, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SshGitServer]:
    if not have_sshd():
        pytest.fail("sshd is not installed: `make setup` installs Debian's openssh-server")
    with SshGitServer(tmp_path_factory.mktemp("sshd"), git_repos.root) as server:
        yield server


@pytest.fixture(scope="session")
def http_git(git_repos: GitRepos) -> Iterator[GitHttpServer]:
    with GitHttpServer(git_repos.root, bearer_token=uuid.uuid4().hex) as server:
        yield server


@pytest.fixture(scope="session")
def https_git(git_repos: GitRepos) -> Iterator[GitHttpServer]:
    """The same repositories over https, with a self-signed certificate."""
    with GitHttpServer(git_repos.root, tls=True) as server:
        yield server


@pytest.fixture(scope="session")
def mtls_git(git_repos: GitRepos) -> Iterator[GitHttpServer]:
    """The same repositories over https, for clients presenting `client_certificate`."""
    with GitHttpServer(
        git_repos.root, tls=True, client_certificate=self_signed_certificate()
    ) as server:
        yield server


@pytest.fixture
def unique_repo(git_repos: GitRepos) -> Callable[[str], str]:
    """`unique_repo("app")` → the name of a new empty repository, unique to this test."""

    def make(prefix: str = "repo") -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        git_repos.create(name)
        return name

    return make
