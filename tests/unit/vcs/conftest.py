"""Real git servers for the vcs tests (one per session)."""

from __future__ import annotations

from tests.gitserver.fixtures import git_repos, http_git, unique_repo

__all__ = ["git_repos", "http_git", "unique_repo"]
