"""Real git servers (sshd, git http-backend) for the source tests, one of each per session."""

from __future__ import annotations

from tests.gitserver.fixtures import (
    git_repos,
    http_git,
    https_git,
    mtls_git,
    ssh_git,
    unique_repo,
)

__all__ = ["git_repos", "http_git", "https_git", "mtls_git", "ssh_git", "unique_repo"]
