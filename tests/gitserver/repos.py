"""Bare repositories for the test servers, and work trees that push commits to them.

Everything goes through the `git` program with an environment of its own (no system or
user configuration, a fixed author), so what the servers hold is what real git made.

    repos = GitRepos(root)
    repos.create("app")                      # root/app.git, default branch main
    with repos.worktree("app") as wt:        # a clone that pushes back over the file system
        wt.write({"deploy/app.yaml": "kind: ConfigMap\n"})
        sha = wt.commit("first")
        wt.tag("v1.0.0", annotated=True)
        wt.push()                            # the current branch and every tag
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

AUTHOR = {
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.test",
    "GIT_COMMITTER_NAME": "Test Author",
    "GIT_COMMITTER_EMAIL": "author@example.test",
}


def git_env(home: Path) -> dict[str, str]:
    """An environment for the git program that reads no configuration but its own."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
        "LC_ALL": "C",
        **AUTHOR,
    }


def run_git(args: Sequence[str], cwd: Path, env: Mapping[str, str]) -> str:
    """Run git; on failure raise with its output (tests read the reason, not a bare code)."""
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=dict(env), capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


class GitRepos:
    """Bare repositories under one root directory, named `<name>.git`."""

    def __init__(self, root: Path):
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self._home = Path(tempfile.mkdtemp(prefix="gitrepos-home-"))
        self.env = git_env(self._home)

    def path(self, name: str) -> Path:
        return self.root / f"{name}.git"

    def create(self, name: str, default_branch: str = "main") -> Path:
        """A new empty bare repository whose HEAD names `default_branch`.

        Like the big hosts, it serves any commit reachable from a ref when asked for it
        by id (`uploadpack.allowReachableSHA1InWant`), and accepts pushes over HTTP.
        """
        path = self.path(name)
        run_git(
            ["init", "-q", "--bare", f"--initial-branch={default_branch}", str(path)],
            self.root,
            self.env,
        )
        for key, value in (
            ("uploadpack.allowReachableSHA1InWant", "true"),
            ("http.receivepack", "true"),
        ):
            run_git(["config", key, value], path, self.env)
        return path

    def set_default_branch(self, name: str, branch: str) -> None:
        run_git(["symbolic-ref", "HEAD", f"refs/heads/{branch}"], self.path(name), self.env)

    def worktree(self, name: str, branch: str | None = None) -> WorkTree:
        """A fresh clone of repository `name` (checked out at `branch` if it exists)."""
        return WorkTree(self.path(name), self.env, branch)

    def cleanup(self) -> None:
        shutil.rmtree(self._home, ignore_errors=True)


class WorkTree:
    """A non-bare clone that writes files, commits, tags, and pushes to its origin."""

    def __init__(self, origin: Path, env: Mapping[str, str], branch: str | None = None):
        self.origin = origin
        self.env = dict(env)
        self._tmp = Path(tempfile.mkdtemp(prefix="worktree-"))
        self.path = self._tmp / "work"
        run_git(["clone", "-q", str(origin), str(self.path)], self._tmp, self.env)
        if branch is not None:
            self.checkout(branch)

    def __enter__(self) -> WorkTree:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        shutil.rmtree(self._tmp, ignore_errors=True)

    def git(self, *args: str) -> str:
        return run_git(
            ["-c", "protocol.file.allow=always", "-c", "commit.gpgsign=false", *args],
            self.path,
            self.env,
        )

    @property
    def branch(self) -> str:
        return self.git("symbolic-ref", "--short", "HEAD").strip()

    def checkout(self, branch: str) -> None:
        """Switch to `branch`: the remote's if it has one, else a new one from here."""
        remote = self.git("ls-remote", "--heads", "origin", f"refs/heads/{branch}").strip()
        if remote:
            self.git("fetch", "-q", "origin", branch)
            self.git("checkout", "-q", "-B", branch, "FETCH_HEAD")
        else:
            self.git("checkout", "-q", "-B", branch)

    def write(self, files: Mapping[str, str | bytes]) -> None:
        for rel, content in files.items():
            target = self.path / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content)
            self.git("add", "--", rel)

    def delete(self, *paths: str) -> None:
        self.git("rm", "-r", "-q", "--", *paths)

    def commit(self, message: str) -> str:
        """Commit what is staged (an empty commit if nothing is); returns the commit id."""
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.head()

    def head(self) -> str:
        return self.git("rev-parse", "HEAD").strip()

    def tag(self, name: str, annotated: bool = False, ref: str = "HEAD") -> None:
        if annotated:
            self.git("tag", "-a", "-m", f"release {name}", name, ref)
        else:
            self.git("tag", name, ref)

    def add_submodule(self, url: str, path: str) -> None:
        """Add a submodule (a relative `url` like ../lib.git is resolved against origin)."""
        self.git("submodule", "add", "-q", url, path)

    def update_submodule(self, path: str) -> str:
        """Move submodule `path` to its remote's latest default-branch commit; stages it."""
        self.git("submodule", "update", "-q", "--remote", "--", path)
        self.git("add", "--", path)
        return run_git(["rev-parse", "HEAD"], self.path / path, self.env).strip()

    def push(self, branch: str | None = None, tags: bool = True, force: bool = False) -> None:
        """Push the current (or the given) branch, and every tag unless `tags` is False."""
        args = ["push", "-q", "origin", f"HEAD:refs/heads/{branch or self.branch}"]
        if force:
            args.insert(2, "--force")
        self.git(*args)
        if tags:
            self.git("push", "-q", "--tags", *(["--force"] if force else []), "origin")

    def delete_remote(self, ref: str) -> None:
        """Delete a branch or tag (full ref name) on the origin."""
        self.git("push", "-q", "origin", f":{ref}")
