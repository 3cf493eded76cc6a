"""The test git servers are real: OpenSSH checks host keys and keys, http-backend
checks passwords, and both serve clones (and, over HTTP, pushes) made by `git`."""

from __future__ import annotations

import base64
import gzip
import os
import shlex
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.gitserver import GitHttpServer, GitRepos, SshGitServer, generate_keypair
from tests.gitserver.repos import git_env


def populated(git_repos: GitRepos, unique_repo: Callable[[str], str]) -> tuple[str, str]:
    name = unique_repo("served")
    with git_repos.worktree(name) as wt:
        wt.write({"README.md": "hello\n"})
        sha = wt.commit("first")
        wt.push()
    return name, sha


def git(args: list[str], cwd: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {**git_env(cwd), **extra}
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=30
    )


def ssh_command(tmp_path: Path, known_hosts: str, key: bytes) -> str:
    (tmp_path / "known_hosts").write_text(known_hosts)
    identity = tmp_path / "identity"
    identity.write_bytes(key)
    identity.chmod(0o600)
    return shlex.join(
        ["ssh", "-F", "/dev/null", "-i", str(identity), "-o", "IdentitiesOnly=yes",
         "-o", f"UserKnownHostsFile={tmp_path / 'known_hosts'}",
         "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes"]
    )  # fmt: skip


def test_ssh_clone_with_the_right_known_hosts_works(
    ssh_git: SshGitServer, git_repos: GitRepos, unique_repo: Callable[[str], str], tmp_path: Path
) -> None:
    name, sha = populated(git_repos, unique_repo)
    command = ssh_command(tmp_path, ssh_git.known_hosts, ssh_git.client.private_key)
    done = git(["clone", "-q", ssh_git.url(name), "out"], tmp_path, GIT_SSH_COMMAND=command)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "README.md").read_text() == "hello\n"
    assert git(["rev-parse", "HEAD"], tmp_path / "out").stdout.strip() == sha


def test_ssh_clone_with_a_wrong_host_key_fails(
    ssh_git: SshGitServer, git_repos: GitRepos, unique_repo: Callable[[str], str], tmp_path: Path
) -> None:
    name, _ = populated(git_repos, unique_repo)
    impostor = f"[127.0.0.1]:{ssh_git.port} {generate_keypair().public_key}\n"
    command = ssh_command(tmp_path, impostor, ssh_git.client.private_key)
    done = git(["clone", "-q", ssh_git.url(name), "out"], tmp_path, GIT_SSH_COMMAND=command)
    assert done.returncode != 0
    assert "Host key verification failed" in done.stderr
    assert not (tmp_path / "out").exists()


def test_ssh_rejects_a_key_it_does_not_know(
    ssh_git: SshGitServer, git_repos: GitRepos, unique_repo: Callable[[str], str], tmp_path: Path
) -> None:
    name, _ = populated(git_repos, unique_repo)
    command = ssh_command(tmp_path, ssh_git.known_hosts, generate_keypair().private_key)
    done = git(["ls-remote", ssh_git.url(name)], tmp_path, GIT_SSH_COMMAND=command)
    assert done.returncode != 0
    assert "Permission denied (publickey)" in done.stderr


def test_http_clone_with_the_right_password_works_and_pushes_are_accepted(
    http_git: GitHttpServer, git_repos: GitRepos, unique_repo: Callable[[str], str], tmp_path: Path
) -> None:
    name, sha = populated(git_repos, unique_repo)
    url = http_git.url(name).replace("://", f"://{http_git.username}:{http_git.password}@")
    done = git(["clone", "-q", url, "out"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert git(["rev-parse", "HEAD"], tmp_path / "out").stdout.strip() == sha

    (tmp_path / "out" / "new.txt").write_text("pushed over http\n")
    git(["add", "new.txt"], tmp_path / "out")
    git(["commit", "-q", "-m", "over http"], tmp_path / "out")
    pushed = git(["push", "-q", "origin", "HEAD:main"], tmp_path / "out")
    assert pushed.returncode == 0, pushed.stderr
    head = git(["rev-parse", "HEAD"], tmp_path / "out").stdout.strip()
    served = git(["rev-parse", "main"], git_repos.path(name)).stdout.strip()
    assert served == head != sha


def test_http_with_a_wrong_password_gets_401(
    http_git: GitHttpServer, git_repos: GitRepos, unique_repo: Callable[[str], str], tmp_path: Path
) -> None:
    name, _ = populated(git_repos, unique_repo)
    url = http_git.url(name).replace("://", f"://{http_git.username}:not-the-password@")
    done = git(["clone", "-q", url, "out"], tmp_path)
    assert done.returncode != 0
    assert "Authentication failed" in done.stderr

    request = urllib.request.Request(f"{http_git.url(name)}/info/refs?service=git-upload-pack")
    wrong = base64.b64encode(f"{http_git.username}:nope".encode()).decode()
    request.add_header("Authorization", f"Basic {wrong}")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=10)
    assert err.value.code == 401
    assert err.value.headers["WWW-Authenticate"].startswith("Basic ")


def test_http_accepts_the_bearer_token_and_gzip_bodies(
    http_git: GitHttpServer, git_repos: GitRepos, unique_repo: Callable[[str], str]
) -> None:
    name, sha = populated(git_repos, unique_repo)
    # A protocol v0 fetch request for the commit, gzip-compressed: git must inflate it.
    want = f"want {sha}\n"
    body = f"{len(want) + 4:04x}{want}00000009done\n".encode()
    request = urllib.request.Request(
        f"{http_git.url(name)}/git-upload-pack",
        data=gzip.compress(body),
        method="POST",
        headers={
            "Authorization": f"Bearer {http_git.bearer_token}",
            "Content-Type": "application/x-git-upload-pack-request",
            "Content-Encoding": "gzip",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        payload = response.read()
    assert response.status == 200
    assert b"NAK" in payload
    assert b"PACK" in payload


def test_servers_run_on_loopback(ssh_git: SshGitServer, http_git: GitHttpServer) -> None:
    assert ssh_git.url("x").startswith(f"ssh://{ssh_git.user}@127.0.0.1:")
    assert http_git.url("x").startswith("http://127.0.0.1:")
    assert ssh_git.known_hosts.startswith(f"[127.0.0.1]:{ssh_git.port} ssh-ed25519 ")
    assert os.path.isabs(ssh_git.url("x").split(str(ssh_git.port), 1)[1])
