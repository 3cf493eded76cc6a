"""A working clone against a real git HTTP server: starting a branch in an empty
repository, committing, pushing, and nothing to commit the second time (how `kidp
bootstrap git` writes its manifests); and checking out a push branch (how image
automation works)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from kidp_gitops.vcs import gitenv
from kidp_gitops.vcs.worktree import WorkingClone
from tests.gitserver import GitHttpServer, GitRepos


async def test_open_branch_commit_push_then_nothing_to_commit(
    http_git: GitHttpServer, unique_repo: Callable[[str], str], tmp_path: Path
) -> None:
    url = http_git.url(unique_repo("worktree"))
    auth = gitenv.Auth(username="flux", password=http_git.password)

    async def write(text: str) -> tuple[bool, str | None, str]:
        async with WorkingClone(url, auth, gitenv.Deadline.after(60), tmp_path) as clone:
            existed = await clone.open_branch("main")
            (clone.path / "clusters").mkdir(exist_ok=True)
            (clone.path / "clusters" / "sync.yaml").write_text(text)
            sha = await clone.commit("kidp", "kidp@localhost", "Add sync manifests")
            if sha:
                await clone.push("main", {})
            return existed, sha, await clone.head()

    existed, first, head = await write("a: 1\n")
    assert (existed, first) == (False, head)
    existed, second, head = await write("a: 1\n")
    assert (existed, second, head) == (True, None, first)
    existed, third, head = await write("a: 2\n")
    assert existed
    assert third == head != first
    assert not any(tmp_path.iterdir())  # noqa: ASYNC240 (each working copy is removed on exit)


async def test_checkout_starts_the_push_branch_from_the_checkout(
    http_git: GitHttpServer,
    git_repos: GitRepos,
    unique_repo: Callable[[str], str],
    tmp_path: Path,
) -> None:
    name = unique_repo("automation")
    with git_repos.worktree(name) as wt:
        wt.write({"app.yaml": "image: app:1.0.0\n"})
        base = wt.commit("first")
        wt.push()
    auth = gitenv.Auth(username="flux", password=http_git.password)
    async with WorkingClone(http_git.url(name), auth, gitenv.Deadline.after(60), tmp_path) as clone:
        assert await clone.checkout("main", push_branch="production") == "production"
        assert await clone.head() == base
        (clone.path / "app.yaml").write_text("image: app:1.1.0\n")
        sha = await clone.commit("bot", "bot@localhost", "Update app to 1.1.0")
        await clone.push("production", {})
    with git_repos.worktree(name, "production") as wt:
        assert wt.head() == sha
